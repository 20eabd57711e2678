"""Django admin for teams, labels and canned responses, each listed with its
business; a team's members must belong to the team's business."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from billing.admin_scope import BusinessScopedAdmin
from workspace.models import CannedResponse, Label, Team


class TeamAdminForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["business", "name", "description", "members"]

    def clean(self) -> dict:
        cleaned = super().clean()
        business = cleaned.get("business")
        members = cleaned.get("members")
        if business is not None and members is not None:
            foreign = [
                member for member in members if member.business_id != business.pk
            ]
            if foreign:
                self.add_error(
                    "members",
                    "Only members of the team's business: "
                    + ", ".join(str(member.user) for member in foreign),
                )
        return cleaned


@admin.register(Team)
class TeamAdmin(BusinessScopedAdmin):
    form = TeamAdminForm
    list_display = ["name", "business", "created_at"]
    list_filter = ["business"]
    search_fields = ["name", "business__name"]
    autocomplete_fields = ["business", "members"]
    list_select_related = ["business"]


@admin.register(Label)
class LabelAdmin(BusinessScopedAdmin):
    list_display = ["name", "color", "business", "created_at"]
    list_filter = ["business"]
    search_fields = ["name", "business__name"]
    autocomplete_fields = ["business"]
    list_select_related = ["business"]


@admin.register(CannedResponse)
class CannedResponseAdmin(BusinessScopedAdmin):
    list_display = ["short_code", "business", "created_by", "created_at"]
    list_filter = ["business"]
    search_fields = ["short_code", "content", "business__name"]
    autocomplete_fields = ["business", "created_by"]
    list_select_related = ["business", "created_by__user"]

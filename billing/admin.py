from django import forms
from django.contrib import admin, messages

from billing.models import ApiToken, Business, Member
from billing.services import api_token_revoke
from conversations.services.snooze import validate_time_zone


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "max_open_conversations"]


class BusinessAdminForm(forms.ModelForm):
    """A business; `time_zone` must be an IANA name (zoneinfo)."""

    class Meta:
        model = Business
        fields = ["name", "plan", "time_zone"]

    def clean_time_zone(self) -> str:
        value = self.cleaned_data["time_zone"].strip()
        validate_time_zone(value)
        return value


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    form = BusinessAdminForm
    list_display = ["name", "plan", "time_zone", "id", "created_at"]
    list_filter = ["plan"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "created_at"]
    inlines = [MemberInline]


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["user", "business", "role", "max_open_conversations", "created_at"]
    readonly_fields = ["last_assigned_at"]
    list_filter = ["role", "business"]
    search_fields = ["user__username", "user__email", "business__name"]
    autocomplete_fields = ["user", "business"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are listed by prefix only; the digest and clear token never show."""

    list_display = [
        "prefix",
        "name",
        "member",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "member__user__username"]
    fields = ["member", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["member", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_tokens"]

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset) -> None:
        """Revoke each selected token (already revoked ones are left as they are)."""
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token)
            revoked += 1
        self.message_user(
            request, f"Revoked {revoked} token(s).", level=messages.SUCCESS
        )

    def has_add_permission(self, request) -> bool:
        # A clear token is shown once at creation; use `create_business` or
        # `POST /api/v1/tokens/`, which show it.
        return False

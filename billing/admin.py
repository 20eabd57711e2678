from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction

from billing.admin_scope import (
    CHANGE,
    DELETE,
    VIEW,
    BusinessScopedAdmin,
    BusinessScopedInline,
    OperatorOnlyAdmin,
    member_of,
)
from billing.models import ApiToken, Business, Invitation, Member
from billing.services import api_token_revoke, member_invite_resend
from conversations.services.snooze import validate_time_zone
from pingback.errors import ApplicationError


class MemberInline(BusinessScopedInline, admin.TabularInline):
    # Listed here; a business admin changes members on the Members page,
    # which keeps them from demoting or removing themselves.
    role_permissions = frozenset({VIEW})
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
class BusinessAdmin(BusinessScopedAdmin):
    # A business admin edits their business's settings; the plan is the
    # operator's.
    role_permissions = frozenset({VIEW, CHANGE})
    role_readonly_fields = ("plan",)
    form = BusinessAdminForm
    list_display = ["name", "plan", "time_zone", "id", "created_at"]
    list_filter = ["plan"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "created_at"]
    inlines = [MemberInline]

    def save_model(self, request, obj, form, change) -> None:
        """A change saves only the fields the form changed, never
        `hours_version` as it was loaded (a change of business hours
        meanwhile may have raised it); a new time zone raises it, as
        `billing.services.business_settings_update` does, in the same
        transaction."""
        if not change:
            super().save_model(request, obj, form, change)
            return
        from reports.services import hours_version_bump

        with transaction.atomic():
            obj.save(update_fields=form.changed_data)
            if "time_zone" in form.changed_data:
                hours_version_bump(obj)


@admin.register(Member)
class MemberAdmin(BusinessScopedAdmin):
    role_permissions = frozenset({VIEW, CHANGE, DELETE})
    role_readonly_fields = ("user", "business")
    ordering = ["business__name", "user__username"]
    list_display = ["user", "business", "role", "max_open_conversations", "created_at"]
    readonly_fields = ["last_assigned_at"]
    list_filter = ["role", "business"]
    search_fields = ["user__username", "user__email", "business__name"]
    autocomplete_fields = ["user", "business"]

    # Members are created with their user (`create_business`, the demo), not
    # here: a business admin changes their role and limit, or removes them,
    # but not their own role nor themselves (the business keeps an admin).

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if _is_self(request, obj) and "role" not in fields:
            fields.append("role")
        return fields

    def has_delete_permission(self, request, obj=None) -> bool:
        if _is_self(request, obj):
            return False
        return super().has_delete_permission(request, obj)


def _is_self(request, member: Member | None) -> bool:
    """A business admin's own membership (the operator may change anyone)."""
    return (
        member is not None
        and member.user_id == request.user.pk
        and not request.user.is_superuser
    )


@admin.register(ApiToken)
class ApiTokenAdmin(BusinessScopedAdmin):
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
    role_permissions = frozenset({VIEW, CHANGE})

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


@admin.register(Invitation)
class InvitationAdmin(BusinessScopedAdmin):
    """The invitations sent to members (Settings → Members sends them, with
    the e-mail): who was invited, by whom, until when, and whether the link
    was used. Only the token's digest is stored, and it never shows; "Send a
    new invitation" e-mails a new link (`member_invite_resend`), which makes
    the older ones stop working."""

    list_display = ["member", "invited_by", "created_at", "expires_at", "used_at"]
    list_filter = [("used_at", admin.EmptyFieldListFilter)]
    search_fields = ["member__user__username", "member__user__email"]
    fields = ["member", "invited_by", "created_at", "expires_at", "used_at"]
    readonly_fields = fields
    ordering = ["-created_at"]
    actions = ["send_again"]
    role_permissions = frozenset({VIEW, CHANGE})

    @admin.action(description="Send a new invitation", permissions=["change"])
    def send_again(self, request, queryset) -> None:
        """E-mail each selected invitation's member a new link (members who
        have set their password already are reported, not invited)."""
        by = member_of(request.user)
        members = {
            invitation.member for invitation in queryset.select_related("member")
        }
        for member in members:
            try:
                member_invite_resend(member=member, by=by)
            except (ApplicationError, OSError) as error:
                self.message_user(request, f"{member.user}: {error}", messages.WARNING)
            else:
                self.message_user(request, f"{member.user}: a new link was sent.")

    def has_add_permission(self, request) -> bool:
        # Inviting stores the member and e-mails the link: Settings → Members
        # (or POST /api/v1/members/) does it.
        return False


# Users and groups are the operator's: a business admin sees their members
# through `Member`, never the user table (whose form sets superuser rights).
admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class OperatorUserAdmin(OperatorOnlyAdmin, UserAdmin):
    pass


@admin.register(Group)
class OperatorGroupAdmin(OperatorOnlyAdmin, GroupAdmin):
    pass

"""Settings pages for members, API tokens and the plan, and the invitation
link (`billing.settings_views`)."""

from django.urls import path

from billing import settings_views as views

urlpatterns = [
    path("settings/members/", views.members, name="settings-members"),
    path(
        "settings/members/<int:member_id>/role/",
        views.member_role,
        name="settings-member-role",
    ),
    path(
        "settings/members/<int:member_id>/resend/",
        views.member_resend,
        name="settings-member-resend",
    ),
    path(
        "settings/members/<int:member_id>/deactivate/",
        views.member_deactivate,
        name="settings-member-deactivate",
    ),
    path(
        "settings/members/<int:member_id>/reactivate/",
        views.member_reactivate,
        name="settings-member-reactivate",
    ),
    path("settings/tokens/", views.tokens, name="settings-tokens"),
    path(
        "settings/tokens/<int:token_id>/revoke/",
        views.token_revoke,
        name="settings-token-revoke",
    ),
    path("settings/plan/", views.plan, name="settings-plan"),
    # Before the link's pattern, which would take "accept" for a token.
    path("invitations/accept/", views.invitation_accept, name="invitation-accept"),
    path("invitations/<str:token>/", views.invitation_link, name="invitation-link"),
]

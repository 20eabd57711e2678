"""Settings pages for a business's general settings, canned responses,
labels and teams (`workspace.settings_views`)."""

from django.urls import path

from workspace import settings_views as views

KIND_PATHS = {
    "canned-responses": ("canned_responses", "canned-response"),
    "labels": ("labels", "label"),
    "teams": ("teams", "team"),
}

urlpatterns = [
    path(
        "settings/canned-responses/",
        views.canned_responses,
        name="settings-canned-responses",
    ),
    path("settings/labels/", views.labels, name="settings-labels"),
    path("settings/teams/", views.teams, name="settings-teams"),
    path("settings/business/", views.business_settings, name="settings-business"),
]

for segment, (kind, name) in KIND_PATHS.items():
    urlpatterns += [
        path(
            f"settings/{segment}/new/",
            views.settings_new,
            {"kind": kind},
            name=f"settings-{name}-new",
        ),
        path(
            f"settings/{segment}/<int:row_id>/",
            views.settings_edit,
            {"kind": kind},
            name=f"settings-{name}-edit",
        ),
        path(
            f"settings/{segment}/<int:row_id>/delete/",
            views.settings_delete,
            {"kind": kind},
            name=f"settings-{name}-delete",
        ),
    ]

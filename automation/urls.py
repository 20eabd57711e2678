"""Settings → Automation pages (`automation.settings_views`)."""

from django.urls import path

from automation import settings_views as views

urlpatterns = [
    path("settings/automation/", views.rule_list, name="settings-automation"),
    path("settings/automation/new/", views.rule_new, name="settings-automation-new"),
    path(
        "settings/automation/<int:rule_id>/",
        views.rule_edit,
        name="settings-automation-edit",
    ),
    path(
        "settings/automation/<int:rule_id>/move/",
        views.rule_move,
        name="settings-automation-move",
    ),
    path(
        "settings/automation/<int:rule_id>/toggle/",
        views.rule_toggle,
        name="settings-automation-toggle",
    ),
    path(
        "settings/automation/<int:rule_id>/delete/",
        views.rule_delete,
        name="settings-automation-delete",
    ),
]

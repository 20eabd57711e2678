"""Settings → Webhooks pages (`webhooks.settings_views`)."""

from django.urls import path

from webhooks import settings_views as views

urlpatterns = [
    path("settings/webhooks/", views.webhook_list, name="settings-webhooks"),
    path("settings/webhooks/new/", views.webhook_new, name="settings-webhook-new"),
    path(
        "settings/webhooks/<int:endpoint_id>/",
        views.webhook_edit,
        name="settings-webhook-edit",
    ),
    path(
        "settings/webhooks/<int:endpoint_id>/rotate/",
        views.webhook_rotate,
        name="settings-webhook-rotate",
    ),
    path(
        "settings/webhooks/<int:endpoint_id>/events/<int:event_id>/redeliver/",
        views.webhook_redeliver,
        name="settings-webhook-redeliver",
    ),
    path(
        "settings/webhooks/<int:endpoint_id>/delete/",
        views.webhook_delete,
        name="settings-webhook-delete",
    ),
]

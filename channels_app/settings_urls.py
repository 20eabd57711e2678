"""Channel settings pages (`channels_app.settings_views`), under /settings/channels/."""

from django.urls import path

from channels_app import settings_views as views

urlpatterns = [
    path("settings/channels/", views.channel_list, name="settings-channels"),
    path("settings/channels/new/", views.channel_new, name="settings-channel-new"),
    path(
        "settings/channels/new/<str:channel_type>/",
        views.channel_add,
        name="settings-channel-add",
    ),
    path(
        "settings/channels/<uuid:channel_id>/",
        views.channel_detail,
        name="settings-channel",
    ),
    path(
        "settings/channels/<uuid:channel_id>/edit/",
        views.channel_edit,
        name="settings-channel-edit",
    ),
    path(
        "settings/channels/<uuid:channel_id>/setup/",
        views.channel_setup_again,
        name="settings-channel-setup",
    ),
    path(
        "settings/channels/<uuid:channel_id>/active/",
        views.channel_active,
        name="settings-channel-active",
    ),
    path(
        "settings/channels/<uuid:channel_id>/delete/",
        views.channel_delete_view,
        name="settings-channel-delete",
    ),
]

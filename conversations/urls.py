from django.urls import include, path

from conversations import live_views, search_views, settings_views, views

urlpatterns = [
    path("attachments/<str:token>", views.attachment, name="attachment"),
    path("remote-images/<str:token>", views.remote_image, name="remote-image"),
    path("", views.inbox, name="inbox"),
    path("inbox/list/", views.inbox_list, name="inbox-list"),
    path("inbox/counts/", views.inbox_counts, name="inbox-counts"),
    path("inbox/search/", search_views.inbox_search, name="inbox-search"),
    path(
        "conversations/<int:conversation_id>/pane/",
        views.conversation_pane,
        name="conversation-pane",
    ),
    path(
        "conversations/<int:conversation_id>/panel/",
        views.conversation_panel,
        name="conversation-panel",
    ),
    path(
        "conversations/<int:conversation_id>/snooze/",
        views.conversation_snooze,
        name="conversation-snooze",
    ),
    path("", include("conversations.reply_urls")),
    path(
        "conversations/<int:conversation_id>/",
        views.conversation_detail,
        name="conversation",
    ),
    path(
        "conversations/<int:conversation_id>/messages/",
        views.conversation_status,
        name="conversation-messages",
    ),
    path(
        "conversations/<int:conversation_id>/reply/",
        views.conversation_reply,
        name="conversation-reply",
    ),
    path(
        "conversations/<int:conversation_id>/messages/<int:message_id>/retry/",
        views.message_retry_view,
        name="message-retry",
    ),
    path(
        "conversations/<int:conversation_id>/messages/<int:message_id>/react/",
        views.message_react_view,
        name="message-react",
    ),
    path(
        "conversations/<int:conversation_id>/messages/<int:message_id>/mark-sent/",
        views.message_mark_sent_view,
        name="message-mark-sent",
    ),
    path(
        "conversations/<int:conversation_id>/row/",
        live_views.conversation_row,
        name="conversation-row",
    ),
    path(
        "conversations/<int:conversation_id>/read/",
        live_views.conversation_read,
        name="conversation-read",
    ),
    path("", include("conversations.preferences_urls")),
    path("settings/widgets/", settings_views.widget_settings, name="widget-settings"),
    path(
        "settings/deliveries/",
        settings_views.delivery_problems,
        name="delivery-problems",
    ),
    path(
        "settings/widgets/<str:channel_id>/",
        settings_views.widget_settings_edit,
        name="widget-settings-edit",
    ),
]

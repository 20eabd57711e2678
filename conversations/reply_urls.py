"""URL patterns of the reply box's page endpoints (`conversations.reply_views`),
included at the site root: `path("", include("conversations.reply_urls"))`."""

from django.urls import path

from conversations import reply_views

urlpatterns = [
    path(
        "conversations/<int:conversation_id>/send/",
        reply_views.reply_send,
        name="conversation-send",
    ),
    path(
        "conversations/<int:conversation_id>/canned-responses/",
        reply_views.canned_responses,
        name="conversation-canned-responses",
    ),
]

from django.urls import path

from conversations import views

urlpatterns = [
    path("attachments/<str:token>", views.attachment, name="attachment"),
    path("", views.inbox, name="inbox"),
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
        "conversations/<int:conversation_id>/status/",
        views.conversation_set_status,
        name="conversation-status",
    ),
]

"""Inbox reads, shared by the REST API and the inbox pages. Each takes the
business first and returns a queryset with the joins its callers need."""

from __future__ import annotations

from django.db.models import QuerySet

from billing.models import Business
from conversations.models import Conversation, Message


def inbox_conversation_list(
    business: Business,
    *,
    channel_type: str | None = None,
    status: str | None = None,
    assignee_id: int | None = None,
) -> QuerySet[Conversation]:
    """The business's conversations, newest activity first (`-last_message_at`,
    `-id`), optionally filtered; contact, identity, channel and assignee joined."""
    conversations = Conversation.objects.filter(business=business).select_related(
        "contact", "contact_identity", "channel", "assignee"
    )
    if channel_type:
        conversations = conversations.filter(channel_type=channel_type)
    if status:
        conversations = conversations.filter(status=status)
    if assignee_id:
        conversations = conversations.filter(assignee_id=assignee_id)
    return conversations.order_by("-last_message_at", "-id")


def conversation_get(business: Business, conversation_id: int) -> Conversation:
    """One of the business's conversations; raises `Conversation.DoesNotExist`
    for an unknown id or another business's conversation."""
    return (
        Conversation.objects.select_related(
            "contact", "contact_identity", "channel", "assignee"
        )
        .filter(business=business)
        .get(pk=conversation_id)
    )


def conversation_message_list(conversation: Conversation) -> QuerySet[Message]:
    """A conversation's messages, oldest first, with the agent who wrote each."""
    return (
        Message.objects.filter(conversation=conversation)
        .select_related("author")
        .order_by("id")
    )

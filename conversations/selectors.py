"""Inbox reads, shared by the REST API and the inbox pages. Each takes the
business first and returns a queryset with the joins its callers need."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

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
    `-id`), optionally filtered; contact, identity and assignee joined.

    The channel is not joined: list rows show `channel_type` (kept on the
    conversation) and `channel_id`, and loading each row's channel would
    decrypt its credentials once per row."""
    conversations = Conversation.objects.filter(business=business).select_related(
        "contact", "contact_identity", "assignee"
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


def conversation_thread(conversation: Conversation) -> QuerySet[Message]:
    """The thread as the agent's page shows it: `conversation_message_list`
    with each message's delivery attempts (one more query in all)."""
    return conversation_message_list(conversation).prefetch_related("delivery_attempts")


CUSTOMER_WINDOW = timedelta(hours=24)


def conversation_window_closed_at(conversation: Conversation) -> datetime | None:
    """When the 24-hour customer service window closed (WhatsApp: free-form
    messages only within 24 h of the customer's last message), or None while it
    is open. A conversation with no inbound message counts as closed since it
    started."""
    last_inbound = (
        Message.objects.filter(
            conversation=conversation, direction=Message.Direction.INBOUND
        )
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )
    closes_at = (
        (last_inbound + CUSTOMER_WINDOW) if last_inbound else conversation.created_at
    )
    return closes_at if closes_at <= timezone.now() else None


def delivery_problem_list(
    business: Business, *, stuck_after: timedelta, limit: int = 200
) -> QuerySet[Message]:
    """The business's replies an admin should look at, newest first, at most
    `limit`: `failed` and `uncertain` ones, and `queued` or `sending` ones
    older than `stuck_after` (a channel paused for long, or workers down).
    Each with its conversation's contact, channel and author."""
    stuck_before = timezone.now() - stuck_after
    problems = Q(status__in=[Message.Status.FAILED, Message.Status.UNCERTAIN]) | Q(
        status__in=[Message.Status.QUEUED, Message.Status.SENDING],
        created_at__lt=stuck_before,
    )
    return (
        Message.objects.filter(
            problems,
            conversation__business=business,
            direction=Message.Direction.OUTBOUND,
        )
        .select_related("conversation__contact", "channel", "author")
        .order_by("-id")[:limit]
    )

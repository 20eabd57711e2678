"""Writes of the reports' own records (`ConversationEvent`), called by the
conversations services as conversations change (docs/reports.md)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from conversations.models import Conversation, Message
from reports.models import ConversationEvent

RESOLVED = Conversation.Status.RESOLVED


def first_response_record(message: Message) -> None:
    """Record `message` as its conversation's first response when it is an
    agent's reply (outbound, with an author, not a note or activity entry)
    and the conversation has none yet: one INSERT that a second reply's
    conflict turns into nothing."""
    if (
        message.direction != Message.Direction.OUTBOUND
        or message.author_id is None
        or message.kind in Message.PRIVATE_KINDS
    ):
        return
    conversation = message.conversation
    ConversationEvent.objects.bulk_create(
        [
            ConversationEvent(
                business_id=conversation.business_id,
                conversation_id=conversation.pk,
                kind=ConversationEvent.Kind.FIRST_RESPONSE,
                at=message.sent_at,
                opened_at=conversation.created_at,
            )
        ],
        ignore_conflicts=True,
    )


def status_changes_record(
    conversations: Iterable[Conversation], status: str | None
) -> None:
    """Record, for each of `conversations` (their `status` as it was before
    the change) moving to `status`, a `resolved` event when it becomes
    resolved and a `reopened` event when it leaves resolved; nothing for
    other moves or when `status` is None. One INSERT at most."""
    if status is None:
        return
    now = timezone.now()
    events = []
    for conversation in conversations:
        if conversation.status == status:
            continue
        if status == RESOLVED:
            kind = ConversationEvent.Kind.RESOLVED
        elif conversation.status == RESOLVED:
            kind = ConversationEvent.Kind.REOPENED
        else:
            continue
        events.append(
            ConversationEvent(
                business_id=conversation.business_id,
                conversation_id=conversation.pk,
                kind=kind,
                at=now,
                opened_at=conversation.created_at,
            )
        )
    if events:
        ConversationEvent.objects.bulk_create(events)

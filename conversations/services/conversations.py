"""Writes on conversations themselves: status, snooze, assignee, read state.

Every change made here is also recorded in the conversation's thread as an
`activity` message ("Ana resolved this conversation"): stored, never sent,
never shown to the customer (see `Message`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from conversations import realtime
from conversations.models import Conversation, Message
from conversations.services.snooze import business_zone_by_id
from pingback.errors import ApplicationError

logger = logging.getLogger(__name__)

# One answer for an unknown user and another business's member alike, so the
# API never tells them apart.
NO_SUCH_AGENT = "No such agent in this business."
# One answer for a missing id and another business's conversation alike.
NO_SUCH_CONVERSATIONS = "Each id must name a conversation of this business."
SNOOZE_IN_THE_PAST = "A time in the future."
SNOOZE_NEEDS_STATUS = 'Give status "snoozed" with snoozed_until.'
# Most conversations one bulk change may name.
BULK_MAX = 100
# Conversations the snooze wake-up reopens per transaction.
WAKE_BATCH = 500

SYSTEM_ACTOR = "PingBack"


class ConversationsNotFound(ApplicationError):
    """A bulk change named a conversation that is missing or another
    business's: nothing was changed (HTTP 400)."""

    code = "no_such_conversation"


def actor_name(user: AbstractBaseUser | None) -> str:
    """How an agent is named in activity entries: full name, else username;
    `PingBack` for changes PingBack made itself."""
    if user is None:
        return SYSTEM_ACTOR
    return user.get_full_name() or user.get_username()


def snooze_label(until: datetime | None, zone: tzinfo | None = None) -> str:
    """`Tue 9 Dec 09:00 EST` (in `zone`, the business's time zone; in
    `settings.TIME_ZONE` when None), or `the customer answers` for an
    open-ended snooze."""
    if until is None:
        return "the customer answers"
    local = until.astimezone(zone) if zone is not None else timezone.localtime(until)
    return f"{local:%a} {local.day} {local:%b %H:%M %Z}"


def conversation_update(
    *,
    conversation: Conversation,
    by: AbstractBaseUser | None,
    status: str | None = None,
    assignee: AbstractBaseUser | None = None,
    unassign: bool = False,
    snoozed_until: datetime | None = None,
) -> Conversation:
    """Change a conversation's status (`open`, `pending`, `resolved`,
    `snoozed`) and/or its assignee (a member of the same business), as agent
    `by` (None: PingBack itself). `snoozed_until` (aware datetime, in the
    future) goes with status `snoozed`; without it the conversation sleeps
    until the customer writes. Leaving `snoozed` clears `snoozed_until`.

    Each actual change stores an activity entry naming `by`; agents hear of
    the change (and the entry) on commit. Returns the conversation as updated.

    Raises `ApplicationError` (`NO_SUCH_AGENT`) for an assignee outside the
    business, and for a `snoozed_until` in the past or without status
    `snoozed`."""
    _conversations_change(
        [conversation],
        by=by,
        status=status,
        assignee=assignee,
        unassign=unassign,
        snoozed_until=snoozed_until,
    )
    return conversation


def conversations_bulk_update(
    *,
    business_id: object,
    ids: Sequence[int],
    by: AbstractBaseUser | None,
    status: str | None = None,
    assignee: AbstractBaseUser | None = None,
    unassign: bool = False,
    snoozed_until: datetime | None = None,
) -> int:
    """Apply one change (as `conversation_update`) to each of the business's
    conversations `ids` (at most `BULK_MAX`), all or nothing, in one
    transaction and a number of queries that does not grow with `ids`.
    Returns how many conversations were named (duplicates counted once).

    Raises `ConversationsNotFound` when an id is missing or another
    business's (nothing is changed), and what `conversation_update` raises."""
    wanted = set(ids)
    if len(wanted) > BULK_MAX:
        raise ApplicationError(f"At most {BULK_MAX} conversations at once.")
    with transaction.atomic():
        conversations = list(
            Conversation.objects.select_for_update(of=("self",))
            .select_related("assignee")
            .filter(business_id=business_id, pk__in=wanted)
            .order_by("pk")
        )
        if len(conversations) != len(wanted):
            raise ConversationsNotFound(NO_SUCH_CONVERSATIONS)
        _conversations_change(
            conversations,
            by=by,
            status=status,
            assignee=assignee,
            unassign=unassign,
            snoozed_until=snoozed_until,
        )
    logger.info(
        "conversations.bulk_update",
        extra={
            "business_id": str(business_id),
            "conversation_count": len(conversations),
            "user_id": getattr(by, "pk", None),
        },
    )
    return len(conversations)


def conversations_wake_snoozed(*, now: datetime | None = None) -> int:
    """Reopen every conversation whose `snoozed_until` has passed, each exactly
    once however many callers run at the same time: due rows are locked with
    `SKIP LOCKED` and updated only while still snoozed, so a second caller
    neither waits for nor repeats the first one's work. Each gets an activity
    entry; agents hear of it on commit. Returns how many were reopened."""
    now = now or timezone.now()
    woken = 0
    while True:
        with transaction.atomic():
            due = list(
                Conversation.objects.select_for_update(skip_locked=True)
                .filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=now)
                .order_by("snoozed_until", "pk")
                .only("pk", "business_id", "channel_id")[:WAKE_BATCH]
            )
            if not due:
                break
            Conversation.objects.filter(
                pk__in=[c.pk for c in due],
                status=Conversation.Status.SNOOZED,
                snoozed_until__lte=now,
            ).update(status=Conversation.Status.OPEN, snoozed_until=None)
            activities = Message.objects.bulk_create(
                [
                    activity_message(c, "Reopened: the snooze ended", by=None)
                    for c in due
                ]
            )
            realtime.publish_messages_created(activities)
        woken += len(due)
        if len(due) < WAKE_BATCH:
            break
    if woken:
        logger.info("conversations.woken", extra={"conversation_count": woken})
    return woken


def activity_message(
    conversation: Conversation, text: str, *, by: AbstractBaseUser | None
) -> Message:
    """An unsaved activity entry for `conversation`: outbound, status
    `received` (nothing to deliver), authored by `by`."""
    return Message(
        conversation=conversation,
        channel_id=conversation.channel_id,
        direction=Message.Direction.OUTBOUND,
        kind=Message.ACTIVITY,
        text=text,
        author=by,
        status=Message.Status.RECEIVED,
        sent_at=timezone.now(),
    )


def _conversations_change(
    conversations: Sequence[Conversation],
    *,
    by: AbstractBaseUser | None,
    status: str | None,
    assignee: AbstractBaseUser | None,
    unassign: bool,
    snoozed_until: datetime | None,
) -> None:
    """Validate one change, apply it to `conversations` (loaded, of one
    business) in one UPDATE, store an activity entry per actual change in one
    INSERT, and publish."""
    if not conversations:
        return
    business_id = conversations[0].business_id
    if status is not None and status not in Conversation.Status.values:
        raise ApplicationError(f"No such status: {status}.")
    if snoozed_until is not None:
        if status != Conversation.Status.SNOOZED:
            raise ApplicationError(SNOOZE_NEEDS_STATUS)
        if snoozed_until <= timezone.now():
            raise ApplicationError(SNOOZE_IN_THE_PAST)
    values: dict[str, Any] = {}
    if status is not None:
        values["status"] = status
        values["snoozed_until"] = (
            snoozed_until if status == Conversation.Status.SNOOZED else None
        )
    if unassign:
        values["assignee"] = None
    elif assignee is not None:
        member = getattr(assignee, "member", None)
        if member is None or member.business_id != business_id:
            raise ApplicationError(NO_SUCH_AGENT)
        values["assignee"] = assignee
    if not values:
        return
    zone = None
    if values.get("snoozed_until") is not None:
        zone = business_zone_by_id(business_id)
    activities: list[Message] = []
    for conversation in conversations:
        activities += [
            activity_message(conversation, text, by=by)
            for text in _activity_texts(conversation, values, by, zone)
        ]
        for name, value in values.items():
            setattr(conversation, name, value)
    with transaction.atomic():
        Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(
            **values
        )
        created = Message.objects.bulk_create(activities)
        realtime.publish_messages_created(created)
        noted = {message.conversation_id for message in created}
        for conversation in conversations:
            if conversation.pk not in noted:
                realtime.publish_conversation_changed(conversation)


def _activity_texts(
    conversation: Conversation,
    values: dict[str, Any],
    by: AbstractBaseUser | None,
    zone: tzinfo | None = None,
) -> list[str]:
    """What changed, in words, comparing the conversation as loaded with
    `values`."""
    who = actor_name(by)
    texts = []
    if "status" in values:
        status, until = values["status"], values["snoozed_until"]
        if (status, until) != (conversation.status, conversation.snoozed_until):
            if status == Conversation.Status.SNOOZED:
                texts.append(f"Snoozed until {snooze_label(until, zone)} by {who}")
            elif status == Conversation.Status.OPEN:
                texts.append(f"{who} reopened this conversation")
            elif status == Conversation.Status.PENDING:
                texts.append(f"{who} marked this conversation as pending")
            else:
                texts.append(f"{who} resolved this conversation")
    if "assignee" in values:
        new, old = values["assignee"], conversation.assignee
        if new is None and old is not None:
            texts.append(f"{who} unassigned {actor_name(old)}")
        elif new is not None and getattr(old, "pk", None) != new.pk:
            if by is not None and new.pk == by.pk:
                texts.append(f"{who} assigned this conversation to themselves")
            else:
                texts.append(f"{who} assigned this conversation to {actor_name(new)}")
    return texts


def conversation_mark_read(*, conversation: Conversation) -> None:
    """Clear the unread count (an agent opened the conversation)."""
    if conversation.unread_count:
        Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
        conversation.unread_count = 0
        realtime.publish_conversation_changed(conversation)

"""Writes of the reports' own records (`ConversationEvent`), called by the
conversations services as conversations change (docs/reports.md)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC

from django.db import connection
from django.utils import timezone

from billing.models import Business
from conversations.models import Conversation, Message
from conversations.services.snooze import zone_named
from reports.models import ConversationDay, ConversationEvent

RESOLVED = Conversation.Status.RESOLVED


def dimensions_of(conversation: Conversation) -> dict[str, object]:
    """The conversation's channel, assignee and team ids as they are now, the
    fields a report row copies so it is grouped without a join."""
    return {
        "channel_id": conversation.channel_id,
        "assignee_id": conversation.assignee_id,
        "team_id": conversation.team_id,
    }


def seconds_between(opened_at: dt.datetime, at: dt.datetime) -> float:
    """Wall-clock seconds from `opened_at` to `at` (aware datetimes), 0 when
    `at` is earlier: what `ConversationEvent.seconds` stores. Worked out as
    PostgreSQL works out `date_part('epoch', at - opened_at)` (whole days
    times 86,400 plus the rest in microseconds over a million, in that
    order), so a stored value equals, to the last bit, the one reports
    computed before the column existed."""
    delta = at - opened_at
    if delta <= dt.timedelta(0):
        return 0.0
    rest = (delta.seconds * 1_000_000 + delta.microseconds) / 1_000_000.0
    return rest + 86400.0 * delta.days


def reply_recorded(message: Message) -> None:
    """Count an outbound message just stored by `post_reply` (its day's
    messages out) and record it as the first response when it is."""
    messages_counted([message])
    first_response_record(message)


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
                seconds=seconds_between(conversation.created_at, message.sent_at),
                **dimensions_of(conversation),
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
                seconds=seconds_between(conversation.created_at, now),
                **dimensions_of(conversation),
            )
        )
    if events:
        ConversationEvent.objects.bulk_create(events)


UPSERT_BATCH = 120
_COLUMNS = 8
_UPSERT = (
    "INSERT INTO reports_conversationday "
    "(business_id, conversation_id, day, messages_in, messages_out, "
    "channel_id, assignee_id, team_id) "
    "VALUES {values} "
    "ON CONFLICT (conversation_id, day) DO UPDATE SET "
    "messages_in = reports_conversationday.messages_in + excluded.messages_in, "
    "messages_out = reports_conversationday.messages_out + excluded.messages_out, "
    "channel_id = excluded.channel_id, assignee_id = excluded.assignee_id, "
    "team_id = excluded.team_id"
)


def zones_of(conversations: Iterable[Conversation]) -> dict[object, dt.tzinfo]:
    """The time zone of each conversation's business, by business id: from
    the business when the conversation has it loaded, else one query for
    all the others."""
    zones: dict[object, dt.tzinfo] = {}
    missing = set()
    for conversation in conversations:
        if Conversation.business.is_cached(conversation):
            zones[conversation.business_id] = zone_named(
                conversation.business.time_zone
            )
        else:
            missing.add(conversation.business_id)
    missing -= set(zones)
    if missing:
        for pk, name in Business.objects.filter(pk__in=missing).values_list(
            "pk", "time_zone"
        ):
            zones[pk] = zone_named(name)
    return zones


def messages_counted(messages: Sequence[Message]) -> None:
    """Add just-stored `messages` (their conversation loaded) to their
    conversations' `ConversationDay` rows, each on the local day of its
    `sent_at` in its business's time zone (notes and activity entries left
    out), each row with its conversation's channel, assignee and team as
    loaded: one upsert, whatever the number (and one query for the zones
    unless the conversations have their business loaded)."""
    counted = [m for m in messages if m.kind not in Message.PRIVATE_KINDS]
    if not counted:
        return
    zones = zones_of([m.conversation for m in counted])
    dims = {m.conversation_id: m.conversation for m in counted}
    counts: Counter = Counter()
    for message in counted:
        business_id = message.conversation.business_id
        zone = zones.get(business_id, UTC)
        day = message.sent_at.astimezone(zone).date()
        inbound = message.direction == Message.Direction.INBOUND
        counts[business_id, message.conversation_id, day, inbound] += 1
    rows: dict[tuple, list[int]] = {}
    for (business_id, conversation_id, day, inbound), n in counts.items():
        row = rows.setdefault((business_id, conversation_id, day), [0, 0])
        row[0 if inbound else 1] += n
    field = ConversationDay._meta.get_field("business")
    channel = ConversationDay._meta.get_field("channel_id")
    items = list(rows.items())
    # (SQLite takes at most 999 parameters a statement: 8 a row.)
    for start in range(0, len(items), UPSERT_BATCH):
        params: list = []
        for (business_id, conversation_id, day), (n_in, n_out) in items[
            start : start + UPSERT_BATCH
        ]:
            conversation = dims[conversation_id]
            params += [
                field.get_db_prep_value(business_id, connection),
                conversation_id,
                day,
                n_in,
                n_out,
                channel.get_db_prep_value(conversation.channel_id, connection),
                conversation.assignee_id,
                conversation.team_id,
            ]
        row_sql = "(" + ", ".join(["%s"] * _COLUMNS) + ")"
        values = ", ".join([row_sql] * (len(params) // _COLUMNS))
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT.format(values=values), params)

"""Writes of the reports' own records (`ConversationEvent`,
`ConversationDay`), called by the conversations services as conversations
change, and the refresh of the events' business-hours times after the
hours change (docs/reports.md)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from billing.models import Business
from conversations.models import Conversation, Message
from conversations.services.snooze import zone_named
from reports.models import ConversationDay, ConversationEvent
from workspace.hours import WeeklyHours, weekly_hours_of

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


@dataclass(frozen=True)
class HoursNow:
    """A business's hours as they are (None: it has none) and the
    `Business.hours_version` they are at, read in one statement."""

    hours: WeeklyHours | None
    version: int

    def open_seconds(self, opened_at: dt.datetime, at: dt.datetime) -> float | None:
        """Open seconds from `opened_at` to `at` (None without hours): what
        `ConversationEvent.open_seconds` stores."""
        if self.hours is None:
            return None
        return self.hours.open_seconds(opened_at, at)


def hours_now(business_ids: Iterable[object]) -> dict[object, HoursNow]:
    """The `HoursNow` of each business of `business_ids` (a business that
    does not exist is left out). One query: the hours and version of a
    business come from one snapshot, so a version always goes with the
    hours it stands for."""
    found: dict[object, tuple[int, str, list[tuple]]] = {}
    rows = Business.objects.filter(pk__in=set(business_ids)).values_list(
        "pk",
        "hours_version",
        "time_zone",
        "opening_intervals__weekday",
        "opening_intervals__opens",
        "opening_intervals__closes",
    )
    for pk, version, zone, *interval in rows:
        found.setdefault(pk, (version, zone, []))[2].append(interval)
    return {
        pk: HoursNow(hours=weekly_hours_of(zone, intervals), version=version)
        for pk, (version, zone, intervals) in found.items()
    }


_NO_HOURS = HoursNow(hours=None, version=0)


def first_response_record(message: Message) -> None:
    """Record `message` as its conversation's first response when it is an
    agent's reply (outbound, with an author, not a note or activity entry)
    and the conversation has none yet, with its wall-clock and open seconds
    (`hours_now`): one query (an index probe) telling whether the
    conversation was answered already, then, when it was not, one for the
    business's hours and one INSERT that a simultaneous reply's conflict
    turns into nothing."""
    if (
        message.direction != Message.Direction.OUTBOUND
        or message.author_id is None
        or message.kind in Message.PRIVATE_KINDS
    ):
        return
    conversation = message.conversation
    if ConversationEvent.objects.filter(
        conversation_id=conversation.pk, kind=ConversationEvent.Kind.FIRST_RESPONSE
    ).exists():
        return
    now_of = hours_now([conversation.business_id])
    hours = now_of.get(conversation.business_id, _NO_HOURS)
    ConversationEvent.objects.bulk_create(
        [
            ConversationEvent(
                business_id=conversation.business_id,
                conversation_id=conversation.pk,
                kind=ConversationEvent.Kind.FIRST_RESPONSE,
                at=message.sent_at,
                opened_at=conversation.created_at,
                seconds=seconds_between(conversation.created_at, message.sent_at),
                open_seconds=hours.open_seconds(
                    conversation.created_at, message.sent_at
                ),
                hours_version=hours.version,
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
    other moves or when `status` is None. Each event has its wall-clock and
    open seconds (`hours_now`): one query for the hours and one INSERT, and
    neither when nothing is recorded."""
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
    if not events:
        return
    now_of = hours_now(event.business_id for event in events)
    for event in events:
        hours = now_of.get(event.business_id, _NO_HOURS)
        event.open_seconds = hours.open_seconds(event.opened_at, event.at)
        event.hours_version = hours.version
    ConversationEvent.objects.bulk_create(events)


# ------------------------------------------------------ business-hours times

REFRESH_BATCH = 5000
# The next batch of events behind their business's hours version, in the
# order of report_event_hours_idx after the last one (version, id), skipping
# rows another refresh holds and rows outside [lo, hi] (written while the
# refresh runs: the next round takes them with wider arrays), given their
# open seconds under the hours passed as arrays (`reports.selectors.
# open_span_arrays`, with the arithmetic the reports use on the moments,
# `OPEN_SECONDS_SQL`) and stamped with that version. Answers the rows
# updated and the last (version, id) of the batch; no row once none is
# left. (Walking the index from the last key, not from its start, passes
# over the entries the batches before left behind.)
_REFRESH = """
WITH open_hours AS (SELECT %s::float8[] AS starts, %s::float8[] AS lengths,
                           %s::float8[] AS before),
batch AS (
  SELECT id, hours_version FROM reports_conversationevent
  WHERE business_id = %s AND hours_version < %s AND (hours_version, id) > (%s, %s)
    AND opened_at >= %s AND at <= %s
  ORDER BY hours_version, id LIMIT %s FOR UPDATE SKIP LOCKED
),
measured AS (
  SELECT e.id, o.starts, o.lengths, o.before,
         date_part('epoch', e.opened_at) AS a,
         date_part('epoch', e.at) AS b,
         width_bucket(date_part('epoch', e.opened_at), o.starts) AS ka,
         width_bucket(date_part('epoch', e.at), o.starts) AS kb
  FROM reports_conversationevent e JOIN batch ON batch.id = e.id, open_hours o
),
updated AS (
  UPDATE reports_conversationevent AS e
  SET open_seconds = {open_seconds}, hours_version = %s
  FROM measured WHERE e.id = measured.id RETURNING e.id
)
SELECT (SELECT COUNT(*) FROM updated), hours_version, id FROM batch
ORDER BY hours_version DESC, id DESC LIMIT 1
"""
# The same for a business without hours: no open seconds.
_REFRESH_NONE = """
WITH batch AS (
  SELECT id, hours_version FROM reports_conversationevent
  WHERE business_id = %s AND hours_version < %s AND (hours_version, id) > (%s, %s)
  ORDER BY hours_version, id LIMIT %s FOR UPDATE SKIP LOCKED
),
updated AS (
  UPDATE reports_conversationevent AS e SET open_seconds = NULL, hours_version = %s
  FROM batch WHERE e.id = batch.id RETURNING e.id
)
SELECT (SELECT COUNT(*) FROM updated), hours_version, id FROM batch
ORDER BY hours_version DESC, id DESC LIMIT 1
"""


def open_seconds_refresh(business_id: object, *, batch: int = REFRESH_BATCH) -> int:
    """Work out again `open_seconds` of business `business_id`'s events
    whose `hours_version` is behind the business's, under its hours as they
    are now (null without hours), and stamp them with its version: `batch`
    events a statement, each its own transaction. Idempotent: events at the
    current version are left alone; a refresh running at the same time
    takes other rows; a change of hours meanwhile is picked up by the next
    round. Returns the events updated (0 for a business that does not
    exist).

    On PostgreSQL in SQL, with the arithmetic reports use on the two
    moments (`reports.selectors.OPEN_SECONDS_SQL`): the stored value is
    `WeeklyHours.open_seconds` to within a microsecond (epoch seconds as
    double precision). Elsewhere in Python with `WeeklyHours.open_seconds`."""
    from reports.selectors import OPEN_SECONDS_SQL, open_span_arrays

    business_id = Business._meta.pk.to_python(business_id)
    postgres = connection.vendor == "postgresql"
    updated = 0
    while True:
        now_of = hours_now([business_id])
        if business_id not in now_of:
            return updated
        hours, version = now_of[business_id].hours, now_of[business_id].version
        behind = ConversationEvent.objects.filter(
            business_id=business_id, hours_version__lt=version
        )
        bounds = behind.aggregate(lo=Min("opened_at"), hi=Max("at"))
        lo, hi = bounds["lo"], bounds["hi"]
        if lo is None:
            return updated
        done = 0
        if not postgres:
            while count := _refresh_in_python(
                behind.filter(opened_at__gte=lo, at__lte=hi), hours, version, batch
            ):
                done += count
        else:
            if hours is None:
                sql, before, after = _REFRESH_NONE, [business_id, version], []
            else:
                arrays = open_span_arrays(hours, lo, max(lo, hi))
                sql = _REFRESH.format(open_seconds=OPEN_SECONDS_SQL)
                before, after = [*arrays, business_id, version], [lo, hi]
            last: tuple[int, int] = (-1, 0)
            while True:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(sql, [*before, *last, *after, batch, version])
                    found = cursor.fetchone()
                if found is None:
                    break
                done += found[0]
                last = (found[1], found[2])
        updated += done
        if not done:
            # (What is left is held by another refresh, which finishes it.)
            return updated


def _refresh_in_python(behind, hours: WeeklyHours | None, version: int, batch: int):
    """One batch of `open_seconds_refresh` outside PostgreSQL."""
    rows = list(behind.only("pk", "opened_at", "at")[:batch])
    for row in rows:
        row.open_seconds = (
            hours.open_seconds(row.opened_at, row.at) if hours is not None else None
        )
        row.hours_version = version
    ConversationEvent.objects.bulk_update(
        rows, ["open_seconds", "hours_version"], batch_size=500
    )
    return len(rows)


# How long a report's request to refresh a business's open seconds holds
# back the next report's (seconds).
REFRESH_QUEUE_SECONDS = 60


def open_seconds_refresh_queue(business_id: object) -> None:
    """Queue `reports.refresh_open_seconds` for business `business_id`, at
    most once in `REFRESH_QUEUE_SECONDS` (a lock in the cache), so reports
    asked while a refresh runs do not queue one each. Raises what the
    cache or the broker raise when unreachable."""
    from pingback.locks import lock_take
    from reports.tasks import refresh_open_seconds

    if lock_take(f"reports.open_seconds_refresh:{business_id}", REFRESH_QUEUE_SECONDS):
        refresh_open_seconds.delay(str(business_id))


def hours_version_bump(business: Business) -> None:
    """Raise `business.hours_version` by one (the meaning of its hours just
    changed: call it in the transaction of the change) and queue
    `reports.refresh_open_seconds` after the commit. Sets the new version
    on `business`."""
    from django.db.models import F

    Business.objects.filter(pk=business.pk).update(hours_version=F("hours_version") + 1)
    business.hours_version = (
        Business.objects.filter(pk=business.pk)
        .values_list("hours_version", flat=True)
        .get()
    )
    business_id = business.pk
    transaction.on_commit(lambda: _refresh_queue(business_id), robust=True)


def _refresh_queue(business_id: object) -> None:
    from reports.tasks import refresh_open_seconds

    refresh_open_seconds.delay(str(business_id))


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

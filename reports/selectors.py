"""Report figures for one business over a range of its local days
(docs/reports.md gives each figure's exact definition).

`report(business, since, until, group_by)` answers a `Report`: one `Row`
per group (channel, agent, team, label, or each day), each with counts,
response and resolution times (median and 90th percentile, in seconds) and
failed replies by reason. Counts are grouped in SQL; on PostgreSQL so are
the times (over each event's stored wall-clock seconds, or its open seconds
in business hours); elsewhere, or with another `open_seconds(start, end)`
function, they are worked out in Python from the `ConversationEvent` rows
of the range. `day_counts` gives only the day-by-day counts of the chart.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import (
    Count,
    FloatField,
    Min,
    OuterRef,
    Subquery,
    Sum,
    UUIDField,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate

from billing.models import Business
from channels_app.models import Channel
from conversations.models import Conversation, Message
from conversations.services.snooze import zone_named
from reports.models import ConversationDay, ConversationEvent
from workspace.hours import WeeklyHours, weekly_hours_of
from workspace.models import Label, Team

# What a report may be grouped by, and the conversation field each reads
# (None: by the local day of each figure itself).
GROUPS: dict[str, str | None] = {
    "day": None,
    "channel": "channel_id",
    "agent": "assignee_id",
    "team": "team_id",
    "label": "label_links__label_id",
}
# The field of an event or day row holding the group (the conversation's
# channel, assignee and team when the row was written).
ROW_FIELDS = {"channel": "channel_id", "agent": "assignee_id", "team": "team_id"}
# Longest range of days one report covers.
MAX_DAYS = 366
# Reasons of failed replies kept per row (the rest are summed in `other`).
MAX_REASONS = 10
REASON_MAX_LENGTH = 200
NO_REASON = "No reason given"

OpenSeconds = Callable[[dt.datetime, dt.datetime], float]


def wall_seconds(start: dt.datetime, end: dt.datetime) -> float:
    """Seconds from `start` to `end` (aware datetimes), every hour counted;
    0 when `end` is before `start`."""
    return max(0.0, (end - start).total_seconds())


@dataclass
class Times:
    """How long something took, over `count` conversations (seconds; None
    when there were none)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass
class Row:
    """One group's figures: `key` (a day as `date`, or the id of a channel,
    agent, team or label; None for "none"), its `name`, and the counts."""

    key: object
    name: str
    opened: int = 0
    resolved: int = 0
    reopened: int = 0
    messages_in: int = 0
    messages_out: int = 0
    first_response: Times = field(default_factory=Times)
    resolution: Times = field(default_factory=Times)
    failed: int = 0
    failed_reasons: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Report:
    """A report: the range (local dates, both included), its zone, the
    grouping, and the rows (days in order; other groups by name)."""

    since: dt.date
    until: dt.date
    time_zone: str
    group_by: str
    business_hours: bool
    rows: list[Row]


def percentile(values: list[float], fraction: float) -> float | None:
    """The `fraction` (0..1) percentile of `values`, linearly interpolated
    between the two nearest ranks (as PostgreSQL's `percentile_cont`): for
    [10, 20, 30, 40] the median is 25 and the 90th percentile 37. None for
    no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def times_of(durations: list[float]) -> Times:
    """`Times` (count, median, 90th percentile) of `durations` in seconds."""
    return Times(
        count=len(durations),
        median=percentile(durations, 0.5),
        p90=percentile(durations, 0.9),
    )


def day_bounds(
    since: dt.date, until: dt.date, zone: dt.tzinfo
) -> tuple[dt.datetime, dt.datetime]:
    """The instants starting local day `since` and ending local day `until`
    in `zone` (the end excluded)."""
    start = dt.datetime.combine(since, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start, end


def report(
    business: Business,
    since: dt.date,
    until: dt.date,
    group_by: str = "day",
    *,
    open_seconds: OpenSeconds | None = None,
) -> Report:
    """The business's figures from local day `since` to `until` (both
    included, in `business.time_zone`), grouped by `group_by` (a key of
    `GROUPS`). Response and resolution times are measured with
    `open_seconds(start, end) -> seconds` (business hours), or every second
    when None. On PostgreSQL, wall-clock times and a `WeeklyHours.
    open_seconds` (bound method) are worked out by the database; any other
    function is applied in Python to every event of the range. With the
    business's own hours, the open seconds stored with the events are read
    when every event of the business has them for its current hours
    (`_open_seconds_stored`); otherwise they are measured from each event's
    two moments, and `reports.refresh_open_seconds` is queued to store them.
    A fixed number of queries whatever the range or data: at most 5; with
    business hours on PostgreSQL 6, or 7 while the stored open seconds are
    behind the hours.

    Raises `ValueError` for an unknown `group_by`, `until` before `since` or
    a range longer than `MAX_DAYS`."""
    if group_by not in GROUPS:
        raise ValueError(f"No such grouping: {group_by}.")
    if until < since:
        raise ValueError("until is before since.")
    if (until - since).days + 1 > MAX_DAYS:
        raise ValueError(f"At most {MAX_DAYS} days.")
    zone = zone_named(business.time_zone)
    start, end = day_bounds(since, until, zone)
    dim = GROUPS[group_by]
    rows: dict[object, Row] = {}

    def row(key: object) -> Row:
        found = rows.get(key)
        if found is None:
            found = rows[key] = Row(key=key, name="")
        return found

    if dim is None:
        day = since
        while day <= until:
            row(day)
            day += dt.timedelta(days=1)

    def grouped(queryset, time_field: str, prefix: str, *extra: str) -> Iterable:
        """(key, *extra, n) of `queryset` counted per group."""
        if dim is None:
            key = "key_day"
            queryset = queryset.annotate(key_day=TruncDate(time_field, tzinfo=zone))
        else:
            key = prefix + dim
        return (
            queryset.values(key, *extra)
            .annotate(n=Count("id"))
            .order_by()
            .values_list(key, *extra, "n")
        )

    opened = Conversation.objects.filter(
        business=business, created_at__gte=start, created_at__lt=end
    )
    for key, n in grouped(opened, "created_at", ""):
        row(key).opened += n

    events = ConversationEvent.objects.filter(
        business=business, at__gte=start, at__lt=end
    )
    day_rows = ConversationDay.objects.filter(
        business=business, day__gte=since, day__lte=until
    )
    # Events and day rows carry their channel, assignee and team: grouped by
    # them without a join. Labels are the conversation's current ones (on
    # PostgreSQL joined straight from the label links, see `_by_label`).
    postgres = connection.vendor == "postgresql"
    if dim is None:
        events = events.annotate(key_day=TruncDate("at", tzinfo=zone))
        key_field, day_key = "key_day", "day"
    elif group_by == "label":
        key_field = day_key = "conversation__" + dim
    else:
        key_field = day_key = ROW_FIELDS[group_by]
    hours = getattr(open_seconds, "__self__", None)
    if postgres and (open_seconds is None or isinstance(hours, WeeklyHours)):
        # Wall-clock: the seconds stored with each event; business hours: the
        # open seconds stored with each event when every event of the
        # business has them for these hours, else the two moments, measured
        # in the query.
        measure = open_seconds is not None and not _open_seconds_stored(business, hours)
        if measure:
            columns: tuple[str, ...] = ("kind", "opened_at", "at")
        else:
            stored = _WALL_SECONDS if open_seconds is None else _OPEN_SECONDS
            events = events.annotate(wall=stored)
            columns = ("kind", "wall")
        source = _by_label(events, group_by, *columns)
        if source is None:
            source = events.values_list(key_field, *columns).query.sql_with_params()
        if measure:
            times = _open_times_in_sql(events, source, hours, end)
        else:
            times = _times_in_sql(source)
    else:
        times = _times_in_python(events, key_field, open_seconds or wall_seconds)
    # One pass over the range's events: resolutions and reopenings counted,
    # first responses and resolutions measured.
    for (kind, key), measured in times.items():
        target = row(key)
        if kind == ConversationEvent.Kind.FIRST_RESPONSE:
            target.first_response = measured
        elif kind == ConversationEvent.Kind.RESOLVED:
            target.resolution = measured
            target.resolved += measured.count
        else:
            target.reopened += measured.count

    source = _by_label(day_rows, group_by, "messages_in", "messages_out")
    if source is not None:
        sql, params = source
        with connection.cursor() as cursor:
            cursor.execute(
                _DAY_SUMS.format(days=sql),
                params,
            )
            sums = cursor.fetchall()
    else:
        sums = (
            day_rows.values(day_key)
            .annotate(n_in=Sum("messages_in"), n_out=Sum("messages_out"))
            .order_by()
            .values_list(day_key, "n_in", "n_out")
        )
    for key, n_in, n_out in sums:
        row(key).messages_in += n_in
        row(key).messages_out += n_out

    messages = Message.objects.filter(sent_at__gte=start, sent_at__lt=end)
    if postgres:
        # The message's own copy of its business (docs/search.md), so the
        # failed replies are not joined to every conversation of the business.
        messages = messages.alias(
            message_business=RawSQL(
                '"conversations_message"."business_id"', (), output_field=UUIDField()
            )
        ).filter(message_business=business.pk)
    else:
        messages = messages.filter(conversation__business=business)
    failed = messages.filter(
        direction=Message.Direction.OUTBOUND, status=Message.Status.FAILED
    )
    if postgres and group_by in ROW_FIELDS:
        # Each failed reply's conversation read by its primary key (a few
        # thousand lookups) rather than hashing every conversation.
        failed = failed.annotate(
            key_now=Subquery(
                Conversation.objects.filter(pk=OuterRef("conversation_id")).values(dim)[
                    :1
                ]
            )
        )
        failed_rows = (
            failed.values("key_now", "error")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("key_now", "error", "n")
        )
    elif (source := _by_label(failed, group_by, "error")) is not None:
        # The failed replies' labels joined from the label links by
        # conversation id, as the events' (not by hashing every conversation
        # of the business).
        sql, params = source
        with connection.cursor() as cursor:
            cursor.execute(_FAILED_BY_LABEL.format(failed=sql), params)
            failed_rows = cursor.fetchall()
    else:
        failed_rows = grouped(failed, "sent_at", "conversation__", "error")
    reasons: dict[object, Counter] = defaultdict(Counter)
    for key, error, n in failed_rows:
        reason = " ".join(error.split())[:REASON_MAX_LENGTH] or NO_REASON
        reasons[key][reason] += n
    for key, counter in reasons.items():
        target = row(key)
        target.failed = sum(counter.values())
        target.failed_reasons = sorted(
            counter.items(), key=lambda item: (-item[1], item[0])
        )[:MAX_REASONS]

    _names(business, group_by, rows)
    ordered = list(rows.values())
    if dim is None:
        ordered.sort(key=lambda r: r.key)
    else:
        ordered.sort(key=lambda r: (r.key is None, r.name.lower(), str(r.key)))
    return Report(
        since=since,
        until=until,
        time_zone=business.time_zone,
        group_by=group_by,
        business_hours=open_seconds is not None,
        rows=ordered,
    )


def day_counts(business: Business, since: dt.date, until: dt.date) -> list[Row]:
    """The conversations opened, resolved and reopened on each local day from
    `since` to `until` (both included, in `business.time_zone`), in order,
    days with nothing included: the reports page's chart beside a table
    grouped otherwise. Each count equals the `report(..., "day")` row's (the
    same definitions; business hours change no count), without the times,
    messages and failed replies that report also works out. Two queries
    (conversations opened, by the index on business and opening; events by
    day and kind)."""
    zone = zone_named(business.time_zone)
    start, end = day_bounds(since, until, zone)
    rows: dict[dt.date, Row] = {}
    day = since
    while day <= until:
        rows[day] = Row(key=day, name=day.isoformat())
        day += dt.timedelta(days=1)
    opened = (
        Conversation.objects.filter(
            business=business, created_at__gte=start, created_at__lt=end
        )
        .annotate(key_day=TruncDate("created_at", tzinfo=zone))
        .values("key_day")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("key_day", "n")
    )
    for key, n in opened:
        rows[key].opened += n
    changes = (
        ConversationEvent.objects.filter(
            business=business,
            at__gte=start,
            at__lt=end,
            kind__in=(
                ConversationEvent.Kind.RESOLVED,
                ConversationEvent.Kind.REOPENED,
            ),
        )
        .annotate(key_day=TruncDate("at", tzinfo=zone))
        .values("key_day", "kind")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("key_day", "kind", "n")
    )
    for key, kind, n in changes:
        if kind == ConversationEvent.Kind.RESOLVED:
            rows[key].resolved += n
        else:
            rows[key].reopened += n
    return list(rows.values())


_LABEL_JOIN = (
    "SELECT l.label_id, {columns} FROM ({sql}) AS r(conversation_id, {columns}) "
    "LEFT JOIN conversations_conversationlabel l "
    "ON l.conversation_id = r.conversation_id"
)


def _by_label(queryset, group_by: str, *columns: str) -> tuple[str, list] | None:
    """On PostgreSQL, for `group_by` label: the SQL and parameters of
    `queryset`'s rows as (label id, *columns), a row per label of the
    conversation (and one with a null label when it has none), joined from
    the label links by conversation id (not through the conversations
    table). None otherwise."""
    if group_by != "label" or connection.vendor != "postgresql":
        return None
    sql, params = queryset.values_list(
        "conversation_id", *columns
    ).query.sql_with_params()
    return _LABEL_JOIN.format(sql=sql, columns=", ".join(columns)), list(params)


_DAY_SUMS = "SELECT key, SUM(a), SUM(b) FROM ({days}) AS s(key, a, b) GROUP BY key"
_FAILED_BY_LABEL = (
    "SELECT key, error, COUNT(*) FROM ({failed}) AS f(key, error) GROUP BY key, error"
)
# An event's wall-clock seconds: the stored column, or, on a row written
# before it and not yet filled (migration reports/0008), the same value
# worked out from its two moments.
_WALL_SECONDS = RawSQL(
    'COALESCE("reports_conversationevent"."seconds", GREATEST(0, date_part('
    '\'epoch\', "reports_conversationevent"."at" - '
    '"reports_conversationevent"."opened_at")))',
    (),
    output_field=FloatField(),
)
# The times of each (key, kind) are gathered into an array by a hashed
# GROUP BY, and each group's array is sorted on its own for its percentiles:
# no sort of every event of the range by group (at 130,000 events that sort
# overflowed work_mem to disk and took half the query). The same values and
# `percentile_cont`, so the same figures.
_PERCENTILES = (
    "SELECT key, kind, n, (SELECT percentile_cont(ARRAY[0.5, 0.9]) "
    "WITHIN GROUP (ORDER BY v) FROM unnest(times) AS v) FROM ({grouped}) AS g"
)
_WALL_TIMES = _PERCENTILES.format(
    grouped="SELECT key, kind, COUNT(*) AS n, array_agg(seconds) AS times "
    "FROM ({events}) AS e(key, kind, seconds) GROUP BY key, kind"
)


# Business-hours times stored with each event (`_open_seconds_stored`).
_OPEN_SECONDS = RawSQL(
    '"reports_conversationevent"."open_seconds"', (), output_field=FloatField()
)
# The business's time zone, whether any of its events is behind its hours
# version, and its opening intervals, in one statement (one
# snapshot). A stamp is never above the business's version, so an event is
# behind when the lowest stamp is below it: the lowest is the first entry of
# the business in report_event_hours_idx, one index probe (an EXISTS over
# `hours_version < b.hours_version` is planned as a table scan, the version
# being unknown when planned).
_HOURS_NOW = """
SELECT b.time_zone,
  (SELECT MIN(e.hours_version) FROM reports_conversationevent e
   WHERE e.business_id = b.id) < b.hours_version,
  ARRAY(SELECT ARRAY[i.weekday, i.opens, i.closes]
        FROM workspace_openinginterval i WHERE i.business_id = b.id)
FROM billing_business b WHERE b.id = %s
"""


def _week_of(hours: WeeklyHours) -> tuple[str, dict[int, list[tuple[int, int]]]]:
    """`hours` as (zone name, {weekday: sorted intervals}, closed days left
    out), to tell two `WeeklyHours` alike."""
    week = {day: sorted(spans) for day, spans in hours.week.items() if spans}
    return str(hours.zone), week


def _open_seconds_stored(business: Business, hours: WeeklyHours) -> bool:
    """Whether the events' stored `open_seconds` measure `hours`: `hours`
    are `business`'s own current hours (intervals and time zone) and no
    event of the business is behind its `hours_version`. One query. When
    some are behind, queues `reports.refresh_open_seconds` (after the
    commit; a failure to queue is logged, the report goes on) so the next
    reports read the stored column."""
    with connection.cursor() as cursor:
        cursor.execute(_HOURS_NOW, [business.pk])
        found = cursor.fetchone()
    if found is None:
        return False
    zone, behind, intervals = found
    if behind:
        from reports.services import open_seconds_refresh_queue

        transaction.on_commit(
            lambda: open_seconds_refresh_queue(business.pk), robust=True
        )
        return False
    current = weekly_hours_of(zone, intervals)
    return current is not None and _week_of(current) == _week_of(hours)


def _times_in_sql(source: tuple[str, list]) -> dict[tuple[str, object], Times]:
    """`Times` per (kind, key) of the events `source` (SQL and parameters of
    rows (key, kind, wall-clock seconds)), worked out by PostgreSQL: one
    query returning a row per group."""
    sql, params = source
    with connection.cursor() as cursor:
        cursor.execute(_WALL_TIMES.format(events=sql), list(params))
        return {
            (kind, key): Times(count=n, median=both[0], p90=both[1])
            for key, kind, n, both in cursor.fetchall()
        }


# The open seconds of one event, from `a` and `b` (its two moments in epoch
# seconds) and `ka`, `kb` (their spans, `width_bucket` over `starts`), with
# the arrays `starts`, `lengths` and `before` of `open_span_arrays`.
OPEN_SECONDS_SQL = (
    "GREATEST(0, "
    "CASE WHEN kb = 0 THEN 0 ELSE before[kb] + LEAST(b - starts[kb], lengths[kb]) END"
    " - CASE WHEN ka = 0 THEN 0 ELSE before[ka] + LEAST(a - starts[ka], lengths[ka]) "
    "END)"
)
_OPEN_TIMES = """
WITH open_hours AS (SELECT %s::float8[] AS starts, %s::float8[] AS lengths,
                           %s::float8[] AS before),
measured AS (
  SELECT e.key, e.kind, o.starts, o.lengths, o.before,
         date_part('epoch', e.opened_at) AS a,
         date_part('epoch', e.at) AS b,
         width_bucket(date_part('epoch', e.opened_at), o.starts) AS ka,
         width_bucket(date_part('epoch', e.at), o.starts) AS kb
  FROM ({events}) AS e(key, kind, opened_at, at), open_hours AS o
)
SELECT key, kind, n, (SELECT percentile_cont(ARRAY[0.5, 0.9])
  WITHIN GROUP (ORDER BY v) FROM unnest(times) AS v)
FROM (
  SELECT key, kind, COUNT(*) AS n, array_agg({open_seconds}) AS times
  FROM measured GROUP BY key, kind
) AS g
"""


def open_span_arrays(
    hours: WeeklyHours, start: dt.datetime, end: dt.datetime
) -> tuple[list[float], list[float], list[float]]:
    """The open spans of `hours` meeting [start, end] as three arrays for
    `OPEN_SECONDS_SQL`: each span's start (epoch seconds), its length
    (seconds) and the open seconds of the spans before it. One span of no
    length at `start` when none meets the range (every time is then 0)."""
    starts: list[float] = []
    lengths: list[float] = []
    before: list[float] = []
    total = 0.0
    for a, b in hours.spans(start, end):
        starts.append(a.timestamp())
        lengths.append((b - a).total_seconds())
        before.append(total)
        total += lengths[-1]
    if not starts:
        return [start.timestamp()], [0.0], [0.0]
    return starts, lengths, before


def _open_times_in_sql(
    events, source: tuple[str, list], hours: WeeklyHours, end: dt.datetime
) -> dict[tuple[str, object], Times]:
    """`Times` per (kind, key) of the events `source` (as `_times_in_sql`;
    `events` their queryset) in open seconds of `hours`, worked out by
    PostgreSQL from each event's two moments: two queries (the earliest
    opening measured, then the times).

    Each moment t is turned into the open seconds from the first open span
    up to t: with the spans' starts, lengths and the open seconds before
    each (arrays, in epoch seconds), `width_bucket` finds the span starting
    last at or before t, and open(t) = before[k] + min(t - start[k],
    length[k]). A time is open(at) - open(opened_at), as
    `WeeklyHours.open_seconds` measures it."""
    earliest = events.aggregate(earliest=Min("opened_at"))["earliest"]
    if earliest is None:
        return {}
    starts, lengths, before = open_span_arrays(hours, earliest, end)
    sql, params = source
    with connection.cursor() as cursor:
        cursor.execute(
            _OPEN_TIMES.format(events=sql, open_seconds=OPEN_SECONDS_SQL),
            [starts, lengths, before, *params],
        )
        return {
            (kind, key): Times(count=n, median=both[0], p90=both[1])
            for key, kind, n, both in cursor.fetchall()
        }


def _times_in_python(
    events, key_field: str, measure: OpenSeconds
) -> dict[tuple[str, object], Times]:
    """`Times` per (kind, key), each event measured by `measure(opened_at,
    at)` (business hours, or SQLite): one query returning every event."""
    durations: dict[tuple[str, object], list[float]] = defaultdict(list)
    for key, kind, opened_at, at in events.values_list(
        key_field, "kind", "opened_at", "at"
    ):
        durations[kind, key].append(measure(opened_at, at))
    return {group: times_of(values) for group, values in durations.items()}


NONE_NAMES = {
    "channel": "Deleted channel",
    "agent": "Unassigned",
    "team": "No team",
    "label": "No label",
}


# A row whose channel, agent, team or label no longer exists (report rows
# keep the ids they were written with).
GONE_NAMES = {
    "channel": "Deleted channel",
    "agent": "Former agent",
    "team": "Deleted team",
    "label": "Deleted label",
}


def _names(business: Business, group_by: str, rows: dict[object, Row]) -> None:
    """Fill each row's `name` (one query, none for days)."""
    if group_by == "day":
        for key, target in rows.items():
            target.name = key.isoformat()
        return
    ids = [key for key in rows if key is not None]
    if group_by == "channel":
        names = {
            channel.pk: str(channel)
            for channel in Channel.objects.filter(business=business, pk__in=ids)
        }
    elif group_by == "agent":
        names = {
            user.pk: user.get_full_name() or user.get_username()
            for user in get_user_model().objects.filter(pk__in=ids)
        }
    else:
        model = Team if group_by == "team" else Label
        names = dict(
            model.objects.filter(business=business, pk__in=ids).values_list(
                "pk", "name"
            )
        )
    for key, target in rows.items():
        if key is None:
            target.name = NONE_NAMES[group_by]
        else:
            target.name = names.get(key) or GONE_NAMES[group_by]

"""Reports at scale: `GET /api/v1/reports/summary/` over the last 90 days
(by day, channel, agent, team and label, and as CSV) and the reports page,
on the inbox data sets (`bench/data.py`), to which `reports_ensure` adds,
once, what the conversations services would have recorded had the data
come through them: each conversation's first response, the resolutions
(and a reopening in one resolved conversation in ten), and the messages
per conversation and day (the events' open seconds in business hours
filled as `reports.refresh_open_seconds` fills them); and, each once,
business hours (weekdays 09:00-18:00) and a failed delivery (one of three
reasons) on one agent reply in `FAILED_EVERY`.

Measured as `bench/inbox.py` measures the inbox: over HTTP one request at a
time after warm-up requests; SQL queries in a separate in-process pass.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.db import connection, transaction
from django.utils import timezone

from bench.data import InboxDataset
from bench.inbox import Endpoint, endpoints_benchmark
from bench.report import scale_tables
from conversations.models import Message
from reports.models import ConversationDay
from reports.services import open_seconds_refresh
from workspace.selectors import business_hours
from workspace.services import business_hours_set

REPORT_DAYS = 90
# Requests measured per report endpoint (fewer than the inbox's 200: twelve
# endpoints of up to a second each on a loaded machine).
REPORT_REQUESTS = 50
# One agent reply in FAILED_EVERY failed, with one of REASONS.
FAILED_EVERY = 200
REASONS = ("Rate limited", "Recipient blocked the account", "")
GROUPS = ("day", "channel", "agent", "team", "label")
SUMMARY = "/api/v1/reports/summary/"
# One resolved conversation in REOPENED_EVERY was reopened once.
REOPENED_EVERY = 10

_EVENTS = (
    "INSERT INTO reports_conversationevent "
    "(business_id, conversation_id, kind, at, opened_at, seconds, "
    "channel_id, assignee_id, team_id) "
    "SELECT c.business_id, c.id, %s, {at}, MIN(m.sent_at), {seconds}, "
    "c.channel_id, c.assignee_id, c.team_id "
    "FROM conversations_conversation c "
    "JOIN conversations_message m ON m.conversation_id = c.id "
    "WHERE c.business_id = %s {where} "
    "GROUP BY c.business_id, c.id, c.channel_id, c.assignee_id, c.team_id "
    "HAVING {at} IS NOT NULL"
)
# The event's wall-clock seconds, as `reports.services.seconds_between`
# stores them (SQLite: left empty, its reports measure in Python).
_SECONDS = "GREATEST(0, date_part('epoch', {at} - MIN(m.sent_at)))"
_FIRST_REPLY = (
    "MIN(CASE WHEN m.direction = 'outbound' AND m.author_id IS NOT NULL "
    "THEN m.sent_at END)"
)
_DAYS = (
    "INSERT INTO reports_conversationday "
    "(business_id, conversation_id, day, messages_in, messages_out, "
    "channel_id, assignee_id, team_id) "
    "SELECT c.business_id, c.id, {day}, "
    "SUM(CASE WHEN m.direction = 'inbound' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN m.direction = 'outbound' THEN 1 ELSE 0 END), "
    "c.channel_id, c.assignee_id, c.team_id "
    "FROM conversations_conversation c "
    "JOIN conversations_message m ON m.conversation_id = c.id "
    "WHERE c.business_id = %s AND m.kind NOT IN ('note', 'activity') "
    "GROUP BY c.business_id, c.id, {day}, c.channel_id, c.assignee_id, c.team_id"
)
_FAILED = (
    "UPDATE conversations_message SET status = 'failed', error = CASE "
    "WHEN (id / %s) %% 3 = 0 THEN %s WHEN (id / %s) %% 3 = 1 THEN %s ELSE %s END "
    "WHERE conversation_id IN "
    "(SELECT id FROM conversations_conversation WHERE business_id = %s) "
    "AND direction = 'outbound' "
    "AND author_id IS NOT NULL AND id %% %s = 0"
)


def reports_ensure(dataset: InboxDataset) -> None:
    """Give the data set, once, the reports' records, business hours and
    failed replies (see the module's docstring), in a few set-based
    statements (PostgreSQL and SQLite)."""
    business = dataset.bench.business
    if business_hours(business) is None:
        business_hours_set(
            business=business, week={day: [(9 * 60, 18 * 60)] for day in range(5)}
        )
    postgres = connection.vendor == "postgresql"
    business_id = business.pk if postgres else business.pk.hex
    if not Message.objects.filter(
        conversation__business=business, status="failed"
    ).exists():
        with connection.cursor() as cursor:
            reasons = [FAILED_EVERY, REASONS[0], FAILED_EVERY, *REASONS[1:]]
            cursor.execute(_FAILED, [*reasons, business_id, FAILED_EVERY])
    if ConversationDay.objects.filter(business=business).exists():
        # (Events stored before they carried open seconds, or behind the
        # hours: given them, as the refresh task would, and the rows this or
        # migration reports/0010 rewrote vacuumed.)
        open_seconds_refresh(business.pk)
        if postgres:
            _tables_analyze()
        return
    day = "(m.sent_at AT TIME ZONE %s)::date" if postgres else "date(m.sent_at)"

    def events(at: str, where: str = "") -> str:
        seconds = _SECONDS.format(at=at) if postgres else "NULL"
        return _EVENTS.format(at=at, where=where, seconds=seconds)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(events(_FIRST_REPLY), ["first_response", business_id])
        cursor.execute(
            events("MAX(m.sent_at)", "AND c.status = 'resolved'"),
            ["resolved", business_id],
        )
        cursor.execute(
            events(
                "MAX(m.sent_at)",
                "AND c.status = 'resolved' AND ((c.id * 7919 + 5) %% 10007) %% %s = 0",
            ),
            ["reopened", business_id, REOPENED_EVERY],
        )
        zone = [business.time_zone] if postgres else []
        cursor.execute(_DAYS.format(day=day), [*zone, business_id, *zone])
    # The events' business-hours times, as `reports.refresh_open_seconds`
    # stores them after the hours change (the INSERTs leave them at version
    # 0, never worked out).
    open_seconds_refresh(business.pk)
    if postgres:
        _tables_analyze()


def _tables_analyze() -> None:
    """ANALYZE the reports' tables (PostgreSQL), and VACUUM them too outside
    a transaction: the refresh rewrites every event."""
    vacuum = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
    with connection.cursor() as cursor:
        cursor.execute(f"{vacuum} reports_conversationevent, reports_conversationday")


def report_endpoints(dataset: InboxDataset) -> list[Endpoint]:
    """The requests measured on `dataset`: the last `REPORT_DAYS` days (every
    conversation of the data set is in them) per day, channel, agent, team
    and label, each again in business hours, the days and the agents as CSV
    (the chart's and the table's downloads), and the page (labels shared by
    every scale, so the targets pair them)."""
    until = timezone.now().date()
    since = until - dt.timedelta(days=REPORT_DAYS - 1)
    days = {"since": since.isoformat(), "until": until.isoformat()}

    def api(**more: str) -> str:
        return f"{SUMMARY}?{urlencode({**days, **more})}"

    return [
        *(
            Endpoint(f"report {REPORT_DAYS} days by {group}", api(group_by=group))
            for group in GROUPS
        ),
        *(
            Endpoint(
                f"report {REPORT_DAYS} days by {group}, business hours",
                api(group_by=group, business_hours="true"),
            )
            for group in GROUPS
        ),
        Endpoint(
            f"report {REPORT_DAYS} days by day (CSV)", api(group_by="day", format="csv")
        ),
        Endpoint(
            f"report {REPORT_DAYS} days by agent (CSV)",
            api(group_by="agent", format="csv"),
        ),
        Endpoint(
            f"reports page, {REPORT_DAYS} days by agent (HTML)",
            f"/reports/?{urlencode({**days, 'group_by': 'agent'})}",
            api=False,
        ),
    ]


def reports_benchmark(
    web_url: str, dataset: InboxDataset, *, requests: int, warmup: int
) -> dict:
    """Add the reports' records (`reports_ensure`), then measure every
    endpoint of `report_endpoints` (see `bench.inbox.endpoints_benchmark`),
    at most `REPORT_REQUESTS` times each."""
    reports_ensure(dataset)
    return endpoints_benchmark(
        web_url,
        dataset,
        lambda api: report_endpoints(dataset),
        requests=min(requests, REPORT_REQUESTS),
        warmup=warmup,
    )


def reports_markdown(results: dict) -> list[str]:
    """The reports part as Markdown lines (the inbox table's shape)."""
    return scale_tables("Reports at scale", results.get("reports") or [])

"""Business-hours times stored with each report event (`ConversationEvent.
open_seconds`, stamped with `hours_version`): written with the event, worked
out again when the hours or the time zone change, and read by reports once
every event of the business is at its current version; until then reports
measure each time from its two moments, so the figures are right at once."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Business
from billing.services import business_settings_update
from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.tests.factories import ChannelFactory
from reports.models import ConversationEvent
from reports.selectors import report
from reports.services import first_response_record, open_seconds_refresh
from reports.tasks import refresh_open_seconds
from reports.tests.conftest import change, customer_writes, reply, utc
from workspace.selectors import business_hours
from workspace.services import business_hours_set

MARCH_1 = dt.date(2026, 3, 1)
MARCH_2 = dt.date(2026, 3, 2)
NINE_TO_SIX = {day: [(9 * 60, 18 * 60)] for day in range(7)}
# Weekdays 09:00-18:00, and Sunday 22:00 to Monday 02:00 (two intervals
# joined across midnight).
OFFICE = {
    0: [(0, 120), (540, 1080)],
    1: [(540, 1080)],
    2: [(540, 1080)],
    3: [(540, 1080)],
    4: [(540, 1080)],
    6: [(1320, 1440)],
}
TOLERANCE = 1e-6  # seconds: SQL works on epoch seconds as double precision


def _version(business: Business) -> int:
    return Business.objects.values_list("hours_version", flat=True).get(pk=business.pk)


def _behind(business: Business) -> int:
    return ConversationEvent.objects.filter(
        business=business, hours_version__lt=_version(business)
    ).count()


def _measured(business: Business, group_by: str = "day", hours=None):
    """The report with every time measured in Python from the two moments."""
    hours = hours or business_hours(business)
    return report(
        business,
        MARCH_1,
        MARCH_2,
        group_by,
        open_seconds=lambda start, end: hours.open_seconds(start, end),
    )


def _assert_same(result, expected) -> None:
    assert [row.key for row in result.rows] == [row.key for row in expected.rows]
    for quick, exact in zip(result.rows, expected.rows, strict=True):
        for name in ("first_response", "resolution"):
            a, b = getattr(quick, name), getattr(exact, name)
            assert a.count == b.count
            assert a.median == pytest.approx(b.median, abs=TOLERANCE)
            assert a.p90 == pytest.approx(b.p90, abs=TOLERANCE)


def _hours_report(business: Business, group_by: str = "day"):
    return report(
        business,
        MARCH_1,
        MARCH_2,
        group_by,
        open_seconds=business_hours(business).open_seconds,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "_case, zone, opened, answered, resolved, first_response",
    [
        # Friday 16:00 local (UTC+0) to Monday 10:30 (UTC+1 since Sunday's
        # change): Friday 2 h, Sunday 22:00 to Monday 02:00 4 h, Monday
        # 09:00-10:30 1.5 h.
        (
            "lisbon_weekend_into_summer_time",
            "Europe/Lisbon",
            utc(3, 27, 16),
            utc(3, 30, 9, 30),
            utc(3, 31, 12),
            7.5 * 3600,
        ),
        # Friday 17:00 EST to Monday 09:30 EDT (clocks forward on Sunday
        # 8 March): Friday 1 h, Sunday 22:00 to Monday 02:00 4 h, Monday
        # 0.5 h.
        (
            "new_york_weekend_into_summer_time",
            "America/New_York",
            utc(3, 6, 22),
            utc(3, 9, 13, 30),
            utc(3, 10, 23),
            5.5 * 3600,
        ),
    ],
)
def test_events_store_their_open_seconds_when_written(
    _case, zone, opened, answered, resolved, first_response
):
    # given: a business with hours, in its zone
    business = BusinessFactory(time_zone=zone)
    business_hours_set(business=business, week=OFFICE)
    agent = MemberFactory(business=business)
    channel = ChannelFactory(business=business)
    hours = business_hours(business)

    # when: a conversation is answered, resolved, reopened by the customer
    # on Saturday and resolved again
    conversation = customer_writes(channel, "c", opened)
    reply(conversation, agent, answered)
    change(conversation, agent, resolved, status="resolved")
    customer_writes(channel, "c", resolved + dt.timedelta(days=4))
    change(conversation, agent, resolved + dt.timedelta(days=5), status="resolved")

    # then: each event stores what WeeklyHours.open_seconds gives, exactly,
    # at the business's hours version
    events = ConversationEvent.objects.filter(conversation=conversation)
    assert sorted(events.values_list("kind", flat=True)) == [
        "first_response",
        "reopened",
        "resolved",
        "resolved",
    ]
    for event in events:
        assert event.hours_version == 1 == business.hours_version
        assert event.open_seconds == hours.open_seconds(event.opened_at, event.at)
    assert events.get(kind="first_response").open_seconds == first_response

    # and: worked out again in SQL, they stay the same (to a microsecond)
    events.update(hours_version=0)
    assert open_seconds_refresh(business.pk) == 4
    for event in events.all():
        assert event.hours_version == 1
        assert event.open_seconds == pytest.approx(
            hours.open_seconds(event.opened_at, event.at), abs=TOLERANCE
        )


@pytest.mark.django_db
def test_a_business_without_hours_stores_no_open_seconds(fixture):
    events = ConversationEvent.objects.filter(business=fixture.business)
    assert events.count() == 9
    assert set(events.values_list("open_seconds", "hours_version")) == {(None, 0)}


@pytest.mark.django_db
@pytest.mark.parametrize("group_by", ["day", "agent", "label"])
def test_new_hours_and_time_zones_show_at_once_and_after_the_refresh(fixture, group_by):
    business = fixture.business

    # when: hours are set on a business whose events have none stored
    business_hours_set(business=business, week=NINE_TO_SIX)

    # then: the report is right at once (the hand-computed figures of
    # test_figures' nine-to-six hours), the events being behind
    assert _version(business) == 1 and _behind(business) == 9
    result = _hours_report(business, group_by)
    _assert_same(result, _measured(business, group_by))
    if group_by == "day":
        assert result.rows[0].first_response.median == 1800
        assert result.rows[0].resolution.median == 5400
        assert result.rows[1].resolution.median == 43200

    # when: the refresh task runs (only this business's events)
    assert refresh_open_seconds(str(business.pk)) == 9
    assert refresh_open_seconds(str(business.pk)) == 0

    # then: the stored times give the same figures
    assert _behind(business) == 0
    assert (
        ConversationEvent.objects.exclude(business=business)
        .filter(open_seconds__isnull=False)
        .count()
        == 0
    )
    _assert_same(_hours_report(business, group_by), result)

    # when: the time zone changes (Lisbon, UTC+0: the hours are 3 h earlier)
    business_settings_update(business=business, time_zone="Europe/Lisbon")

    # then: right at once, and again after the refresh
    assert _version(business) == 2 and _behind(business) == 9
    moved = _hours_report(business, group_by)
    _assert_same(moved, _measured(business, group_by))
    assert [row.first_response for row in moved.rows] != [
        row.first_response for row in result.rows
    ]
    assert refresh_open_seconds(str(business.pk)) == 9
    _assert_same(_hours_report(business, group_by), moved)


@pytest.mark.django_db
def test_the_same_hours_or_time_zone_again_change_nothing(fixture):
    business = fixture.business
    business_hours_set(business=business, week=NINE_TO_SIX)
    refresh_open_seconds(str(business.pk))

    business_hours_set(business=business, week=dict(NINE_TO_SIX))
    business_settings_update(business=business, time_zone="America/Sao_Paulo")

    assert _version(business) == 1 and _behind(business) == 0


@pytest.mark.django_db
def test_a_change_of_hours_queues_the_refresh_after_the_commit(
    fixture, django_capture_on_commit_callbacks
):
    business = fixture.business
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        business_hours_set(business=business, week=NINE_TO_SIX)
    assert len(callbacks) == 1
    assert _behind(business) == 0

    with django_capture_on_commit_callbacks(execute=True):
        business_hours_set(business=business, week=None)
    assert _version(business) == 2 and _behind(business) == 0
    events = ConversationEvent.objects.filter(business=business)
    assert set(events.values_list("open_seconds", flat=True)) == {None}


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the stored column is read on PostgreSQL only",
)
@pytest.mark.django_db
def test_reports_read_the_stored_times_only_when_every_event_is_current(
    fixture, django_capture_on_commit_callbacks
):
    # given: the hours set and the events refreshed; C2's first response
    # (1,800 open seconds) then stored wrong, as a bug would
    business = fixture.business
    business_hours_set(business=business, week=NINE_TO_SIX)
    refresh_open_seconds(str(business.pk))
    c2 = ConversationEvent.objects.filter(
        conversation=fixture.conversations["c2"], kind="first_response"
    )
    c2.update(open_seconds=5.0)

    # when: reported, the stored column is read (600, 5 and 32,400: median
    # 600), by the wall-clock query's shape
    with CaptureQueriesContext(connection) as queries:
        march_1 = _hours_report(business).rows[0]
    assert march_1.first_response.median == 600
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert '"open_seconds"' in sql and "width_bucket" not in sql

    # when: that event is behind the version (a writer that read the hours
    # just before they changed)
    c2.update(hours_version=0)

    # then: the report measures the moments (right: 1,800) and queues the
    # refresh, which puts the event right
    with CaptureQueriesContext(connection) as queries:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            march_1 = _hours_report(business).rows[0]
    assert march_1.first_response.median == 1800
    assert "width_bucket" in " ".join(q["sql"] for q in queries.captured_queries)
    assert len(callbacks) == 1
    assert c2.get().hours_version == 1
    assert c2.get().open_seconds == pytest.approx(1800, abs=TOLERANCE)
    assert _hours_report(business).rows[0].first_response.median == pytest.approx(
        1800, abs=TOLERANCE
    )


@pytest.mark.django_db
def test_hours_other_than_the_business_own_are_measured(fixture):
    # given: the business's hours stored with every event
    from workspace.hours import WeeklyHours, zone_of

    business = fixture.business
    business_hours_set(business=business, week=NINE_TO_SIX)
    refresh_open_seconds(str(business.pk))

    # when: a report asks for other hours
    other = WeeklyHours(
        zone=zone_of("America/Sao_Paulo"), week={0: [(600, 1020)], 6: [(600, 1020)]}
    )
    result = report(business, MARCH_1, MARCH_2, "day", open_seconds=other.open_seconds)

    # then: they are measured, not read
    _assert_same(result, _measured(business, hours=other))
    assert result.rows[0].first_response.median != 1800


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the counts of PostgreSQL's report path",
)
@pytest.mark.django_db
def test_query_counts_of_a_business_hours_report(fixture, django_assert_num_queries):
    business = fixture.business
    business_hours_set(business=business, week=NINE_TO_SIX)
    hours = business_hours(business)

    # behind: the check, the earliest opening, then as a wall-clock report
    with django_assert_num_queries(7):
        report(business, MARCH_1, MARCH_2, "label", open_seconds=hours.open_seconds)

    refresh_open_seconds(str(business.pk))
    # current: the check, then as a wall-clock report (no names by day)
    for group_by, count in (("day", 5), ("agent", 6), ("label", 6)):
        with django_assert_num_queries(count):
            report(
                business, MARCH_1, MARCH_2, group_by, open_seconds=hours.open_seconds
            )


@pytest.mark.django_db
def test_a_reply_to_an_answered_conversation_costs_one_query(
    fixture, django_assert_num_queries
):
    # given: C1 answered; another reply of Ana's
    c1 = fixture.conversations["c1"]
    message = reply(c1, fixture.ana, utc(3, 3, 12))

    # then: recording its first response reads the hours and finds the
    # answer in one query, and writes nothing
    with django_assert_num_queries(1):
        first_response_record(message)
    assert ConversationEvent.objects.filter(conversation=c1).count() == 4


@pytest.mark.django_db
def test_the_migration_fills_the_events_of_businesses_with_hours(fixture):
    # given: events and a business as they were before the columns (hours
    # set, version 0, nothing stored)
    business = fixture.business
    business_hours_set(business=business, week=OFFICE)
    Business.objects.filter(pk=business.pk).update(hours_version=0)
    ConversationEvent.objects.update(open_seconds=None, hours_version=0)

    # when
    module = importlib.import_module("reports.migrations.0010_backfill_open_seconds")
    module.backfill(apps, None)
    module.backfill(apps, None)  # (rerun: harmless)

    # then: its events are at version 1 with their open seconds; the other
    # business (no hours) is left at 0
    hours = business_hours(business)
    assert _version(business) == 1 and _behind(business) == 0
    for event in ConversationEvent.objects.filter(business=business):
        assert event.hours_version == 1
        assert event.open_seconds == pytest.approx(
            hours.open_seconds(event.opened_at, event.at), abs=TOLERANCE
        )
    others = ConversationEvent.objects.exclude(business=business)
    assert set(others.values_list("open_seconds", "hours_version")) == {(None, 0)}

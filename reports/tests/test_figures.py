"""Report figures against the hand-computed fixture (reports/tests/conftest.py):
counts per local day in America/Sao_Paulo, first response and resolution
times (median and 90th percentile, worked out by hand below), grouping by
channel, agent, team and label, and business hours through `open_seconds`."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from reports.selectors import percentile, report

MARCH_1 = dt.date(2026, 3, 1)
MARCH_2 = dt.date(2026, 3, 2)


def by_name(result) -> dict:
    return {row.name: row for row in result.rows}


def test_percentiles_interpolate_between_ranks():
    assert percentile([], 0.5) is None
    assert percentile([5], 0.9) == 5
    assert percentile([40, 10, 30, 20], 0.5) == 25
    assert percentile([10, 20, 30, 40], 0.9) == pytest.approx(37)


@pytest.mark.django_db
def test_days_count_in_the_business_time_zone(fixture):
    result = report(fixture.business, MARCH_1, MARCH_2, "day")
    march_1, march_2 = result.rows
    assert (march_1.key, march_2.key) == (MARCH_1, MARCH_2)
    assert march_1.name == "2026-03-01"
    # C1, C2 and C3 (02:00 UTC on 03-02 is 23:00 on 03-01 in São Paulo).
    assert (march_1.opened, march_2.opened) == (3, 1)
    # C1 at 14:00, C2 at 02:30 UTC = 23:30 local on 03-01; C1 again on 03-02.
    assert (march_1.resolved, march_2.resolved) == (2, 1)
    assert (march_1.reopened, march_2.reopened) == (0, 1)
    # Inbound: C1, C2, C3 on 03-01; C1's return and C4 on 03-02. Outbound
    # (no notes, no activity entries): C1, C2, C5; C3 and C4's two.
    assert (march_1.messages_in, march_1.messages_out) == (3, 3)
    assert (march_2.messages_in, march_2.messages_out) == (2, 3)
    assert (march_1.failed, march_2.failed) == (0, 2)
    assert march_2.failed_reasons == [("No reason given", 1), ("Rate limited", 1)]


@pytest.mark.django_db
def test_first_response_and_resolution_times_by_day(fixture):
    march_1, march_2 = report(fixture.business, MARCH_1, MARCH_2, "day").rows
    # 03-01: C1 600 s, C2 1,800 s, C5 86,400 s -> median 1,800; p90 at rank
    # 1.8: 1,800 + 0.8 x (86,400 - 1,800) = 69,480.
    assert march_1.first_response.count == 3
    assert march_1.first_response.median == 1800
    assert march_1.first_response.p90 == pytest.approx(69480)
    # 03-02: C4 300 s, C3 7,200 s -> median 3,750; p90 300 + 0.9 x 6,900.
    assert march_2.first_response.median == 3750
    assert march_2.first_response.p90 == pytest.approx(6510)
    # Resolutions on 03-01: C1 7,200 s and C2 23,400 s -> median 15,300,
    # p90 7,200 + 0.9 x 16,200 = 21,780. On 03-02: C1 again, 27 h.
    assert march_1.resolution.count == 2
    assert march_1.resolution.median == 15300
    assert march_1.resolution.p90 == pytest.approx(21780)
    assert march_2.resolution.median == march_2.resolution.p90 == 97200


@pytest.mark.django_db
def test_by_agent_counts_each_conversation_under_its_assignee(fixture):
    rows = by_name(report(fixture.business, MARCH_1, MARCH_2, "agent"))
    assert list(rows) == ["Ana Silva", "Ben Okoro", "Unassigned"]
    ana, ben, nobody = rows.values()
    assert ana.key == fixture.ana.user_id and nobody.key is None
    assert (ana.opened, ana.resolved, ana.reopened) == (2, 2, 1)
    # C4 300 s, C1 600 s; resolutions 7,200 and 97,200 s.
    assert (ana.first_response.median, ana.first_response.p90) == (450, 570)
    assert ana.resolution.median == 52200
    assert ana.resolution.p90 == pytest.approx(88200)
    assert (ana.messages_in, ana.messages_out, ana.failed) == (3, 3, 2)
    # Ben: C2 (1,800 s) and C5 (86,400 s; opened before the range).
    assert (ben.opened, ben.resolved, ben.reopened) == (1, 1, 0)
    assert ben.first_response.median == 44100
    assert ben.first_response.p90 == pytest.approx(77940)
    assert (ben.messages_in, ben.messages_out) == (1, 2)
    assert (nobody.opened, nobody.first_response.median) == (1, 7200)


@pytest.mark.django_db
def test_by_channel_team_and_label(fixture):
    channels = by_name(report(fixture.business, MARCH_1, MARCH_2, "channel"))
    assert list(channels) == ["Alpha", "Beta"]
    alpha, beta = channels["Alpha"], channels["Beta"]
    assert (alpha.opened, alpha.resolved, alpha.reopened) == (2, 3, 1)
    assert (alpha.first_response.median, alpha.first_response.count) == (1800, 3)
    assert (alpha.messages_in, alpha.messages_out) == (3, 3)
    assert (beta.opened, beta.failed, beta.first_response.median) == (2, 2, 3750)

    teams = by_name(report(fixture.business, MARCH_1, MARCH_2, "team"))
    assert list(teams) == ["Support", "No team"]
    assert (teams["Support"].opened, teams["Support"].resolved) == (1, 2)
    assert teams["No team"].opened == 3

    labels = by_name(report(fixture.business, MARCH_1, MARCH_2, "label"))
    assert list(labels) == ["billing", "vip", "No label"]
    vip = labels["vip"]
    # C1 and C2: a conversation counts under each of its labels.
    assert (vip.opened, vip.resolved, vip.reopened) == (2, 3, 1)
    assert vip.first_response.median == 1200
    # 7,200, 23,400, 97,200: p90 at rank 1.8 = 23,400 + 0.8 x 73,800.
    assert vip.resolution.median == 23400
    assert vip.resolution.p90 == pytest.approx(82440)
    assert (labels["billing"].opened, labels["billing"].resolved) == (1, 1)
    # C3, C4 and C5: 300, 7,200, 86,400 s.
    assert labels["No label"].first_response.median == 7200
    assert labels["No label"].first_response.p90 == pytest.approx(70560)
    # C4's two failed replies: it has no label.
    assert (vip.failed, labels["billing"].failed, labels["No label"].failed) == (
        0,
        0,
        2,
    )
    assert labels["No label"].failed_reasons == [
        ("No reason given", 1),
        ("Rate limited", 1),
    ]


@pytest.mark.django_db
def test_a_single_day_range_and_an_empty_one(fixture):
    (only,) = report(fixture.business, MARCH_2, MARCH_2, "day").rows
    assert (only.opened, only.resolved, only.reopened) == (1, 1, 1)
    empty = report(fixture.business, dt.date(2026, 1, 1), dt.date(2026, 1, 3))
    assert [row.opened for row in empty.rows] == [0, 0, 0]
    assert empty.rows[0].first_response.median is None


def nine_to_six(zone: str):
    """Open seconds from 09:00 to 18:00 local, every day (a stand-in for the
    business's hours)."""
    tz = zoneinfo.ZoneInfo(zone)

    def open_seconds(start: dt.datetime, end: dt.datetime) -> float:
        total = 0.0
        day = start.astimezone(tz).date()
        while day <= end.astimezone(tz).date():
            opens = dt.datetime.combine(day, dt.time(9), tzinfo=tz)
            closes = dt.datetime.combine(day, dt.time(18), tzinfo=tz)
            total += max(0.0, (min(end, closes) - max(start, opens)).total_seconds())
            day += dt.timedelta(days=1)
        return total

    return open_seconds


@pytest.mark.django_db
def test_business_hours_count_only_open_seconds(fixture):
    result = report(
        fixture.business,
        MARCH_1,
        MARCH_2,
        "day",
        open_seconds=nine_to_six("America/Sao_Paulo"),
    )
    march_1, march_2 = result.rows
    assert result.business_hours
    # C1 09:00 -> 09:10 local: 600; C2 17:00 -> 17:30: 1,800; C5 from 02-28
    # 09:00 to 03-01 09:00: 9 h = 32,400 -> median 1,800.
    assert march_1.first_response.median == 1800
    assert march_1.first_response.p90 == pytest.approx(1800 + 0.8 * 30600)
    # C1 09:00 -> 11:00: 7,200; C2 17:00 -> 23:30: only 17:00-18:00, 3,600.
    assert march_1.resolution.median == 5400
    # C3 23:00 -> 01:00: closed all along, 0; C4 09:00 -> 09:05: 300.
    assert march_2.first_response.median == 150
    # C1 03-01 09:00 -> 03-02 12:00 local: 9 h + 3 h.
    assert march_2.resolution.median == 43200


@pytest.mark.django_db
def test_a_large_ingest_batch_is_counted_in_one_go(business):
    from channels_app.platforms.base import InboundContact, InboundMessage
    from channels_app.tests.factories import ChannelFactory
    from conversations.services import ingest
    from reports.models import ConversationDay

    channel = ChannelFactory(business=business)
    sent = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    ingest(
        channel=channel,
        items=[
            InboundMessage(
                platform_message_id=f"m{n}",
                thread_key=f"dm:u{n}",
                contact=InboundContact(external_id=f"u{n}", name=f"U{n}"),
                text="hi",
                sent_at=sent,
            )
            for n in range(400)
        ],
    )
    assert ConversationDay.objects.filter(business=business).count() == 400
    (day,) = report(business, MARCH_1, MARCH_2, "day").rows[:1]
    assert day.messages_in == 400


@pytest.mark.django_db
@pytest.mark.parametrize("group_by", ["day", "agent", "label"])
def test_times_worked_out_by_the_database_match_python(fixture, group_by):
    from reports.selectors import wall_seconds

    # (PostgreSQL computes wall-clock percentiles itself; an explicit
    # open_seconds takes the Python path.)
    fast = report(fixture.business, MARCH_1, MARCH_2, group_by)
    slow = report(
        fixture.business, MARCH_1, MARCH_2, group_by, open_seconds=wall_seconds
    )
    assert fast.rows == slow.rows
    assert any(row.first_response.count for row in fast.rows)


@pytest.mark.django_db
@pytest.mark.parametrize("group_by", ["day", "channel", "agent", "team", "label"])
@pytest.mark.parametrize(
    "zone, week",
    [
        # Every day 09:00-18:00 in the business's zone (as test_business_hours).
        ("America/Sao_Paulo", {day: [(540, 1080)] for day in range(7)}),
        # Weekdays only, split by lunch, overnight on Sunday into Monday, in
        # a zone with summer time (Europe/Lisbon: UTC+0 in March).
        (
            "Europe/Lisbon",
            {
                0: [(0, 120), (480, 720), (780, 1020)],
                1: [(480, 720), (780, 1020)],
                6: [(1320, 1440)],
            },
        ),
    ],
)
def test_business_hours_worked_out_by_the_database_match_python(
    fixture, group_by, zone, week
):
    from workspace.hours import WeeklyHours

    hours = WeeklyHours(zone=zoneinfo.ZoneInfo(zone), week=week)
    # (The bound method takes the database's path; a plain function Python's.)
    fast = report(
        fixture.business, MARCH_1, MARCH_2, group_by, open_seconds=hours.open_seconds
    )
    slow = report(
        fixture.business,
        MARCH_1,
        MARCH_2,
        group_by,
        open_seconds=lambda start, end: hours.open_seconds(start, end),
    )
    assert [row.key for row in fast.rows] == [row.key for row in slow.rows]
    for quick, exact in zip(fast.rows, slow.rows, strict=True):
        for name in ("first_response", "resolution"):
            a, b = getattr(quick, name), getattr(exact, name)
            assert a.count == b.count
            assert a.median == pytest.approx(b.median)
            assert a.p90 == pytest.approx(b.p90)
    # (C2, opened Sunday 20:00 and resolved Monday 02:30: in Lisbon 4 open
    # hours across midnight.)
    assert any(row.resolution.p90 for row in fast.rows)


@pytest.mark.django_db
def test_figures_stay_with_the_agent_who_had_the_conversation(fixture):
    # given: after the range, C1 (Ana's: first response, two resolutions, a
    # reopening) goes to Ben
    from reports.tests.conftest import change, utc

    change(
        fixture.conversations["c1"],
        fixture.admin,
        utc(3, 3, 9),
        assignee=fixture.ben.user,
    )

    # when
    rows = by_name(report(fixture.business, MARCH_1, MARCH_2, "agent"))

    # then: what happened while Ana had it stays hers; only "opened" (the
    # conversations as they are now) moves to Ben
    ana, ben = rows["Ana Silva"], rows["Ben Okoro"]
    assert (ana.resolved, ana.reopened, ana.first_response.count) == (2, 1, 2)
    assert (ana.messages_in, ana.messages_out) == (3, 3)
    assert (ana.opened, ben.opened) == (1, 2)
    assert (ben.resolved, ben.first_response.count) == (1, 2)

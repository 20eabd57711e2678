"""Business hours (`workspace.hours`, `workspace.selectors`): open or closed
at a moment, the next opening, open seconds between two moments, across
closed days, split days, hours past midnight and clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing.tests.factories import BusinessFactory
from workspace import selectors
from workspace.hours import BusinessHoursInvalid, WeeklyHours, week_parse
from workspace.services import business_hours_set

LISBON = ZoneInfo("Europe/Lisbon")
NEW_YORK = ZoneInfo("America/New_York")
H = 3600

# Monday to Friday 09:00-12:30 and 13:30-18:00; Saturday 10:00-14:00; Sunday closed.
SPLIT = [(9 * 60, 12 * 60 + 30), (13 * 60 + 30, 18 * 60)]
OFFICE = {**{day: SPLIT for day in range(5)}, 5: [(600, 840)], 6: []}


def at(zone, *parts) -> datetime:
    return datetime(*parts, tzinfo=zone)


def office(zone=LISBON) -> WeeklyHours:
    return WeeklyHours(zone=zone, week=OFFICE)


# 2026-03-02 is a Monday; 2026-03-07 a Saturday, 2026-03-08 a Sunday.
@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ((2026, 3, 2, 8, 59), False),
        ((2026, 3, 2, 9, 0), True),  # opening included
        ((2026, 3, 2, 12, 29), True),
        ((2026, 3, 2, 12, 30), False),  # closing excluded: lunch
        ((2026, 3, 2, 13, 30), True),
        ((2026, 3, 2, 18, 0), False),
        ((2026, 3, 7, 11, 0), True),  # Saturday
        ((2026, 3, 7, 15, 0), False),
        ((2026, 3, 8, 11, 0), False),  # Sunday: closed all day
    ],
)
def test_open_is_read_in_the_business_time_zone(moment, expected):
    assert office().is_open(at(LISBON, *moment)) is expected
    # the same wall time elsewhere is another moment
    assert office(NEW_YORK).is_open(at(NEW_YORK, *moment)) is expected


def test_the_next_opening_skips_lunch_closed_days_and_the_night():
    hours = office()

    assert hours.next_opening(at(LISBON, 2026, 3, 2, 12, 45)) == at(
        LISBON, 2026, 3, 2, 13, 30
    )
    # Saturday afternoon: Sunday is closed, so Monday 09:00
    assert hours.next_opening(at(LISBON, 2026, 3, 7, 15, 0)) == at(
        LISBON, 2026, 3, 9, 9, 0
    )
    # open now: now
    now = at(LISBON, 2026, 3, 2, 10, 0)
    assert hours.next_opening(now) == now


def test_hours_past_midnight_are_one_span_over_two_days():
    # Friday 20:00-24:00 and Saturday 00:00-02:00
    hours = WeeklyHours(zone=LISBON, week={4: [(1200, 1440)], 5: [(0, 120)]})

    assert hours.is_open(at(LISBON, 2026, 3, 7, 1, 0))
    assert not hours.is_open(at(LISBON, 2026, 3, 7, 2, 0))
    # written at 01:00 Saturday: closed since nothing; at 03:00 since 02:00
    assert hours.closed_since(at(LISBON, 2026, 3, 7, 1, 0)) is None
    assert hours.closed_since(at(LISBON, 2026, 3, 7, 3, 0)) == at(
        LISBON, 2026, 3, 7, 2, 0
    )
    assert hours.open_seconds(
        at(LISBON, 2026, 3, 6, 0, 0), at(LISBON, 2026, 3, 8, 0, 0)
    ) == pytest.approx(6 * H)


def test_open_seconds_count_only_open_hours():
    hours = office()
    friday_5pm = at(LISBON, 2026, 3, 6, 17, 0)
    monday_10am = at(LISBON, 2026, 3, 9, 10, 0)

    # Friday 17-18 (1 h), Saturday 10-14 (4 h), Monday 9-10 (1 h)
    assert hours.open_seconds(friday_5pm, monday_10am) == 6 * H
    # a whole week: 5 x 8 h + 4 h
    monday = at(LISBON, 2026, 3, 2)
    assert hours.open_seconds(monday, monday + timedelta(days=7)) == 44 * H
    assert hours.open_seconds(monday_10am, friday_5pm) == 0
    # inside one interval, to the second
    assert (
        hours.open_seconds(
            at(LISBON, 2026, 3, 2, 9, 0, 1), at(LISBON, 2026, 3, 2, 9, 0, 31)
        )
        == 30
    )


def test_a_clock_change_keeps_wall_hours_and_shortens_the_day():
    # Lisbon moves from 01:00 to 02:00 on Sunday 2026-03-29; New York from
    # 02:00 to 03:00 on Sunday 2026-03-08 and back on Sunday 2026-11-01.
    always = {day: [(0, 1440)] for day in range(7)}
    nine_to_six = {day: [(540, 1080)] for day in range(7)}
    lisbon = WeeklyHours(zone=LISBON, week=always)
    new_york = WeeklyHours(zone=NEW_YORK, week=nine_to_six)

    spring_day = (at(LISBON, 2026, 3, 29), at(LISBON, 2026, 3, 30))
    assert lisbon.open_seconds(*spring_day) == 23 * H

    # 09:00-18:00 is 9 hours on the days of both changes, at 09:00 local
    for day in ((2026, 3, 8), (2026, 11, 1)):
        start, end = at(NEW_YORK, *day), at(NEW_YORK, *day) + timedelta(days=1)
        assert new_york.open_seconds(start, end) == 9 * H
        assert new_york.is_open(at(NEW_YORK, *day, 9, 0))
        assert not new_york.is_open(at(NEW_YORK, *day, 8, 59))
    # Saturday night before the spring change: next opening is 09:00 EDT
    assert new_york.next_opening(at(NEW_YORK, 2026, 3, 7, 20, 0)) == datetime(
        2026, 3, 8, 13, 0, tzinfo=UTC
    )
    # and after the autumn one, 09:00 EST
    assert new_york.next_opening(at(NEW_YORK, 2026, 10, 31, 20, 0)) == datetime(
        2026, 11, 1, 14, 0, tzinfo=UTC
    )


def test_an_interval_in_the_skipped_hour_is_read_with_the_old_offset():
    # New York, 2026-03-08: 02:00-03:00 does not exist; 01:30-03:30 is 1 hour.
    hours = WeeklyHours(zone=NEW_YORK, week={6: [(90, 210)]})
    day = at(NEW_YORK, 2026, 3, 8)
    assert hours.open_seconds(day, day + timedelta(days=1)) == 1 * H


@pytest.mark.parametrize(
    ("day", "intervals", "words"),
    [
        ("tuesday", [{"opens": "18:00", "closes": "09:00"}], "close after it opens"),
        ("tuesday", [{"opens": "22:00", "closes": "02:00"}], "24:00"),
        ("friday", [{"opens": "9h", "closes": "12:00"}], "opening time is not"),
        ("friday", [{"opens": "09:00", "closes": "25:00"}], "closing time is not"),
        ("monday", [{"opens": "24:00", "closes": "24:00"}], "cannot open at 24:00"),
        (
            "wednesday",
            [
                {"opens": "09:00", "closes": "13:00"},
                {"opens": "12:00", "closes": "18:00"},
            ],
            "Intervals 1 and 2 overlap",
        ),
    ],
)
def test_a_bad_interval_is_refused_naming_its_day(day, intervals, words):
    week = {name: [] for name in ("monday", "tuesday", "wednesday", "thursday")}
    week |= {
        "friday": [],
        "saturday": [],
        "sunday": [{"opens": "10:00", "closes": "12:00"}],
    }
    week[day] = intervals

    with pytest.raises(BusinessHoursInvalid) as refused:
        week_parse(week)

    assert list(refused.value.errors) == [day]
    assert words in refused.value.errors[day][0]


def test_a_week_needs_its_seven_days_and_one_open_one():
    with pytest.raises(BusinessHoursInvalid) as refused:
        week_parse({"monday": [], "funday": []})
    assert "funday" in refused.value.errors
    assert "sunday" in refused.value.errors

    closed = {name: [] for name in ("monday", "tuesday", "wednesday", "thursday")}
    closed |= {"friday": [], "saturday": [], "sunday": []}
    with pytest.raises(BusinessHoursInvalid) as refused:
        week_parse(closed)
    assert list(refused.value.errors) == ["business_hours"]


@pytest.mark.django_db
def test_the_selectors_read_the_stored_hours_in_the_business_zone():
    business = BusinessFactory(time_zone="America/New_York")
    nine_am = at(NEW_YORK, 2026, 3, 2, 9, 0)

    # no hours set: always open
    assert selectors.is_open(business, nine_am - timedelta(hours=3))
    assert (
        selectors.open_seconds(business, nine_am, nine_am + timedelta(hours=2)) == 2 * H
    )

    business_hours_set(business=business, week=OFFICE)

    assert selectors.is_open(business, nine_am)
    assert not selectors.is_open(business, nine_am - timedelta(minutes=1))
    assert selectors.next_opening(business, nine_am - timedelta(hours=3)) == nine_am
    assert (
        selectors.open_seconds(business, nine_am, nine_am + timedelta(days=1)) == 8 * H
    )

    business_hours_set(business=business, week=None)
    assert selectors.business_hours(business) is None

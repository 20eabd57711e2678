"""Business hours: a week of open intervals in the business's time zone, and
the arithmetic on them (open now? next opening? open seconds between two
moments?) that away messages and response-time reports share.

A week is seven days, Monday (0) to Sunday (6); each day holds zero (closed)
or more intervals `(opens, closes)` in minutes since local midnight, with
`0 <= opens < closes <= 1440` (1440 is 24:00, the end of the day). Intervals
of one day never overlap. Hours past midnight are written as two intervals:
Friday 22:00-24:00 and Saturday 00:00-02:00; they join into one open span.

Every moment is computed from the local wall-clock time with `zoneinfo`, so
a day is as long as the calendar makes it: 09:00-18:00 is nine hours on
every day, and 00:00-24:00 is 23 hours on the day clocks go forward. A
local time that does not exist (inside the hour skipped in spring) is read
with the offset before the change, as `zoneinfo` does with `fold=0`; one
that happens twice (in autumn) is its first occurrence.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from django.utils.translation import gettext as _

DAY_MINUTES = 24 * 60
MAX_INTERVALS_PER_DAY = 6
WEEKDAYS = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_CLOCK = re.compile(r"\A([01]?\d|2[0-4]):([0-5]\d)\Z")

Interval = tuple[int, int]  # (opens, closes), minutes since local midnight


class BusinessHoursInvalid(ValueError):
    """A week that cannot be stored: `errors` maps a day name (`monday`), or
    `business_hours` for the week as a whole, to the sentences refusing it."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def clock(minutes: int) -> str:
    """Minutes since midnight as `HH:MM` (1440 is `24:00`)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_clock(text: str) -> int | None:
    """`HH:MM` (or `H:MM`, `24:00`) as minutes since midnight; None when it is
    not a time of day."""
    match = _CLOCK.match(text.strip())
    if not match:
        return None
    minutes = int(match[1]) * 60 + int(match[2])
    return minutes if minutes <= DAY_MINUTES else None


def week_parse(days: Mapping[str, Sequence[Mapping[str, str]]]) -> dict[int, list]:
    """Read the API's week, `{"monday": [{"opens": "09:00", "closes":
    "12:30"}, ...], ..., "sunday": []}`: all seven days, `[]` for a closed
    day. Returns {weekday: [(opens, closes), ...]} sorted by opening.

    Raises `BusinessHoursInvalid` naming every day refused: a missing or
    unknown day, a time that is not `HH:MM`, an interval that does not close
    after it opens (overnight hours are two intervals, the first ending at
    24:00), overlapping intervals, more than `MAX_INTERVALS_PER_DAY`, or a
    week closed on every day."""
    if not isinstance(days, Mapping):
        raise BusinessHoursInvalid(
            {
                "business_hours": [
                    _(
                        "Send an object with the seven days, monday to sunday, "
                        'each a list of {"opens": "HH:MM", "closes": "HH:MM"} '
                        "([] for closed), or null for no business hours."
                    )
                ]
            }
        )
    errors: dict[str, list[str]] = {}
    for name in days:
        if name not in WEEKDAYS:
            errors[str(name)[:40]] = [
                _("“%(name)s” is not a day; use monday, tuesday, … sunday.")
                % {"name": str(name)[:40]}
            ]
    week: dict[int, list[Interval]] = {}
    for weekday, name in enumerate(WEEKDAYS):
        if name not in days:
            errors[name] = [_("This day is missing; send [] for a day that is closed.")]
            continue
        try:
            week[weekday] = day_parse(days[name])
        except BusinessHoursInvalid as error:
            errors[name] = error.errors["day"]
    if not errors and not any(week.values()):
        errors["business_hours"] = [
            _(
                "Every day is closed. Give the hours of at least one day, or send "
                "null to have no business hours (always open)."
            )
        ]
    if errors:
        raise BusinessHoursInvalid(errors)
    return week


def day_parse(intervals: Sequence[Mapping[str, str]]) -> list[Interval]:
    """One day's intervals, `[{"opens": "09:00", "closes": "12:30"}, ...]`, as
    sorted (opens, closes) pairs. Raises `BusinessHoursInvalid` with the
    sentences under the key `day`; each names the interval by its number
    (1 for the first) and times."""
    if isinstance(intervals, str | bytes) or not isinstance(intervals, Sequence):
        raise BusinessHoursInvalid(
            {"day": [_('Give a list of {"opens": "HH:MM", "closes": "HH:MM"}.')]}
        )
    if len(intervals) > MAX_INTERVALS_PER_DAY:
        raise BusinessHoursInvalid(
            {
                "day": [
                    _("A day has at most %(count)d intervals.")
                    % {"count": MAX_INTERVALS_PER_DAY}
                ]
            }
        )
    problems: list[str] = []
    parsed: list[tuple[int, Interval]] = []
    for number, item in enumerate(intervals, start=1):
        if not isinstance(item, Mapping):
            problems.append(
                _('Interval %(number)d: give its "opens" and "closes" times.')
                % {"number": number}
            )
            continue
        opens_text, closes_text = (
            str(item.get("opens", "")),
            str(item.get("closes", "")),
        )
        opens, closes = parse_clock(opens_text), parse_clock(closes_text)
        label = _("Interval %(number)d (%(opens)s-%(closes)s)") % {
            "number": number,
            "opens": opens_text[:12],
            "closes": closes_text[:12],
        }
        if opens is None:
            problems.append(
                _(
                    "%(interval)s: the opening time is not a time of day; write "
                    "it as HH:MM, from 00:00 to 24:00."
                )
                % {"interval": label}
            )
        elif closes is None:
            problems.append(
                _(
                    "%(interval)s: the closing time is not a time of day; write "
                    "it as HH:MM, from 00:00 to 24:00."
                )
                % {"interval": label}
            )
        elif opens == DAY_MINUTES:
            problems.append(
                _("%(interval)s: a day cannot open at 24:00.") % {"interval": label}
            )
        elif closes <= opens:
            problems.append(
                _(
                    "%(interval)s: it must close after it opens. For hours past "
                    "midnight, close this day at 24:00 and open the next day at "
                    "00:00."
                )
                % {"interval": label}
            )
        else:
            parsed.append((number, (opens, closes)))
    parsed.sort(key=lambda pair: pair[1])
    for (first, a), (second, b) in pairwise(parsed):
        if b[0] < a[1]:
            problems.append(
                _(
                    "Intervals %(first)d and %(second)d overlap (%(a)s and %(b)s); "
                    "join them or move one."
                )
                % {
                    "first": min(first, second),
                    "second": max(first, second),
                    "a": f"{clock(a[0])}-{clock(a[1])}",
                    "b": f"{clock(b[0])}-{clock(b[1])}",
                }
            )
    if problems:
        raise BusinessHoursInvalid({"day": problems})
    return [interval for _, interval in parsed]


def week_show(week: Mapping[int, Sequence[Interval]]) -> dict[str, list[dict]]:
    """The API's shape of `week` (see `week_parse`)."""
    return {
        name: [
            {"opens": clock(opens), "closes": clock(closes)}
            for opens, closes in sorted(week.get(weekday, ()))
        ]
        for weekday, name in enumerate(WEEKDAYS)
    }


def zone_of(name: str) -> zoneinfo.ZoneInfo:
    """The time zone named `name`, UTC when it is not one."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


@dataclass(frozen=True)
class WeeklyHours:
    """A week of open intervals (see the module's docstring) in `zone`.

    Every method takes and returns aware datetimes (any zone in, UTC out)."""

    zone: zoneinfo.ZoneInfo
    week: Mapping[int, Sequence[Interval]]

    def _local_moment(self, day: date, minutes: int) -> datetime:
        wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
        if minutes == DAY_MINUTES:  # 24:00 is the next day's midnight
            wall = datetime.combine(day + timedelta(days=1), time())
        return wall.replace(tzinfo=self.zone).astimezone(UTC)

    def _day_spans(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        for opens, closes in sorted(self.week.get(day.weekday(), ())):
            start = self._local_moment(day, opens)
            end = self._local_moment(day, closes)
            if start < end:
                yield start, end

    def spans(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The open spans meeting [start, end], joined where one ends as the
        next begins (Friday 22:00-24:00 and Saturday 00:00-02:00 are one
        span), in order, NOT clipped to [start, end]. Costs one step per day."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        first = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date() + timedelta(days=1)
        joined: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            for span_start, span_end in self._day_spans(day):
                if joined and span_start <= joined[-1][1]:
                    if span_end > joined[-1][1]:
                        joined[-1] = (joined[-1][0], span_end)
                else:
                    joined.append((span_start, span_end))
            day += timedelta(days=1)
        return [(a, b) for a, b in joined if b >= start and a <= end]

    def is_open(self, at: datetime) -> bool:
        """Whether `at` falls in an open interval (opening included, closing
        excluded)."""
        return any(a <= at < b for a, b in self.spans(at, at))

    def next_opening(self, at: datetime) -> datetime | None:
        """`at` (in UTC) when open then; else the next moment it opens. None
        only for a week with no interval at all."""
        for a, b in self.spans(at, at + timedelta(days=8)):
            if a <= at < b:
                return at.astimezone(UTC)
            if a > at:
                return a
        return None

    def closed_since(self, at: datetime) -> datetime | None:
        """When the closed period holding `at` began (the end of the last open
        span); None when open at `at` or for a week with no interval."""
        last = None
        for a, b in self.spans(at - timedelta(days=8), at):
            if a <= at < b:
                return None
            if b <= at:
                last = b
        return last

    def open_seconds(self, start: datetime, end: datetime) -> float:
        """Seconds of [start, end] inside open hours (0 when `end` is not after
        `start`): a reply to a message written at Friday 17:00 sent on
        Monday 10:00, with 09:00-18:00 on weekdays, took 2 open hours."""
        # In UTC: Python subtracts two datetimes of one zone as wall times.
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return 0.0
        return sum(
            (min(b, end) - max(a, start)).total_seconds()
            for a, b in self.spans(start, end)
            if min(b, end) > max(a, start)
        )


def weekly_hours_of(
    zone_name: str, rows: Iterable[tuple[int | None, int | None, int | None]]
) -> WeeklyHours | None:
    """The `WeeklyHours` in the time zone named `zone_name` (`zone_of`) of
    `rows`, (weekday, opens, closes) as an `OpeningInterval` stores them; a
    row whose weekday is None (an outer join that found no interval) is left
    out. None when no interval is left: always open."""
    week: dict[int, list[Interval]] = {}
    for weekday, opens, closes in rows:
        if weekday is not None:
            week.setdefault(weekday, []).append((opens, closes))
    if not week:
        return None
    return WeeklyHours(zone=zone_of(zone_name), week=week)

"""`short_time` and `full_time`: how the inbox shows when something happened.

The rule (the same as `static/inbox/times.js`, which takes over in the browser,
in the browser's time zone, and keeps it current every 30 seconds):

| how long ago (or when)                          | shown        |
| ----------------------------------------------- | ------------ |
| less than 1 minute (or up to 1 minute ahead)    | `just now`   |
| less than 60 minutes                            | `5 min`      |
| earlier today (or later today)                  | `14:02`      |
| yesterday up to 6 days ago                      | `Tue 14:02`  |
| earlier this year (or a later day)              | `3 Dec`      |
| an earlier year                                 | `3 Dec 2025` |

"Today", "days ago" and "this year" are calendar days and years in the time
zone used (here: the zone passed, else Django's current time zone, which is
`settings.TIME_ZONE`). `full_time` is the complete date and time for the
element's `title`: `Sat 5 Dec 2026, 14:02`. `day_time` is for what stays
put (a thread's entries, a delivery attempt): `5 Dec, 14:02`. Use the first
two on a `<time>` element:

    <time datetime="{{ t|date:'c' }}" data-relative title="{{ t|full_time }}">
      {{ t|short_time }}</time>
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy

register = template.Library()

# In the active language (pingback/i18n.py); the same words as times.js.
_DAYS = (
    pgettext_lazy("abbreviated weekday", "Mon"),
    pgettext_lazy("abbreviated weekday", "Tue"),
    pgettext_lazy("abbreviated weekday", "Wed"),
    pgettext_lazy("abbreviated weekday", "Thu"),
    pgettext_lazy("abbreviated weekday", "Fri"),
    pgettext_lazy("abbreviated weekday", "Sat"),
    pgettext_lazy("abbreviated weekday", "Sun"),
)
_MONTHS = (
    pgettext_lazy("abbreviated month", "Jan"),
    pgettext_lazy("abbreviated month", "Feb"),
    pgettext_lazy("abbreviated month", "Mar"),
    pgettext_lazy("abbreviated month", "Apr"),
    pgettext_lazy("abbreviated month", "May"),
    pgettext_lazy("abbreviated month", "Jun"),
    pgettext_lazy("abbreviated month", "Jul"),
    pgettext_lazy("abbreviated month", "Aug"),
    pgettext_lazy("abbreviated month", "Sep"),
    pgettext_lazy("abbreviated month", "Oct"),
    pgettext_lazy("abbreviated month", "Nov"),
    pgettext_lazy("abbreviated month", "Dec"),
)


def _zone(name: str | None) -> tzinfo:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezone.get_current_timezone()


def _clock(local: datetime) -> str:
    """`14:02` of a local datetime."""
    return f"{local.hour:02d}:{local.minute:02d}"


def _day_month(local: datetime) -> str:
    """`3 Dec` of a local datetime, the month in the active language."""
    return f"{local.day} {_MONTHS[local.month - 1]}"


def short_time_text(value: datetime, now: datetime, zone: tzinfo) -> str:
    """`value` as the inbox shows it at `now` in `zone` (see the module's
    rule). Both datetimes are aware."""
    seconds = (now - value).total_seconds()
    if -60 < seconds < 60:
        return gettext("just now")
    if 0 < seconds < 3600:
        return gettext("%(minutes)d min") % {"minutes": int(seconds // 60)}
    local, today = value.astimezone(zone), now.astimezone(zone)
    days = (today.date() - local.date()).days
    if days == 0:
        return _clock(local)
    if 0 < days <= 6:
        return f"{_DAYS[local.weekday()]} {_clock(local)}"
    if local.year == today.year:
        return _day_month(local)
    return f"{_day_month(local)} {local.year}"


def full_time_text(value: datetime, zone: tzinfo) -> str:
    """`Sat 5 Dec 2026, 14:02` in `zone`."""
    local = value.astimezone(zone)
    return f"{_DAYS[local.weekday()]} {_day_month(local)} {local.year}, {_clock(local)}"


def day_time_text(
    value: datetime, now: datetime, zone: tzinfo, *, seconds=False
) -> str:
    """`5 Dec, 14:02` in `zone` (`5 Dec 2025, 14:02` in another year than
    `now`'s; `14:02:09` with `seconds`), the month in the active language."""
    local = value.astimezone(zone)
    day = _day_month(local)
    if local.year != now.astimezone(zone).year:
        day = f"{day} {local.year}"
    clock = _clock(local)
    if seconds:
        clock = f"{clock}:{local.second:02d}"
    return f"{day}, {clock}"


@register.filter
def day_time(value: datetime | None, precision: str = "") -> str:
    """`{{ when|day_time }}`: the day and time of a thread's entries, an
    attempt, a rating, in the current time zone: `5 Dec, 14:02`, with the
    year when it is not this year (`5 Dec 2025, 14:02`);
    `{{ when|day_time:"seconds" }}` adds the seconds (`5 Dec, 14:02:09`).
    The month in the active language, after the day (`5 dic, 14:02`).
    Empty for None."""
    if value is None:
        return ""
    return day_time_text(
        value,
        timezone.now(),
        timezone.get_current_timezone(),
        seconds=precision == "seconds",
    )


@register.filter
def short_time(value: datetime | None, zone_name: str = "") -> str:
    """`{{ when|short_time }}` or `{{ when|short_time:"Europe/Lisbon" }}`:
    `just now`, `5 min`, `14:02`, `Tue 14:02`, `3 Dec` or `3 Dec 2025`
    (empty for None). An unknown zone name falls back to the current zone."""
    if value is None:
        return ""
    return short_time_text(value, timezone.now(), _zone(zone_name))


@register.filter
def full_time(value: datetime | None, zone_name: str = "") -> str:
    """`{{ when|full_time }}`: `Sat 5 Dec 2026, 14:02` (empty for None)."""
    if value is None:
        return ""
    return full_time_text(value, _zone(zone_name))

"""Snooze presets ("1 hour", "Tomorrow 9:00", "Next week"), computed in the
business's time zone (`Business.time_zone`, an IANA name; an invalid or
unknown name counts as UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext

from billing.models import Business

# The hour "tomorrow" and "next week" presets wake at, in the business's zone.
MORNING = time(9, 0)


@dataclass(frozen=True)
class SnoozePreset:
    """One choice of the snooze menu: `key` (`1h`, `tomorrow`, `next_week`),
    `label` for people, `until` an aware datetime (in the business's zone)."""

    key: str
    label: str
    until: datetime


@lru_cache(maxsize=1)
def time_zone_names() -> frozenset[str]:
    """Every IANA time zone name this system knows (zoneinfo)."""
    return frozenset(available_timezones())


def validate_time_zone(value: str) -> None:
    """Django validator: `value` must be an IANA time zone name
    (`Europe/Lisbon`). Raises `ValidationError`."""
    if value not in time_zone_names():
        raise ValidationError(
            "%(value)s is not a time zone name (e.g. Europe/Lisbon or UTC).",
            params={"value": value},
            code="invalid_time_zone",
        )


def business_zone(business: Business) -> tzinfo:
    """The business's time zone; UTC when its name is invalid."""
    return zone_named(business.time_zone)


def zone_named(name: str | None) -> tzinfo:
    """The zone called `name`; UTC for an empty, invalid or unknown name."""
    if not name or name not in time_zone_names():
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _at_local(day: datetime, at: time, zone: tzinfo) -> datetime:
    """`at` on the local date of `day`, as an aware datetime in `zone`. A
    time that does not exist that day (skipped by a DST change) moves forward
    by the gap; an ambiguous one is the first (fold=0)."""
    naive = datetime.combine(day.date(), at)
    return snooze_until_from_zone(naive, zone)


def snooze_until_from_zone(local: datetime, zone: tzinfo) -> datetime:
    """A naive wall-clock time in `zone` as an aware datetime (in `zone`).
    Wall times skipped by a DST change move forward by the gap."""
    aware = local.replace(tzinfo=zone)
    # Round-trip through UTC: a skipped time comes back shifted.
    return aware.astimezone(UTC).astimezone(zone)


def snooze_until_from_local(business: Business, local: datetime) -> datetime:
    """A custom snooze time typed as a naive wall-clock time in the business's
    zone, as an aware datetime. An aware `local` is only converted. Raises
    nothing; whether it is in the future is `conversation_update`'s check."""
    zone = business_zone(business)
    if local.tzinfo is not None:
        return local.astimezone(zone)
    return snooze_until_from_zone(local, zone)


def snooze_presets(
    business: Business, now: datetime | None = None
) -> list[SnoozePreset]:
    """The snooze menu at `now` (default: the current time): in one hour;
    tomorrow at 9:00; next Monday at 9:00 (a week on when today is Monday),
    all in the business's zone and returned as aware datetimes in it."""
    zone = business_zone(business)
    local_now = (now or timezone.now()).astimezone(zone)
    tomorrow = local_now + timedelta(days=1)
    days_to_monday = (7 - local_now.weekday()) % 7 or 7
    monday = local_now + timedelta(days=days_to_monday)
    return [
        SnoozePreset(
            "1h",
            gettext("1 hour"),
            (local_now.astimezone(UTC) + timedelta(hours=1)).astimezone(zone),
        ),
        SnoozePreset(
            "tomorrow", gettext("Tomorrow 9:00"), _at_local(tomorrow, MORNING, zone)
        ),
        SnoozePreset(
            "next_week",
            gettext("Next week (Monday 9:00)"),
            _at_local(monday, MORNING, zone),
        ),
    ]


def business_zone_by_id(business_id: object) -> tzinfo:
    """The time zone of business `business_id` (one query); UTC when its name
    is invalid or the business is gone."""
    name = (
        Business.objects.filter(pk=business_id)
        .values_list("time_zone", flat=True)
        .first()
    )
    return zone_named(name)

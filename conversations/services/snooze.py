"""Snooze presets in the business's time zone (a first version; see
`snooze_presets`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from billing.models import Business


@dataclass(frozen=True)
class SnoozePreset:
    key: str
    label: str
    until: datetime


def business_zone(business: Business) -> ZoneInfo:
    try:
        return ZoneInfo(business.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def snooze_presets(
    business: Business, now: datetime | None = None
) -> list[SnoozePreset]:
    """1 hour, tomorrow 9:00 and next Monday 9:00, in the business's zone."""
    zone = business_zone(business)
    now = (now or timezone.now()).astimezone(zone)
    tomorrow = (now + timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    monday = (now + timedelta(days=7 - now.weekday())).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    return [
        SnoozePreset("hour", "1 hour", now + timedelta(hours=1)),
        SnoozePreset("tomorrow", "Tomorrow 9:00", tomorrow),
        SnoozePreset("next_week", "Next week (Monday 9:00)", monday),
    ]


def snooze_until_from_local(business: Business, local: datetime) -> datetime:
    """A naive time typed in the business's zone, as an aware datetime."""
    return local.replace(tzinfo=business_zone(business))

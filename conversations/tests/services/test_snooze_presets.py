"""Snooze presets and custom snooze times in the business's time zone, across
daylight-saving changes; the snooze activity entry shows that zone."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from billing.tests.factories import BusinessFactory
from conversations.models import Message
from conversations.services import conversation_update
from conversations.services.snooze import (
    snooze_presets,
    snooze_until_from_local,
    validate_time_zone,
)
from conversations.tests.factories import ConversationFactory

NEW_YORK = "America/New_York"


def presets(zone: str, now: datetime) -> dict[str, tuple[str, datetime]]:
    business = BusinessFactory.build(time_zone=zone)
    return {p.key: (p.label, p.until) for p in snooze_presets(business, now=now)}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_presets_in_new_york_the_day_before_clocks_go_forward():
    # Saturday 7 March 2026, 15:00 EST; clocks go forward on Sunday 8 March.
    found = presets(NEW_YORK, utc(2026, 3, 7, 20, 0))

    assert found["1h"] == ("1 hour", utc(2026, 3, 7, 21, 0))
    # 9:00 EDT (UTC-4), no longer EST.
    assert found["tomorrow"] == ("Tomorrow 9:00", utc(2026, 3, 8, 13, 0))
    assert found["next_week"] == ("Next week (Monday 9:00)", utc(2026, 3, 9, 13, 0))
    assert str(found["tomorrow"][1].tzinfo) == NEW_YORK
    assert found["tomorrow"][1].hour == 9


def test_one_hour_across_the_skipped_hour_is_one_real_hour():
    # Sunday 8 March 2026, 01:30 EST: an hour later the clocks read 03:30 EDT.
    found = presets(NEW_YORK, utc(2026, 3, 8, 6, 30))

    assert found["1h"][1] == utc(2026, 3, 8, 7, 30)
    assert (found["1h"][1].hour, found["1h"][1].minute) == (3, 30)


def test_presets_the_day_before_clocks_go_back_and_on_a_monday():
    # Saturday 31 October 2026, 12:00 EDT; clocks go back on Sunday 1 November.
    found = presets(NEW_YORK, utc(2026, 10, 31, 16, 0))
    assert found["tomorrow"][1] == utc(2026, 11, 1, 14, 0)  # 9:00 EST
    assert found["next_week"][1] == utc(2026, 11, 2, 14, 0)

    # Monday 2 November, 10:00 EST: next week is the Monday after.
    monday = presets(NEW_YORK, utc(2026, 11, 2, 15, 0))
    assert monday["next_week"][1] == utc(2026, 11, 9, 14, 0)


def test_tomorrow_is_the_business_day_not_the_utc_day():
    # 23:30 UTC on Tuesday is 08:30 on Wednesday in Tokyo.
    found = presets("Asia/Tokyo", utc(2026, 6, 2, 23, 30))

    assert found["tomorrow"][1] == utc(2026, 6, 4, 0, 0)  # Thu 9:00 JST


def test_an_invalid_zone_counts_as_utc():
    found = presets("Mars/Olympus_Mons", utc(2026, 6, 2, 10, 0))

    assert found["tomorrow"][1] == utc(2026, 6, 3, 9, 0)
    assert found["tomorrow"][1].utcoffset().total_seconds() == 0


def test_a_custom_time_is_read_in_the_business_zone():
    business = BusinessFactory.build(time_zone=NEW_YORK)

    assert snooze_until_from_local(business, datetime(2026, 7, 1, 9, 0)) == utc(
        2026, 7, 1, 13, 0
    )
    # 02:30 does not exist on 8 March 2026 in New York: it moves on by the gap.
    skipped = snooze_until_from_local(business, datetime(2026, 3, 8, 2, 30))
    assert skipped == utc(2026, 3, 8, 7, 30)
    assert (skipped.hour, skipped.minute) == (3, 30)


def test_time_zone_names_are_validated():
    validate_time_zone("Europe/Lisbon")
    validate_time_zone("UTC")
    with pytest.raises(ValidationError):
        validate_time_zone("Europe/Atlantis")
    with pytest.raises(ValidationError):
        validate_time_zone("")


@pytest.mark.django_db
def test_the_snooze_activity_entry_shows_the_business_time_zone(business):
    business.time_zone = NEW_YORK
    business.save()
    conversation = ConversationFactory(business=business)

    conversation_update(
        conversation=conversation,
        by=None,
        status="snoozed",
        snoozed_until=utc(2099, 1, 13, 14, 0),
    )

    entry = Message.objects.get(conversation=conversation, kind="activity")
    assert entry.text == "Snoozed until Tue 13 Jan 09:00 EST by PingBack"

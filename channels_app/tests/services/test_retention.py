"""Raw webhook bodies are purged after their retention, in batches, and
events not processed yet are never purged (channels_app/services/retention.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_app.models import InboundEvent
from channels_app.tasks import purge_inbound_events
from channels_app.tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def retention(settings):
    settings.PINGBACK_RAW_EVENT_RETENTION_DAYS = 30
    settings.PINGBACK_FAILED_EVENT_RETENTION_DAYS = 90
    settings.RAW_EVENT_PURGE_BATCH = 1000
    settings.RAW_EVENT_PURGE_MAX_SECONDS = 60
    return settings


def stored(channel, status: str, days_old: float, key: str) -> InboundEvent:
    event = InboundEvent.objects.create(
        channel=channel,
        event_key=None if status == "malformed" else key,
        body=b'{"text": "hello"}',
        status=status,
    )
    InboundEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(days=days_old)
    )
    return event


def keys_left() -> set[str]:
    return {
        event.event_key or f"malformed-{event.error}"
        for event in InboundEvent.objects.all()
    }


def test_each_kind_of_event_is_kept_for_its_own_time(retention):
    channel = ChannelFactory()
    stored(channel, "processed", 31, "processed-old")
    stored(channel, "ignored", 31, "ignored-old")
    stored(channel, "processed", 29, "processed-recent")
    stored(channel, "failed", 31, "failed-kept")
    stored(channel, "failed", 91, "failed-old")
    malformed_kept = stored(channel, "malformed", 31, "")
    InboundEvent.objects.filter(pk=malformed_kept.pk).update(error="kept")
    malformed_old = stored(channel, "malformed", 91, "")
    InboundEvent.objects.filter(pk=malformed_old.pk).update(error="old")
    # Never processed: kept however old (deleting it would lose a message).
    stored(channel, "received", 400, "received-old")
    stored(channel, "processing", 400, "processing-old")

    assert purge_inbound_events() == 4

    assert keys_left() == {
        "processed-recent",
        "failed-kept",
        "malformed-kept",
        "received-old",
        "processing-old",
    }


def test_zero_days_keeps_them_forever(retention):
    retention.PINGBACK_RAW_EVENT_RETENTION_DAYS = 0
    retention.PINGBACK_FAILED_EVENT_RETENTION_DAYS = 0
    channel = ChannelFactory()
    stored(channel, "processed", 4000, "processed-ancient")
    stored(channel, "failed", 4000, "failed-ancient")

    assert purge_inbound_events() == 0
    assert keys_left() == {"processed-ancient", "failed-ancient"}


def test_the_purge_deletes_in_batches_until_none_is_left(retention):
    retention.RAW_EVENT_PURGE_BATCH = 2
    channel = ChannelFactory()
    for index in range(5):
        stored(channel, "processed", 40, f"old-{index}")
    stored(channel, "processed", 1, "new")

    with CaptureQueriesContext(connection) as queries:
        assert purge_inbound_events() == 5

    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]
    # 2 + 2 + 1 rows: three short statements, none over the batch size.
    assert len(deletes) == 3
    assert all("LIMIT 2" in sql for sql in deletes)
    assert keys_left() == {"new"}


def test_a_run_stops_after_its_time_budget_and_the_next_goes_on(retention):
    retention.RAW_EVENT_PURGE_BATCH = 2
    retention.RAW_EVENT_PURGE_MAX_SECONDS = 0
    channel = ChannelFactory()
    for index in range(5):
        stored(channel, "ignored", 40, f"old-{index}")

    assert purge_inbound_events() == 2
    assert purge_inbound_events() == 2
    assert purge_inbound_events() == 1
    assert keys_left() == set()

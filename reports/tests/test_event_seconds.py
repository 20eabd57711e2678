"""Each report event stores its wall-clock seconds (`ConversationEvent.
seconds`) when written, and migration reports/0008 fills the rows stored
before the column: the value reports measured from the two moments, so the
figures do not move."""

from __future__ import annotations

import datetime as dt
import importlib
from datetime import UTC

import pytest
from django.apps import apps
from django.db import connection

from reports.models import ConversationEvent
from reports.selectors import GROUPS, report
from reports.services import seconds_between
from reports.tests.conftest import change, customer_writes, reply

MARCH = (dt.date(2026, 2, 1), dt.date(2026, 3, 31))


def _backfill() -> None:
    module = importlib.import_module("reports.migrations.0008_backfill_event_seconds")
    module.backfill(apps, None)


def _measured_by_the_database() -> dict[int, float]:
    """Each event's seconds as reports worked them out before the column."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, GREATEST(0, date_part('epoch', at - opened_at)) "
            "FROM reports_conversationevent"
        )
        return dict(cursor.fetchall())


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="compared with PostgreSQL's own interval arithmetic",
)
@pytest.mark.django_db
def test_events_store_their_seconds_when_written(fixture):
    c1 = fixture.conversations["c1"]
    stored = {
        (e.kind, e.seconds)
        for e in ConversationEvent.objects.filter(conversation=c1).order_by("at")
    }
    # C1: answered after 10 minutes, resolved after 2 h, reopened by the
    # customer 25 h after the opening and resolved again after 27 h.
    assert stored == {
        ("first_response", 600.0),
        ("resolved", 7200.0),
        ("reopened", 90000.0),
        ("resolved", 97200.0),
    }
    events = ConversationEvent.objects.all()
    assert events.count() == 18  # (nine in each business)
    assert not events.filter(seconds=None).exists()
    measured = _measured_by_the_database()
    assert {e.pk: e.seconds for e in events} == measured


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="compared with PostgreSQL's own interval arithmetic",
)
@pytest.mark.django_db
def test_seconds_with_microseconds_equal_the_database_to_the_last_bit(fixture):
    # given: a conversation opened and answered at odd microseconds, days apart
    opened = dt.datetime(2026, 3, 1, 12, 0, 0, 123457, tzinfo=UTC)
    conversation = customer_writes(fixture.alpha, "odd", opened)
    reply(conversation, fixture.ana, opened + dt.timedelta(days=3, microseconds=1))
    change(
        conversation, fixture.ana, opened + dt.timedelta(seconds=0.3), status="resolved"
    )

    # then: the stored seconds are what PostgreSQL computes from the moments
    events = ConversationEvent.objects.filter(conversation=conversation)
    assert sorted(e.seconds for e in events) == [
        pytest.approx(0.3),
        pytest.approx(259200.000001),
    ]
    measured = _measured_by_the_database()
    for event in events:
        assert event.seconds == measured[event.pk]  # exactly, not approx


def test_an_event_before_its_opening_counts_zero_seconds():
    opened = dt.datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert seconds_between(opened, opened - dt.timedelta(seconds=5)) == 0.0
    assert seconds_between(opened, opened) == 0.0
    assert seconds_between(opened, opened + dt.timedelta(days=1, seconds=1.5)) == (
        86401.5
    )


@pytest.mark.django_db
def test_the_backfill_fills_the_rows_stored_before_the_column(fixture):
    # given: the figures, then every event as stored before the column
    before = {g: report(fixture.business, *MARCH, g) for g in GROUPS}
    stored = dict(ConversationEvent.objects.values_list("pk", "seconds"))
    ConversationEvent.objects.update(seconds=None)

    # then: reports still give the same figures from the two moments
    for group_by in GROUPS:
        assert report(fixture.business, *MARCH, group_by) == before[group_by]

    # when: the migration's backfill runs (twice: rerunning is harmless)
    _backfill()
    _backfill()

    # then: every row has the seconds it would have been written with
    assert dict(ConversationEvent.objects.values_list("pk", "seconds")) == stored
    for group_by in GROUPS:
        assert report(fixture.business, *MARCH, group_by) == before[group_by]


@pytest.mark.django_db
def test_the_backfill_leaves_rows_already_filled(fixture):
    # given: one row written since (its seconds set), the others empty
    kept = ConversationEvent.objects.order_by("pk").first()
    ConversationEvent.objects.exclude(pk=kept.pk).update(seconds=None)
    ConversationEvent.objects.filter(pk=kept.pk).update(seconds=12.5)

    _backfill()

    kept.refresh_from_db()
    assert kept.seconds == 12.5
    assert not ConversationEvent.objects.filter(seconds=None).exists()

"""Ingest wakes snoozed conversations inside its batched writes: clearing the
snooze rides on the existing counters UPDATE, and the "Reopened by the
customer" entries are one INSERT for the whole batch."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation, Message
from conversations.services import ingest

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def batch(prefix: str, customers: int, per_customer: int) -> list[InboundMessage]:
    return [
        InboundMessage(
            platform_message_id=f"{prefix}-{c}-{n}",
            thread_key=f"dm:{prefix}{c}",
            contact=InboundContact(external_id=f"{prefix}{c}", name=f"C{c}"),
            text=f"message {n}",
            sent_at=T0 + timedelta(minutes=n),
        )
        for c in range(customers)
        for n in range(per_customer)
    ]


def snoozed_then_written_to(business, customers: int) -> tuple[int, object]:
    """Queries of a batch of 3 messages per customer to `customers`
    conversations that were snoozed (until the customer answers, or until a
    time still to come); and the channel."""
    channel = ChannelFactory(business=business)
    prefix = f"{customers}x"
    ingest(channel=channel, items=batch(prefix, customers, 1))
    conversations = Conversation.objects.filter(channel=channel)
    half = list(conversations.values_list("pk", flat=True))[: customers // 2]
    conversations.update(status="snoozed")
    conversations.filter(pk__in=half).update(snoozed_until=T0 + timedelta(days=900))
    later = [
        InboundMessage(
            **{**vars(item), "platform_message_id": item.platform_message_id + "b"}
        )
        for item in batch(prefix, customers, 3)
    ]
    with CaptureQueriesContext(connection) as queries:
        ingest(channel=channel, items=later)
    return len(queries), channel


def test_a_batch_wakes_its_snoozed_conversations_in_constant_queries(business):
    # when
    few, few_channel = snoozed_then_written_to(business, 2)
    # 12 customers, 36 messages: one INSERT on SQLite too, whose statements
    # hold at most 999 parameters (Django splits bigger batches).
    many, many_channel = snoozed_then_written_to(business, 12)

    # then
    assert few == many
    for channel, count in ((few_channel, 2), (many_channel, 12)):
        assert list(
            Conversation.objects.filter(channel=channel)
            .values_list("status", "snoozed_until")
            .distinct()
        ) == [("open", None)]
        assert (
            Message.objects.filter(
                channel=channel, kind="activity", text="Reopened by the customer"
            ).count()
            == count
        )


def test_waking_costs_one_insert_more_than_a_batch_with_nothing_snoozed(business):
    # given: the same batch, to open conversations
    channel = ChannelFactory(business=business)
    ingest(channel=channel, items=batch("o", 5, 1))
    open_batch = [
        InboundMessage(
            **{**vars(item), "platform_message_id": item.platform_message_id + "b"}
        )
        for item in batch("o", 5, 3)
    ]
    with CaptureQueriesContext(connection) as open_queries:
        ingest(channel=channel, items=open_batch)

    # when
    snoozed, _ = snoozed_then_written_to(business, 5)

    # then
    assert snoozed == len(open_queries) + 1

"""Delivery receipts: forward only, and held when they beat the send's record."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.platforms.base import DeliveryStatus
from conversations.models import Message, PendingReceipt
from conversations.services.receipts import (
    pending_receipts_purge,
    receipt_apply,
    receipts_release,
)
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def outbound(**fields) -> Message:
    fields.setdefault("status", "sent")
    return MessageFactory(
        conversation=ConversationFactory(), direction="outbound", **fields
    )


def receipt(platform_id: str, status: str, error: str = "") -> DeliveryStatus:
    return DeliveryStatus(
        platform_message_id=platform_id,
        status=status,
        occurred_at=timezone.now(),
        error=error,
    )


def test_receipts_move_a_message_forward_only():
    message = outbound(platform_message_id="wamid.1")
    channel = message.channel

    assert receipt_apply(channel=channel, receipt=receipt("wamid.1", "read")) == 1
    assert receipt_apply(channel=channel, receipt=receipt("wamid.1", "delivered")) == 0
    assert receipt_apply(channel=channel, receipt=receipt("wamid.1", "failed")) == 0

    message.refresh_from_db()
    assert message.status == "read"


def test_a_receipt_that_beats_the_send_record_is_applied_when_the_send_is_recorded():
    # given: the worker sent the message but has not stored the platform id yet
    message = outbound(platform_message_id=None, status="sending")
    channel = message.channel

    # when: the platform's "delivered" arrives first
    applied = receipt_apply(channel=channel, receipt=receipt("SM123", "delivered"))

    # then it is held, not lost
    assert applied == 0
    assert PendingReceipt.objects.filter(platform_message_id="SM123").count() == 1

    # when: the send is recorded
    Message.objects.filter(pk=message.pk).update(
        status="sent", platform_message_id="SM123"
    )
    receipts_release(
        channel_id=channel.pk, message_id=message.pk, platform_message_id="SM123"
    )

    # then
    message.refresh_from_db()
    assert message.status == "delivered"
    assert not PendingReceipt.objects.exists()


def test_a_held_failure_shows_its_reason():
    message = outbound(platform_message_id=None, status="sending")
    receipt_apply(
        channel=message.channel,
        receipt=receipt("SM9", "failed", "30006: Landline or unreachable carrier"),
    )
    Message.objects.filter(pk=message.pk).update(
        status="sent", platform_message_id="SM9"
    )

    receipts_release(
        channel_id=message.channel_id, message_id=message.pk, platform_message_id="SM9"
    )

    message.refresh_from_db()
    assert (message.status, message.error) == (
        "failed",
        "30006: Landline or unreachable carrier",
    )


def test_receipts_held_for_a_day_are_purged():
    message = outbound()
    old = PendingReceipt.objects.create(
        channel=message.channel,
        platform_message_id="gone",
        status="delivered",
        occurred_at=timezone.now(),
    )
    PendingReceipt.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    recent = PendingReceipt.objects.create(
        channel=message.channel,
        platform_message_id="soon",
        status="delivered",
        occurred_at=timezone.now(),
    )

    assert pending_receipts_purge() == 1
    assert list(PendingReceipt.objects.values_list("pk", flat=True)) == [recent.pk]

"""Delivery receipts: move an outbound message's status forward, and hold the
receipts that arrive before the send they report on is recorded.

Receipts only move a message forward (docs/platforms/README.md, "Rules for
every channel", rule 3): `read` after `delivered` counts, a late `sent` after
`read` does not, and `failed` never replaces `delivered` or `read`.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.utils import timezone

from channels_app.models import Channel
from channels_app.platforms.base import DeliveryStatus
from conversations import realtime
from conversations.models import Message, PendingReceipt
from webhooks.services import events as webhook_events

STATUS_RANK = {
    Message.Status.QUEUED: 0,
    Message.Status.SENDING: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.READ: 4,
}
PENDING_RECEIPT_MAX_AGE = timedelta(days=1)


def receipt_apply(*, channel: Channel, receipt: DeliveryStatus) -> int:
    """Apply `receipt` to the channel's outbound message with its platform id.
    Returns 1 when the message's status changed, else 0. A receipt for a
    message not recorded yet is held (`PendingReceipt`) until
    `receipts_release` runs for it."""
    message = _outbound_message(channel, receipt.platform_message_id)
    if message is None:
        held = PendingReceipt.objects.create(
            channel=channel,
            platform_message_id=receipt.platform_message_id,
            status=receipt.status,
            error=receipt.error,
            occurred_at=receipt.occurred_at,
        )
        # Look again after holding it: a send recorded (committed) in between
        # released the receipts it could see, which did not include this one.
        # Together with `receipts_release` running after that commit, every
        # interleaving applies the receipt at least once (applying is
        # idempotent).
        message = _outbound_message(channel, receipt.platform_message_id)
        if message is None:
            return 0
        held.delete()
    return _move(message, receipt.status, receipt.error)


def _outbound_message(channel: Channel, platform_message_id: str) -> Message | None:
    return (
        Message.objects.filter(
            channel=channel,
            platform_message_id=platform_message_id,
            direction=Message.Direction.OUTBOUND,
        )
        .only("pk", "status")
        .first()
    )


def receipts_release(
    *, channel_id: UUID, message_id: int, platform_message_id: str
) -> int:
    """Apply the receipts held for `platform_message_id` to message
    `message_id`, oldest first, and drop them. Call it after the commit that
    recorded the message as sent with that id. Returns how many changed the
    status."""
    pending = list(
        PendingReceipt.objects.filter(
            channel_id=channel_id, platform_message_id=platform_message_id
        ).order_by("occurred_at", "pk")
    )
    if not pending:
        return 0
    changed = 0
    for receipt in pending:
        message = Message.objects.only("pk", "status").get(pk=message_id)
        changed += _move(message, receipt.status, receipt.error)
    PendingReceipt.objects.filter(pk__in=[receipt.pk for receipt in pending]).delete()
    return changed


def pending_receipts_purge() -> int:
    """Drop held receipts older than `PENDING_RECEIPT_MAX_AGE` (receipts for
    messages sent outside PingBack). Returns how many."""
    cutoff = timezone.now() - PENDING_RECEIPT_MAX_AGE
    deleted, _ = PendingReceipt.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _move(message: Message, status: str, error: str) -> int:
    if status == Message.Status.FAILED:
        if message.status in (Message.Status.DELIVERED, Message.Status.READ):
            return 0
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.FAILED, error=error
        )
        realtime.publish_message_status(message.pk)
        webhook_events.message_status_changed(message.pk, status, "receipt")
        return 1
    if STATUS_RANK.get(status, -1) <= STATUS_RANK.get(message.status, 99):
        return 0
    Message.objects.filter(pk=message.pk).update(status=status)
    realtime.publish_message_status(message.pk)
    webhook_events.message_status_changed(message.pk, status)
    return 1

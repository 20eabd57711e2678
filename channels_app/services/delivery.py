"""Outbound delivery: send one queued message through its channel's platform.

Idempotent by state: the message is claimed `queued → sending` by one
conditional UPDATE, so a task run twice never sends twice; `sent` and
`failed` messages are left alone. The platform call runs outside any transaction.

In order per conversation: a message is claimed only when no earlier outbound
message of its conversation is still `queued` or `sending`; otherwise it stays
`queued` (`waiting`), and the delivery that settles the earlier one (`sent` or
`failed`) returns the next queued one, which the delivery task sends itself
(or hands to the workers). So however many workers or threads send at once,
a conversation's replies reach the platform one at a time, in the order they
were written (docs/deployment.md, "Workers: Celery", "Order").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from channels_app.models import Channel
from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    DeliveryError,
    MessageTemplate,
    OutboundAttachment,
    OutboundMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from channels_app.services.channels import (
    channel_alert_clear,
    channel_alert_set,
    channel_pause,
)
from channels_app.services.outbox import retry_due_at
from conversations import realtime
from conversations.models import ContactIdentity, DeliveryAttempt, Message
from conversations.services.attachments import attachment_kind, attachment_link
from conversations.services.receipts import receipts_release
from pingback import metrics
from webhooks.services import events as webhook_events

logger = logging.getLogger(__name__)

# Shown to the agent beside a message resolved `uncertain`.
UNCERTAIN_REASON = (
    "The worker stopped while sending this message: it may not have been "
    "delivered. Retry to send it again, or mark it as sent."
)


@dataclass(frozen=True)
class DeliveryOutcome:
    """`status`: `sent`, `failed`, `retry` (transient failure, to be tried
    again in `countdown` seconds), `waiting` (an earlier message of the
    conversation is not settled yet; this one is handed off again after it)
    or `skipped` (not queued any more). `next_message_id`: after `sent` or
    `failed`, the conversation's next queued message, which waited for this
    one and can be sent now (None when there is none)."""

    status: str
    countdown: float = 0.0
    next_message_id: int | None = None


def retry_countdown(retries: int, retry_after: float | None) -> float:
    """Seconds before the next try: exponential backoff from
    `DELIVERY_RETRY_BACKOFF`, capped at `DELIVERY_RETRY_BACKOFF_MAX`, and never
    sooner than the platform's Retry-After."""
    backoff = min(
        settings.DELIVERY_RETRY_BACKOFF * 2**retries,
        settings.DELIVERY_RETRY_BACKOFF_MAX,
    )
    return max(backoff, retry_after or 0.0)


def message_deliver(
    *, message_id: int, honour_pause: bool = True, hand_off_next: bool = True
) -> DeliveryOutcome:
    """Send the queued outbound message `message_id` and record the outcome.

    The message is claimed `queued → sending` with a lease of
    `DELIVERY_LEASE_SECONDS` (`outbox_sweep` resolves a lease that runs out:
    the worker died mid-send). A transient failure puts it back to `queued`
    for a retry in `retry_countdown(retries, …)` seconds, where `retries`
    counts this message's retries since an agent last retried it; past
    `DELIVERY_MAX_RETRIES` it fails with the last reason. A permanent failure
    marks it `failed` with the platform's reason; an account-level one also
    sets the channel's alert. Every try is recorded as a `DeliveryAttempt`.
    A message to a customer who opted out on this channel
    (`ContactIdentity.opted_out_at`) fails at once with that reason, untried;
    a platform refusal saying they opted out (`PermanentDeliveryError.
    opted_out`) records it on their identity.

    A rate limit that throttles the whole account (`rate_limited`) pauses the
    channel (`Channel.paused_until`); while it lasts a message is put back to
    `queued` untried, spending no retry. `honour_pause=False` (eager tasks,
    which have no scheduler to wait with) tries regardless.

    Replies of one conversation go out in order: while an earlier outbound
    message of the conversation is `queued` or `sending`, this one is left
    `queued`, untried (`waiting`). Once this one is `sent` or `failed`, the
    next queued message of its conversation (unless it waits for a retry of
    its own) is returned as `next_message_id` and, with `hand_off_next`,
    handed to the workers (`outbox_hand_off`); the delivery task sends it
    itself instead (`hand_off_next=False`), sparing it a trip through the
    broker.
    """
    message = _claim(message_id)
    if message is None:
        return DeliveryOutcome(status="skipped")
    if message == WAITING:
        return DeliveryOutcome(status="waiting")
    outcome = _deliver(message, honour_pause=honour_pause)
    if outcome.status in ("sent", "failed"):
        following = _next_in_line(message)
        if following is not None:
            if hand_off_next:
                _hand_off_on_commit(following)
            outcome = replace(outcome, next_message_id=following)
    return outcome


def _deliver(message: Message, *, honour_pause: bool) -> DeliveryOutcome:
    """Send claimed (`sending`) `message` and record the outcome
    (`message_deliver`)."""
    channel = message.channel
    if channel is None or not channel.is_active:
        _fail(message, PermanentDeliveryError("The channel is deactivated or deleted."))
        return DeliveryOutcome(status="failed")
    identity = message.conversation.contact_identity
    if identity is not None and identity.opted_out_at is not None:
        # The customer opted out on the platform (SMS STOP, a blocked bot):
        # sending would be refused, or worse, delivered against their wish.
        _fail(message, PermanentDeliveryError(_opted_out_reason(identity)))
        return DeliveryOutcome(status="failed")
    now = timezone.now()
    if honour_pause and channel.paused_until and channel.paused_until > now:
        # The platform rate-limited this channel: wait for the pause to end
        # without trying (and without spending one of the message's retries).
        wait = (channel.paused_until - now).total_seconds()
        _defer(message, wait)
        return DeliveryOutcome(status="retry", countdown=wait)
    try:
        result = get_platform(channel.type).send(channel, _outbound(message))
    except TransientDeliveryError as error:
        retries = _retries(message)
        if retries >= settings.DELIVERY_MAX_RETRIES:
            error.reason = f"{error.reason} (gave up after retrying)"
            _fail(message, error)
            return DeliveryOutcome(status="failed")
        countdown = retry_countdown(retries, error.retry_after)
        if error.rate_limited:
            countdown = max(countdown, _pause_channel(channel, error, countdown))
        _requeue(message, error, countdown)
        return DeliveryOutcome(status="retry", countdown=countdown)
    except PermanentDeliveryError as error:
        _fail(message, error)
        if error.channel_alert:
            channel_alert_set(channel=channel, alert=error.channel_alert)
        if error.opted_out and identity is not None:
            _opt_out(identity, error.opted_out)
        return DeliveryOutcome(status="failed")
    _mark_sent(message, result.platform_message_id)
    if channel.alert:
        channel_alert_clear(channel=channel)
    return DeliveryOutcome(status="sent")


def deliveries_expired_resolve(*, limit: int = 500) -> int:
    """Resolve outbound messages left `sending` past their lease (the worker
    died mid-send, before or after the platform accepted it): mark each
    `uncertain`, with a reason the agent sees and an attempt recorded, so
    the agent decides (Retry, or Mark as sent). Never sends. Returns how
    many were resolved. Safe to run from several processes at once."""
    now = timezone.now()
    with transaction.atomic():
        expired = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(
                status=Message.Status.SENDING,
                direction=Message.Direction.OUTBOUND,
                next_attempt_at__lte=now,
            )
            .order_by("next_attempt_at")[:limit]
        )
        for message in expired:
            Message.objects.filter(pk=message.pk).update(
                status=Message.Status.UNCERTAIN,
                error=UNCERTAIN_REASON,
                next_attempt_at=None,
                updated_at=now,
            )
            DeliveryAttempt.objects.create(
                message=message,
                outcome=DeliveryAttempt.Outcome.UNCERTAIN,
                reason=UNCERTAIN_REASON,
            )
            realtime.publish_message_status(message.pk)
    for message in expired:
        logger.warning("delivery.uncertain", extra={"message_id": message.pk})
        following = _next_in_line(message)
        if following is not None:
            _hand_off_on_commit(following)
    return len(expired)


def _opt_out(identity: ContactIdentity, reason: str) -> None:
    """The platform refused a send because the customer opted out: record it
    on their identity (unless already recorded), as an opt-out webhook would."""
    ContactIdentity.objects.filter(pk=identity.pk, opted_out_at__isnull=True).update(
        opted_out_at=timezone.now(), opted_out_reason=reason[:255]
    )


def _opted_out_reason(identity: ContactIdentity) -> str:
    reason = identity.opted_out_reason or "they asked not to be messaged here"
    return f"The customer opted out of messages on this channel: {reason}."


# `_claim`'s answer for a message behind an earlier one of its conversation.
WAITING = "waiting"
# Statuses of an outbound message not settled yet: later ones wait for it.
UNSETTLED = (Message.Status.QUEUED, Message.Status.SENDING)

# The statements run for every task (the claim) and every reply (the next
# in line), written once as plain SQL that PostgreSQL and SQLite both run:
# the ORM spent more CPU building them than the database spent running them,
# and a thread-pool delivery worker is bound by one core (the GIL). Their
# literals are the `Message` and `DeliveryAttempt` choices.
_MESSAGES = Message._meta.db_table
_UNSETTLED_SQL = ", ".join(f"'{status}'" for status in UNSETTLED)
_CLAIM_SQL = f"""
UPDATE {_MESSAGES} SET status = '{Message.Status.SENDING}', next_attempt_at = %s,
  updated_at = %s
WHERE id = %s AND direction = '{Message.Direction.OUTBOUND}'
  AND status = '{Message.Status.QUEUED}'
  AND NOT EXISTS (
    SELECT 1 FROM {_MESSAGES} AS earlier
    WHERE earlier.conversation_id = {_MESSAGES}.conversation_id
      AND earlier.id < {_MESSAGES}.id
      AND earlier.direction = '{Message.Direction.OUTBOUND}'
      AND earlier.status IN ({_UNSETTLED_SQL}))
"""  # noqa: S608 (names and literals are the models' own)
_STILL_QUEUED_SQL = f"""
SELECT 1 FROM {_MESSAGES} WHERE id = %s
  AND direction = '{Message.Direction.OUTBOUND}'
  AND status = '{Message.Status.QUEUED}'
"""  # noqa: S608
_NEXT_IN_LINE_SQL = f"""
SELECT m.id, (SELECT a.outcome FROM {DeliveryAttempt._meta.db_table} AS a
              WHERE a.message_id = m.id ORDER BY a.id DESC LIMIT 1)
FROM {_MESSAGES} AS m
WHERE m.conversation_id = %s AND m.id > %s
  AND m.direction = '{Message.Direction.OUTBOUND}'
  AND m.status = '{Message.Status.QUEUED}'
ORDER BY m.id LIMIT 1
"""  # noqa: S608


def _claim(message_id: int) -> Message | str | None:
    """Claim queued outbound `message_id` (`queued → sending`, with its
    lease) and return it, loaded with its channel, conversation, identity
    and `reply_to` (the platform id of the conversation's latest inbound
    message); None if it is not queued (any more); `WAITING` if an earlier
    outbound message of its conversation is unsettled.

    The claim is one conditional UPDATE: of two workers claiming the same
    message, PostgreSQL's row lock makes the second re-check `status` after
    the first commits, and it finds `sending` and claims nothing. Read
    committed: an earlier reply being claimed by another worker right now
    is still seen `queued`, so it is waited for either way. Two queries when
    claimed (`_CLAIM_SQL`, the load), two when not (`_CLAIM_SQL`,
    `_STILL_QUEUED_SQL`)."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [adapt(lease), adapt(now), message_id])
        if cursor.rowcount != 1:
            cursor.execute(_STILL_QUEUED_SQL, [message_id])
            return WAITING if cursor.fetchone() else None
    return (
        Message.objects.select_related("channel", "conversation__contact_identity")
        .annotate(
            reply_to=Subquery(
                Message.objects.filter(
                    conversation_id=OuterRef("conversation_id"),
                    direction=Message.Direction.INBOUND,
                    platform_message_id__isnull=False,
                )
                .order_by("-id")
                .values("platform_message_id")[:1]
            )
        )
        .get(pk=message_id)
    )


def _next_in_line(message: Message) -> int | None:
    """After `message` is settled, the next queued outbound message of its
    conversation (it waited for this one), or None. One that has been tried
    already waits for its own retry (its task countdown or the sweeper), so
    it is not returned. A message sent on from here and by its own task is
    sent once (`_claim`). One query (`_NEXT_IN_LINE_SQL`)."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_IN_LINE_SQL, [message.conversation_id, message.pk])
        following = cursor.fetchone()
    if following is None or following[1] == DeliveryAttempt.Outcome.RETRY:
        return None
    return following[0]


def _hand_off_on_commit(message_id: int) -> None:
    """Hand `message_id` to the delivery workers once committed."""
    from channels_app.services.outbox import outbox_hand_off

    transaction.on_commit(lambda: outbox_hand_off(message_id))


def _pause_channel(
    channel: Channel, error: TransientDeliveryError, countdown: float
) -> float:
    """Pause every send on `channel` for the platform's `retry_after` (or
    `countdown` when it gave none); return the seconds the pause in force
    has left (another worker may have set a longer one)."""
    now = timezone.now()
    wait = error.retry_after if error.retry_after is not None else countdown
    until = channel_pause(channel=channel, until=now + timedelta(seconds=wait))
    logger.warning(
        "delivery.channel_paused",
        extra={"channel_id": str(channel.pk), "platform": channel.type, "until": until},
    )
    return (until - now).total_seconds()


def _defer(message: Message, wait: float) -> None:
    """Back to `queued` for `wait` seconds, recording no attempt."""
    now = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.QUEUED,
        next_attempt_at=retry_due_at(wait, now=now),
        updated_at=now,
    )


def _retries(message: Message) -> int:
    """This message's retries since it was last failed, resolved uncertain or
    retried by an agent (each of which ends a run of retries)."""
    attempts = DeliveryAttempt.objects.filter(message=message)
    last_end = (
        attempts.exclude(outcome=DeliveryAttempt.Outcome.RETRY)
        .exclude(outcome=DeliveryAttempt.Outcome.SENT)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if last_end is not None:
        attempts = attempts.filter(pk__gt=last_end)
    return attempts.filter(outcome=DeliveryAttempt.Outcome.RETRY).count()


def _outbound(message: Message) -> OutboundMessage:
    """What the platform sends for `message`, as `_claim` loaded it (with
    `reply_to`)."""
    conversation = message.conversation
    identity = conversation.contact_identity
    attachments = tuple(
        OutboundAttachment(
            kind=attachment.get("kind") or attachment_kind(attachment["content_type"]),
            filename=attachment.get("filename") or "file",
            content_type=attachment.get("content_type") or "application/octet-stream",
            size=attachment.get("size") or 0,
            storage_name=attachment["stored"],
            public_url=attachment_link(
                message.pk, index, absolute=True, for_platform=True
            ),
        )
        for index, attachment in enumerate(message.attachments)
        if attachment.get("stored")
    )
    template = None
    if message.template:
        template = MessageTemplate(
            name=message.template["name"],
            language=message.template["language"],
            parameters=tuple(message.template.get("parameters") or ()),
        )
    return OutboundMessage(
        message_id=message.pk,
        text="" if template else message.text,
        recipient_external_id=identity.external_id if identity else "",
        thread_key=conversation.thread_key,
        reply_to_platform_message_id=message.reply_to,
        attachments=attachments,
        template=template,
        subject=conversation.subject,
    )


def _record(message: Message, outcome: str, error: DeliveryError | None = None) -> None:
    DeliveryAttempt.objects.create(
        message=message,
        outcome=outcome,
        status_code=error.status_code if error else None,
        reason=error.reason if error else "",
    )


def _mark_sent(message: Message, platform_message_id: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.SENT,
            next_attempt_at=None,
            platform_message_id=platform_message_id,
            error="",
            sent_at=now,
            updated_at=now,
        )
        _record(message, DeliveryAttempt.Outcome.SENT)
        realtime.publish_message_status(message.pk)
        webhook_events.message_status_changed(message.pk, Message.Status.SENT, now)
    # Receipts the platform sent before this commit are held; apply them now.
    receipts_release(
        channel_id=message.channel_id,
        message_id=message.pk,
        platform_message_id=platform_message_id,
    )
    latency = (now - message.created_at).total_seconds()
    metrics.reply_tried(message.channel.type, "sent", latency=latency)
    logger.info(
        "delivery.sent",
        extra={"message_id": message.pk, "platform": message.channel.type},
    )


def _requeue(message: Message, error: TransientDeliveryError, countdown: float) -> None:
    now = timezone.now()
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.QUEUED,
            error=error.reason,
            next_attempt_at=retry_due_at(countdown, now=now),
            updated_at=now,
        )
        _record(message, DeliveryAttempt.Outcome.RETRY, error)
        realtime.publish_message_status(message.pk)
    metrics.reply_tried(message.channel.type, "retry")
    logger.warning(
        "delivery.retry_scheduled",
        extra={"message_id": message.pk, "reason": error.reason},
    )


def _fail(message: Message, error: DeliveryError) -> None:
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.FAILED,
            error=error.reason,
            next_attempt_at=None,
            updated_at=timezone.now(),
        )
        _record(message, DeliveryAttempt.Outcome.FAILED, error)
        realtime.publish_message_status(message.pk)
        webhook_events.message_status_changed(
            message.pk, Message.Status.FAILED, timezone.now()
        )
    channel = message.channel
    metrics.reply_tried(channel.type if channel else "unknown", "failed")
    logger.warning(
        "delivery.failed", extra={"message_id": message.pk, "reason": error.reason}
    )

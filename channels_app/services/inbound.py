"""The inbound hot path: store each raw webhook first, process it after commit.

`inbound_event_record` runs in the webhook request: parse (pure), store under the
dedupe key, schedule processing; no outside call. `inbound_event_process` runs in
a worker (or inline when no broker is configured): parse again and ingest, in one
transaction per event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.platforms.base import MalformedPayload
from conversations.services import ingest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordOutcome:
    """`status`: `accepted` (stored, processing scheduled), `duplicate` (this
    event was stored before), `ignored` (stored, channel inactive) or
    `malformed` (stored with `error`, not processed)."""

    status: str
    event_id: int | None = None
    error: str = ""


def inbound_event_record(
    *, channel: Channel, body: bytes, content_type: str = ""
) -> RecordOutcome:
    """Store a verified webhook body as an `InboundEvent` and schedule processing.

    A body that does not parse is stored with status `malformed` and its error.
    A redelivered event (same dedupe key) stores nothing new. An inactive
    channel's events are stored as `ignored` (they can be replayed later).
    """
    platform = get_platform(channel.type)
    try:
        parsed = platform.parse(channel, body)
    except MalformedPayload as error:
        event = InboundEvent.objects.create(
            channel=channel,
            body=body,
            content_type=content_type,
            status=InboundEvent.Status.MALFORMED,
            error=str(error),
        )
        logger.warning(
            "webhook.malformed",
            extra={
                "channel_id": str(channel.id),
                "platform": channel.type,
                "event_id": event.pk,
                "error": str(error),
            },
        )
        return RecordOutcome(status="malformed", event_id=event.pk, error=str(error))
    status = InboundEvent.Status.RECEIVED
    error = ""
    if not channel.is_active:
        status, error = InboundEvent.Status.IGNORED, "channel inactive"
    try:
        event = _event_insert(
            channel=channel,
            event_key=parsed.event_key,
            body=body,
            content_type=content_type,
            status=status,
            error=error,
        )
    except IntegrityError:
        return RecordOutcome(status="duplicate")
    if status == InboundEvent.Status.RECEIVED:
        _schedule(event.pk)
    return RecordOutcome(
        status="accepted" if status == InboundEvent.Status.RECEIVED else "ignored",
        event_id=event.pk,
    )


def _event_insert(**fields: object) -> InboundEvent:
    """INSERT one event; raises `IntegrityError` when its dedupe key is taken.

    In autocommit mode (the webhook request) the INSERT is its own transaction:
    no BEGIN and COMMIT round trips on the hot path, and a failed INSERT leaves
    nothing to roll back. Inside a caller's transaction a savepoint keeps that
    transaction usable after a duplicate.
    """
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            return InboundEvent.objects.create(**fields)
    return InboundEvent.objects.create(**fields)


def _schedule(event_id: int) -> None:
    from channels_app.tasks import process_inbound_event as process_inbound_event_task

    transaction.on_commit(lambda: process_inbound_event_task.delay(event_id))


def inbound_event_process(*, event_id: int) -> str:
    """Parse a stored event and ingest its messages; return the event's status
    (`processed`, `ignored`), or `skipped` when it is not waiting (`received`
    or `failed`).

    One transaction: the event row is locked (`SELECT ... FOR UPDATE`) while
    its messages are stored and its status is set, so a task run twice does
    the work once (the second waits, then finds the event done) and each event
    costs one commit. On an unexpected error none of the event's work is kept:
    it is marked `failed` with the error (it can be replayed) and the error is
    re-raised.
    """
    event: InboundEvent | None = None
    try:
        with transaction.atomic():
            event = (
                InboundEvent.objects.select_for_update(of=("self",))
                # Parsing needs the channel's config, not its credentials.
                .select_related("channel")
                .defer("channel__secrets")
                .filter(
                    pk=event_id,
                    status__in=[
                        InboundEvent.Status.RECEIVED,
                        InboundEvent.Status.FAILED,
                    ],
                )
                .first()
            )
            if event is None:
                return "skipped"
            channel = event.channel
            parsed = get_platform(channel.type).parse(channel, bytes(event.body))
            ingest(channel=channel, items=parsed.items)
            status = InboundEvent.Status.PROCESSED
            if not parsed.items and parsed.ignored:
                status = InboundEvent.Status.IGNORED
            _finish(event, status, "; ".join(parsed.ignored))
    except Exception as error:
        if event is not None:
            _finish(
                event, InboundEvent.Status.FAILED, f"{type(error).__name__}: {error}"
            )
        raise
    return status


def inbound_event_replay(*, event: InboundEvent) -> None:
    """Process a failed or ignored event again (admin action)."""
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.RECEIVED, error=""
    )
    with transaction.atomic():
        _schedule(event.pk)


def _finish(event: InboundEvent, status: str, error: str) -> None:
    InboundEvent.objects.filter(pk=event.pk).update(
        status=status, error=error[:2000], processed_at=timezone.now()
    )

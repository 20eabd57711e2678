"""The inbound hot path: store each raw webhook first, process stored events
in batches.

`inbound_event_record` runs in the webhook request: parse (pure, for the dedupe
key and to answer a malformed body 400), one INSERT under the dedupe key, and a
wake-up for the workers; no outside call. The stored row is the hand-off: no
task message per event. `inbound_events_drain` runs in a worker (or inline
when no broker is configured): it claims waiting events in batches
(`SELECT ... FOR UPDATE SKIP LOCKED`, so several workers share the backlog),
parses them again and ingests each batch in one transaction.

How a webhook wakes the workers without a task message (or a Redis round
trip) of its own is in `wake.py`. Celery beat also runs a drain every
`INBOUND_SWEEP_INTERVAL` seconds, for events whose drain was lost with its
worker.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.platforms.base import InboundItem, MalformedPayload, ParsedWebhook
from channels_app.services.wake import (
    inbound_processing_wake,
    inbound_wake_flag_clear,
    inbound_wake_now,
    tasks_eager,
)
from conversations.services import ingest
from pingback.untrusted import (
    form_body_repair,
    json_body_repair,
    text_repair,
    value_repair,
)

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
    """Store a verified webhook body as an `InboundEvent` and wake the workers.

    A body that does not parse is stored with status `malformed` and its error.
    A redelivered event (same dedupe key) stores nothing new. An inactive
    channel's events are stored as `ignored` (they can be replayed later).
    Raises `IntegrityError` only when the channel no longer exists.

    Text PostgreSQL cannot store (NUL, lone surrogates, bytes that are not
    UTF-8) is replaced by U+FFFD here, before the caller acknowledges the
    event: in the body itself for JSON and form bodies (the stored body is
    the repaired one), in what the parser read for other bodies (e-mail,
    whose raw bytes are kept as they came). See `_storable_body`. A
    malformed body is stored as it came.
    """
    received = body
    body = _storable_body(body, content_type)
    try:
        parsed = _parse(channel, body, content_type)
    except MalformedPayload as error:
        detail = text_repair(str(error))
        event = InboundEvent.objects.create(
            channel=channel,
            # Kept as it came, for whoever looks into it.
            body=received,
            content_type=content_type,
            status=InboundEvent.Status.MALFORMED,
            error=detail,
        )
        logger.warning(
            "webhook.malformed",
            extra={
                "channel_id": str(channel.id),
                "platform": channel.type,
                "event_id": event.pk,
                "error": detail,
            },
        )
        return RecordOutcome(status="malformed", event_id=event.pk, error=detail)
    status = InboundEvent.Status.RECEIVED
    error = ""
    if not channel.is_active:
        status, error = InboundEvent.Status.IGNORED, "channel inactive"
    event_id = _event_insert(
        channel_id=channel.pk,
        event_key=parsed.event_key,
        body=body,
        content_type=content_type,
        status=status,
        error=error,
        received_at=timezone.now(),
    )
    if event_id is None:
        return RecordOutcome(status="duplicate")
    if status == InboundEvent.Status.RECEIVED:
        transaction.on_commit(inbound_processing_wake)
    return RecordOutcome(
        status="accepted" if status == InboundEvent.Status.RECEIVED else "ignored",
        event_id=event_id,
    )


_JSON_TYPES = frozenset({"application/json", "text/json"})
_FORM_TYPE = "application/x-www-form-urlencoded"


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _is_json(content_type: str, body: bytes) -> bool:
    """JSON by its declared type, or, with none (or an unrecognised one), by
    its first character."""
    if content_type == "application/json":  # the webhooks' hot path
        return True
    media_type = _media_type(content_type)
    if media_type in _JSON_TYPES or media_type.endswith("+json"):
        return True
    if media_type == _FORM_TYPE or media_type.startswith(("message/", "multipart/")):
        return False
    return body[:64].lstrip()[:1] in (b"{", b"[")


def _storable_body(body: bytes, content_type: str) -> bytes:
    """The body to parse and store: JSON and form bodies with their text made
    storable (`pingback.untrusted`; the same bytes when nothing needed it),
    other bodies as they came."""
    if _is_json(content_type, body):
        return json_body_repair(body)
    if _media_type(content_type) == _FORM_TYPE:
        return form_body_repair(body)
    return body


def _parse(channel: Channel, body: bytes, content_type: str) -> ParsedWebhook:
    """`platform.parse`, with the text of what it read made storable when the
    body's own text was not repaired (`_storable_body`: e-mail, any other
    format). Raises `MalformedPayload`."""
    parsed = get_platform(channel.type).parse(channel, body)
    if _is_json(content_type, body) or _media_type(content_type) == _FORM_TYPE:
        return parsed
    return value_repair(parsed)


def _event_insert(**values: object) -> int | None:
    """INSERT one event unless its dedupe key is taken; return its id, or None
    for a duplicate.

    One statement, `INSERT ... ON CONFLICT (channel_id, event_key) DO NOTHING
    RETURNING id` (PostgreSQL, SQLite >= 3.35): in autocommit mode (the webhook
    request) it is its own transaction, with no BEGIN/COMMIT round trips, no
    model instance, and a duplicate costs no error and no rollback. Inside a
    caller's transaction it leaves the transaction usable after a duplicate.
    """
    sql, fields = _insert_statement(connection.vendor, tuple(values))
    params = [
        field.get_db_prep_value(value, connection)
        for field, value in zip(fields, values.values(), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else row[0]


@functools.cache
def _insert_statement(vendor: str, names: tuple[str, ...]) -> tuple[str, list[Field]]:
    """The SQL of `_event_insert` for these field names, and the fields, built
    once per process (per database vendor: quoting differs)."""
    meta = InboundEvent._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in names]
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    key_columns = ", ".join(
        quote(meta.get_field(name).column) for name in ("channel", "event_key")
    )
    # Names come from the model, values are parameters.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT ({key_columns}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields


@dataclass(frozen=True)
class DrainResult:
    """Events a drain claimed, and whether it stopped with events still
    waiting (it handed over to a new task)."""

    claimed: int
    handed_over: bool = False


def inbound_events_drain() -> DrainResult:
    """Process waiting (`received`) events in batches until none is left.

    Each batch is at most `INBOUND_BATCH_SIZE` events, claimed with
    `FOR UPDATE SKIP LOCKED` (workers draining at the same time take
    different events) and processed in one transaction
    (`inbound_events_process_batch`). After `INBOUND_DRAIN_SECONDS` with
    events still waiting, the drain wakes the next one (a new task, unless
    one is already coming) and returns, so tasks queued behind it
    (deliveries) run in between.
    """
    eager = tasks_eager()
    deadline = time.monotonic() + settings.INBOUND_DRAIN_SECONDS
    claimed = 0
    while True:
        # Cleared before the claim: a webhook stored after this claim sets the
        # flag again and enqueues the next drain (see `wake.py`).
        inbound_wake_flag_clear()
        batch = inbound_events_process_batch(limit=settings.INBOUND_BATCH_SIZE)
        claimed += batch
        if batch == 0:
            return DrainResult(claimed=claimed)
        if not eager and time.monotonic() >= deadline:
            # Events are left: a wake-up enqueues the next drain, unless a
            # webhook's wake-up since the last claim already has.
            inbound_wake_now()
            return DrainResult(claimed=claimed, handed_over=True)


def inbound_events_process_batch(*, limit: int) -> int:
    """Claim up to `limit` waiting events, oldest first, and process them in
    one transaction; return how many were claimed (0: none waiting).

    Each event ends `processed`, `ignored` (nothing to store, with the
    reasons, or its channel inactive) or `failed` (its body no longer
    parses). The events of one channel are ingested together
    (`conversations.services.ingest`), in the order they were received. When
    the batch raises, none of its work is kept and its events are processed
    one by one (`inbound_event_process`), so one bad event fails alone.
    """
    with transaction.atomic():
        events = list(
            InboundEvent.objects.select_for_update(skip_locked=True, of=("self",))
            # Parsing needs the channel's config, not its credentials.
            .select_related("channel")
            .defer("channel__secrets")
            .filter(status=InboundEvent.Status.RECEIVED)
            .order_by("received_at", "pk")[:limit]
        )
        if not events:
            return 0
        try:
            with transaction.atomic():
                outcomes = _batch_ingest(events)
        except Exception:
            logger.warning(
                "inbound.batch_failed",
                extra={"events": len(events)},
                exc_info=True,
            )
            outcomes = None
        else:
            _finish_many(outcomes)
    if outcomes is None:
        for event in events:
            try:
                inbound_event_process(event_id=event.pk)
            except Exception:
                logger.exception("inbound.event_failed", extra={"event_id": event.pk})
    else:
        logger.info(
            "inbound.batch",
            extra={
                "events": len(events),
                "processed": sum(
                    status == InboundEvent.Status.PROCESSED
                    for status, _ in outcomes.values()
                ),
            },
        )
    return len(events)


def _batch_ingest(events: list[InboundEvent]) -> dict[int, tuple[str, str]]:
    """Parse and ingest claimed events; return each event's (status, error)."""
    outcomes: dict[int, tuple[str, str]] = {}
    channels: dict[object, Channel] = {}
    items: dict[object, list[InboundItem]] = defaultdict(list)
    for event in events:
        channel = channels.setdefault(event.channel_id, event.channel)
        if not channel.is_active:
            outcomes[event.pk] = (InboundEvent.Status.IGNORED, "channel inactive")
            continue
        try:
            parsed = _parse(channel, bytes(event.body), event.content_type)
        except MalformedPayload as error:
            outcomes[event.pk] = (
                InboundEvent.Status.FAILED,
                f"{type(error).__name__}: {error}",
            )
            continue
        items[channel.pk].extend(parsed.items)
        outcomes[event.pk] = _outcome(parsed)
    # Channels in a fixed order: `ingest` locks each channel's conversations
    # in pk order, and two workers whose batches span the same channels must
    # take those locks in the same order, or they could deadlock.
    for channel_id in sorted(items, key=str):
        ingest(channel=channels[channel_id], items=items[channel_id])
    return outcomes


def _outcome(parsed: ParsedWebhook) -> tuple[str, str]:
    """An ingested event's (status, error): `ignored` with the reasons when
    everything in it was deliberately skipped, else `processed` (with the
    reasons for what was skipped, if anything)."""
    reasons = "; ".join(parsed.ignored)
    if not parsed.items and parsed.ignored:
        return InboundEvent.Status.IGNORED, reasons
    return InboundEvent.Status.PROCESSED, reasons


def _finish_many(outcomes: dict[int, tuple[str, str]]) -> None:
    """Set each event's final status: one UPDATE per distinct outcome."""
    by_outcome: dict[tuple[str, str], list[int]] = defaultdict(list)
    for event_id, outcome in outcomes.items():
        by_outcome[outcome].append(event_id)
    now = timezone.now()
    for (status, error), event_ids in by_outcome.items():
        InboundEvent.objects.filter(pk__in=event_ids).update(
            status=status, error=error[:2000], processed_at=now
        )


def inbound_event_process(*, event_id: int) -> str:
    """Parse one stored event and ingest its messages; return the event's
    status (`processed`, `ignored`), or `skipped` when it is not waiting
    (`received` or `failed`). Used for replays and when a batch fails.

    One transaction: the event row is locked (`SELECT ... FOR UPDATE`) while
    its messages are stored and its status is set, so a task run twice does
    the work once (the second waits, then finds the event done). On an
    unexpected error none of the event's work is kept: it is marked `failed`
    with the error (it can be replayed) and the error is re-raised.
    """
    event: InboundEvent | None = None
    try:
        with transaction.atomic():
            event = (
                InboundEvent.objects.select_for_update(of=("self",))
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
            if not channel.is_active:
                _finish(event, InboundEvent.Status.IGNORED, "channel inactive")
                return InboundEvent.Status.IGNORED
            parsed = _parse(channel, bytes(event.body), event.content_type)
            ingest(channel=channel, items=parsed.items)
            status, reasons = _outcome(parsed)
            _finish(event, status, reasons)
    except Exception as error:
        if event is not None:
            _finish(
                event, InboundEvent.Status.FAILED, f"{type(error).__name__}: {error}"
            )
        raise
    return status


def inbound_event_replay(*, event: InboundEvent) -> None:
    """Process a failed or ignored event again (admin action)."""
    from channels_app.tasks import process_inbound_event

    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.RECEIVED, error=""
    )
    transaction.on_commit(lambda: process_inbound_event.delay(event.pk))


def _finish(event: InboundEvent, status: str, error: str) -> None:
    InboundEvent.objects.filter(pk=event.pk).update(
        status=status, error=error[:2000], processed_at=timezone.now()
    )

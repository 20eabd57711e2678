"""Polling of X channels whose `delivery` is `polling` (docs/platforms/x.md,
"Polling"): for apps whose X tier has no Account Activity API.

Each poll reads the account's new mentions and DM events
(`XPlatform.poll`) and hands each item to `inbound_event_record`, the same
path as a webhook: the item is stored first as an `InboundEvent` (its body
is X's own post or DM event, verbatim, with the expanded objects it names)
under the dedupe key the webhook delivery of the same post or DM has, so
an item already stored, by a webhook or an earlier poll, is a no-op; the
workers process it like any webhook.

The cursor lives in the channel's config (the learned field `polling`):
`started_at` (set by setup) and, per stream, `since_id` (the newest id
read), `resume` (where to go on when the last poll stopped before
`since_id`: `PolledBatch.resume`) and `paused_until` (epoch seconds: X's
rate-limit window for the stream is used up until then, and the stream is
not read). It is written
under a row lock, merged into the stored config, and `since_id` never
moves back. Only one poll of a channel runs at a time (a cache lock; Redis
when configured); two polls that still overlap would store each item once
(the dedupe key).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from channels_app.models import Channel
from channels_app.platforms import get_platform
from channels_app.platforms.base import DeliveryError, PermanentDeliveryError
from channels_app.platforms.x import PolledBatch
from channels_app.services.channels import channel_alert_set
from channels_app.services.inbound import inbound_event_record
from channels_app.services.poll_lock import channel_poll_lock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class XPollResult:
    """`status`: `polled`, `skipped` (not an active X channel in polling
    mode), `locked` (another poll of this channel is running) or `failed`
    (X refused; the channel's alert says why when the whole account is
    affected). `accepted` items were new, `duplicates` already stored;
    `paused` names the streams not read because X's rate-limit window is
    used up."""

    status: str
    accepted: int = 0
    duplicates: int = 0
    paused: tuple[str, ...] = ()


def x_polling_channel_ids() -> list[uuid.UUID]:
    """Ids of the active X channels in polling mode."""
    channels = Channel.objects.filter(
        type=Channel.Type.X, is_active=True, config__delivery="polling"
    )
    return list(channels.values_list("pk", flat=True))


def x_channel_poll(*, channel_id: uuid.UUID | str) -> XPollResult:
    """Read the new mentions and DMs of one X channel in polling mode into
    its inbound events. Idempotent; one poll per channel at a time."""
    channel = Channel.objects.filter(
        pk=channel_id, type=Channel.Type.X, is_active=True
    ).first()
    platform = get_platform(Channel.Type.X)
    if channel is None or not platform.polled_streams(channel):
        return XPollResult(status="skipped")
    with channel_poll_lock("x", channel.pk) as taken:
        return _poll(channel) if taken else XPollResult(status="locked")


def _poll(channel: Channel) -> XPollResult:
    platform = get_platform(channel.type)
    extra = {"channel_id": str(channel.id), "platform": channel.type}
    outcomes: Counter[str] = Counter()
    paused: list[str] = []
    failed = False
    started_at = _started_at(channel)
    for stream in platform.polled_streams(channel):
        state = (channel.config.get("polling") or {}).get(stream) or {}
        if float(state.get("paused_until") or 0) > time.time():
            paused.append(stream)
            continue
        try:
            batch = platform.poll(
                channel,
                stream,
                since_id=state.get("since_id"),
                started_at=started_at,
                resume=state.get("resume"),
            )
        except DeliveryError as error:
            reason = {"stream": stream, "reason": error.reason}
            logger.warning("x.poll_failed", extra={**extra, **reason})
            failed = True
            alert = getattr(error, "channel_alert", "")
            if isinstance(error, PermanentDeliveryError) and alert:
                # The whole account is refused: the other stream would be too.
                if channel.alert != alert:
                    channel_alert_set(channel=channel, alert=alert)
                break
            continue
        for body in batch.bodies:
            outcome = inbound_event_record(
                channel=channel, body=body, content_type="application/json"
            )
            outcomes[outcome.status] += 1
        _stream_save(channel, stream, batch)
    logger.info("x.polled", extra={**extra, **outcomes, "paused": paused})
    return XPollResult(
        status="failed" if failed else "polled",
        paused=tuple(paused),
        **_counts(outcomes),
    )


def _counts(outcomes: Counter[str]) -> dict[str, int]:
    return {"accepted": outcomes["accepted"], "duplicates": outcomes["duplicate"]}


def _started_at(channel: Channel) -> datetime:
    """Where a stream without a cursor starts: `polling.started_at` (set by
    setup), else now (recorded, so the next polls start there too)."""
    polling = channel.config.get("polling") or {}
    if polling.get("started_at"):
        return datetime.fromisoformat(polling["started_at"])
    now = timezone.now().isoformat()
    _polling_update(channel, lambda state: state.setdefault("started_at", now))
    return datetime.fromisoformat(channel.config["polling"]["started_at"])


def _stream_save(channel: Channel, stream: str, batch: PolledBatch) -> None:
    """Record a stream's cursor: `since_id` only moves forward (None keeps
    it); `resume` and `paused_until` are replaced (None clears them)."""

    def change(state: dict[str, Any]) -> None:
        current = dict(state.get(stream) or {})
        since_id = batch.newest_id
        if since_id and int(since_id) > int(current.get("since_id") or 0):
            current["since_id"] = since_id
        for name in ("resume", "paused_until"):
            value = getattr(batch, name)
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
        state[stream] = current

    _polling_update(channel, change)


def _polling_update(channel: Channel, change) -> None:
    """Apply `change` to the stored `polling` config of the channel, under
    a row lock so a concurrent config change is not overwritten."""
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        config = dict(locked.config)
        state = dict(config.get("polling") or {})
        change(state)
        config["polling"] = state
        locked.config = config
        locked.save(update_fields=["config", "updated_at"])
    channel.config = config

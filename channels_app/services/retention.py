"""Retention of raw webhook bodies (`InboundEvent`): what is kept, and the
purge Celery beat runs (docs/deployment.md, "Retention of raw events").

A stored event is the platform's raw body, kept so nothing is lost before it
is processed and so an admin can inspect or replay it. Once processed, the
conversation holds what PingBack needs; the raw body is only a copy of the
customer's words and identifiers. So:

- `processed` and `ignored` events are deleted `PINGBACK_RAW_EVENT_RETENTION_DAYS`
  (30) days after they arrived;
- `failed` and `malformed` events, kept for someone to look at, are deleted
  after `PINGBACK_FAILED_EVENT_RETENTION_DAYS` (90) days;
- `received` and `processing` events (not processed yet) are never deleted.

Either number at 0 keeps those events forever. An event's key is its dedupe
key, so a platform redelivering an event after it was purged would have it
processed again; platforms stop retrying within days, far inside 30.
"""

from __future__ import annotations

import functools
import logging
import operator
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from channels_app.models import InboundEvent

logger = logging.getLogger(__name__)

DONE = (InboundEvent.Status.PROCESSED, InboundEvent.Status.IGNORED)
KEPT_FOR_INSPECTION = (InboundEvent.Status.FAILED, InboundEvent.Status.MALFORMED)


def _expired() -> Q | None:
    """The events past their retention, or None when both are kept forever."""
    now = timezone.now()
    rules = [
        Q(status__in=statuses, received_at__lt=now - timedelta(days=days))
        for statuses, days in (
            (DONE, settings.PINGBACK_RAW_EVENT_RETENTION_DAYS),
            (KEPT_FOR_INSPECTION, settings.PINGBACK_FAILED_EVENT_RETENTION_DAYS),
        )
        if days > 0
    ]
    return functools.reduce(operator.or_, rules) if rules else None


def inbound_events_purge() -> int:
    """Delete the stored events past their retention (module docstring), in
    batches of `RAW_EVENT_PURGE_BATCH` rows, each its own short transaction
    (`DELETE ... WHERE id IN (SELECT id ... LIMIT n)`, on the
    `(status, received_at)` index), so no lock is held for long and webhooks
    keep being stored meanwhile. Stops when none is left or after
    `RAW_EVENT_PURGE_MAX_SECONDS` (the next run goes on). Returns how many
    events were deleted."""
    expired = _expired()
    if expired is None:
        return 0
    batch = max(settings.RAW_EVENT_PURGE_BATCH, 1)
    started = time.monotonic()
    total = 0
    while True:
        ids = InboundEvent.objects.filter(expired).values("pk")[:batch]
        deleted, _ = InboundEvent.objects.filter(pk__in=ids).delete()
        total += deleted
        if deleted < batch:
            break
        if time.monotonic() - started >= settings.RAW_EVENT_PURGE_MAX_SECONDS:
            break
    if total:
        logger.info("inbound.events_purged", extra={"deleted": total})
    return total

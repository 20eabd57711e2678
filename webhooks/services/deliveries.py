"""Delivering webhook events: signed POSTs under the outbound HTTP policy,
retried with backoff, logged attempt by attempt.

The events are outbox rows (`webhooks.services.events`): committed with the
change, handed after the commit to this process's relay (the outbox's
`Relay`, see channels_app/services/outbox.py), which publishes a
`webhooks.deliver_event` task per event id; beat's `webhooks.sweep_events`
publishes again what no worker claimed and the retries that have come due.

- A task claims its event under a row lock (`pending` → `sending`, with a
  lease), so an event published twice is sent once.
- Each POST is signed as the Standard Webhooks specification says
  (`webhook-id`, `webhook-timestamp`, `webhook-signature`; the `standardwebhooks`
  package signs), with the endpoint's secret and, for a day after a
  rotation, its previous one too (two signatures, space-separated).
- It goes through `pingback.egress.egress_post`: never to a loopback,
  private, link-local or otherwise non-public address unless
  `EGRESS_ALLOWED_HOSTS` allows it; no redirects followed.
- A 2xx answer delivers the event. A timeout, a connection error, 429 or a
  5xx is tried again after an exponential backoff with jitter (longer if
  the answer's Retry-After asks), until the event is `WEBHOOK_RETRY_FOR`
  seconds old; anything else (another status, a refused address) fails it.
- An endpoint whose attempts have all failed for `WEBHOOK_DISABLE_AFTER`
  seconds is disabled, its remaining events failed, and the business's
  admins are told by e-mail.
"""

from __future__ import annotations

import atexit
import logging
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from standardwebhooks import Webhook

from channels_app.services.outbox import (
    Relay,
    due_publish,
    outbox_due_at,
    tasks_publish,
)
from pingback.egress import EgressError, EgressRefused, egress_post
from pingback.errors import ApplicationError
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 500
USER_AGENT = "PingBack-Webhooks/1.0"


# ------------------------------------------------------------------ signing


def signing_secrets(
    endpoint: WebhookEndpoint, *, now: datetime | None = None
) -> list[str]:
    """The `whsec_...` secrets that sign the endpoint's deliveries: the
    current one, and the previous one until `previous_expires_at`."""
    now = now or timezone.now()
    secrets = [endpoint.secrets["current"]]
    previous = endpoint.secrets.get("previous")
    if previous and endpoint.previous_expires_at and endpoint.previous_expires_at > now:
        secrets.append(previous)
    return secrets


def signed_headers(
    secrets: Iterable[str], *, webhook_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    """The Standard Webhooks headers of a delivery: `webhook-id`,
    `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64
    HMAC-SHA256 of "{id}.{timestamp}.{body}">` per secret, space-separated)."""
    signatures = [
        Webhook(secret).sign(webhook_id, timestamp, body) for secret in secrets
    ]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


# ------------------------------------------------------------------ hand-off


def events_publish(
    event_ids: Iterable[int], request_ids: Mapping[int, str] | None = None
) -> list[int]:
    """Publish a `webhooks.deliver_event` task per event id; return the ids
    whose publish failed (`tasks_publish`)."""
    from webhooks.tasks import deliver_event

    return tasks_publish(deliver_event, event_ids, request_ids)


_relay = Relay(events_publish)
atexit.register(_relay.flush)


def events_hand_off(event_ids: Iterable[int]) -> None:
    """Hand committed events to the delivery workers (call on commit). Eager
    tasks (no broker): delivered now, in this call."""
    from pingback.celery import app

    if app.conf.task_always_eager:
        from webhooks.tasks import deliver_event

        for event_id in event_ids:
            deliver_event.delay(event_id)
        return
    _relay.add(event_ids)


def events_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Publish again the pending events that are due and that no worker
    claimed (`republish_at` passed), and the retries that have come due;
    give back to `pending` the events whose worker died mid-send (lease
    over). Returns how many were published. Safe to run from several
    processes (`FOR UPDATE SKIP LOCKED`)."""
    now = now or timezone.now()
    WebhookEvent.objects.filter(
        status=WebhookEvent.Status.SENDING, lease_until__lte=now
    ).update(status=WebhookEvent.Status.PENDING, lease_until=None)
    due = WebhookEvent.objects.filter(
        status=WebhookEvent.Status.PENDING,
        next_attempt_at__lte=now,
        republish_at__lte=now,
    )
    published, _ = due_publish(
        due,
        order_by="next_attempt_at",
        limit=limit,
        then={"republish_at": outbox_due_at(now=now)},
        publish=events_publish,
    )
    return published


# ------------------------------------------------------------------ delivery


@dataclass(frozen=True)
class _Result:
    outcome: str  # "delivered", "transient", "failed"
    status_code: int | None
    excerpt: str
    error: str
    duration_ms: int
    retry_after: float | None = None


def retry_delay(attempt_count: int, *, rng: random.Random | None = None) -> float:
    """Seconds before retrying after failed attempt number `attempt_count`
    (1 for the first): `WEBHOOK_RETRY_BASE` doubling each attempt, at most
    `WEBHOOK_RETRY_CAP`, of which a random half is jitter (between half and
    all of it), so many endpoints failing at once do not retry in step."""
    full = min(
        settings.WEBHOOK_RETRY_CAP,
        settings.WEBHOOK_RETRY_BASE * 2 ** max(0, attempt_count - 1),
    )
    return full / 2 + (rng or random).uniform(0, full / 2)


def event_deliver(event_id: int, *, now: datetime | None = None) -> str:
    """Make one attempt at event `event_id` if it is pending and due (at
    `now`, default: the current time): returns `delivered`, `retry`,
    `failed`, or `skipped` (not pending or not due, claimed by another
    worker, or its endpoint is disabled: the event is failed then)."""
    now = now or timezone.now()
    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, status=WebhookEvent.Status.PENDING)
            .first()
        )
        if event is None or (event.next_attempt_at and event.next_attempt_at > now):
            return "skipped"
        endpoint = WebhookEndpoint.objects.get(pk=event.endpoint_id)
        if not endpoint.is_active:
            WebhookEvent.objects.filter(pk=event.pk).update(
                status=WebhookEvent.Status.FAILED, next_attempt_at=None
            )
            return "skipped"
        event.status = WebhookEvent.Status.SENDING
        event.attempt_count += 1
        event.lease_until = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT + 60)
        event.save(update_fields=["status", "attempt_count", "lease_until"])
    result = _post(event, endpoint)
    return _settle(event, endpoint, result, now=now)


def _post(event: WebhookEvent, endpoint: WebhookEndpoint) -> _Result:
    body = event.body.encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_headers(
            signing_secrets(endpoint),
            webhook_id=event.webhook_id,
            timestamp=timezone.now(),
            body=body,
        ),
    }
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        answer = egress_post(
            endpoint.url,
            content=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT,
            max_bytes=EXCERPT_CHARS * 4,
        )
    except EgressRefused as error:
        return _Result("failed", None, "", error.reason, took())
    except EgressError as error:
        return _Result("transient", None, "", error.reason, took())
    excerpt = answer.excerpt.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    code = answer.status_code
    if 200 <= code < 300:
        return _Result("delivered", code, excerpt, "", took())
    transient = code == 429 or code >= 500
    return _Result(
        "transient" if transient else "failed",
        code,
        excerpt,
        f"the endpoint answered HTTP {code}.",
        took(),
        answer.retry_after,
    )


def _settle(
    event: WebhookEvent, endpoint: WebhookEndpoint, result: _Result, *, now: datetime
) -> str:
    """Record the attempt and what follows from it (event status, the next
    try, the endpoint's failing streak)."""
    due = _retry_at(event, result, now) if result.outcome == "transient" else None
    if result.outcome == "delivered":
        outcome = WebhookAttempt.Outcome.DELIVERED
    elif due is not None:
        outcome = WebhookAttempt.Outcome.RETRY
    else:
        outcome = WebhookAttempt.Outcome.FAILED
    with transaction.atomic():
        WebhookAttempt.objects.create(
            event=event,
            attempted_at=now,
            outcome=outcome,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            excerpt=result.excerpt,
            error=result.error[:300],
        )
        fields: dict = {"lease_until": None}
        if outcome == WebhookAttempt.Outcome.DELIVERED:
            fields |= {
                "status": WebhookEvent.Status.DELIVERED,
                "delivered_at": now,
                "next_attempt_at": None,
            }
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        elif outcome == WebhookAttempt.Outcome.RETRY:
            fields |= {
                "status": WebhookEvent.Status.PENDING,
                "next_attempt_at": due,
                "republish_at": due,
            }
        else:
            fields |= {"status": WebhookEvent.Status.FAILED, "next_attempt_at": None}
        WebhookEvent.objects.filter(pk=event.pk).update(**fields)
        if outcome != WebhookAttempt.Outcome.DELIVERED:
            _failing(endpoint, now=now)
    logger.info(
        "webhooks.attempt",
        extra={
            "event_id": event.pk,
            "endpoint_id": endpoint.pk,
            "outcome": outcome,
            "status_code": result.status_code,
        },
    )
    return str(outcome)


def _retry_at(event: WebhookEvent, result: _Result, now: datetime) -> datetime | None:
    """When to try again, or None when the event has been retried long enough."""
    delay = retry_delay(event.attempt_count)
    if result.retry_after:
        delay = max(delay, min(result.retry_after, settings.WEBHOOK_RETRY_CAP))
    due = now + timedelta(seconds=delay)
    if due - event.created_at > timedelta(seconds=settings.WEBHOOK_RETRY_FOR):
        return None
    return due


def _failing(endpoint: WebhookEndpoint, *, now: datetime) -> None:
    """Note a failed attempt: start the endpoint's failing streak, or disable
    it when the streak has lasted `WEBHOOK_DISABLE_AFTER` seconds."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if locked.failing_since is None:
        locked.failing_since = now
        locked.save(update_fields=["failing_since", "updated_at"])
        return
    if not locked.is_active:
        return
    if now - locked.failing_since < timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER):
        return
    days = round(settings.WEBHOOK_DISABLE_AFTER / 86400, 1)
    endpoint_disable(
        locked,
        reason=_("Every delivery failed for %(days)s days.") % {"days": f"{days:g}"},
        now=now,
    )


def endpoint_disable(endpoint: WebhookEndpoint, *, reason: str, now: datetime) -> None:
    """Disable `endpoint` (locked by the caller): fail its pending events and
    e-mail the business's admins on commit."""
    endpoint.is_active = False
    endpoint.disabled_reason = reason[:300]
    endpoint.disabled_at = now
    endpoint.save(
        update_fields=["is_active", "disabled_reason", "disabled_at", "updated_at"]
    )
    WebhookEvent.objects.filter(
        endpoint=endpoint, status=WebhookEvent.Status.PENDING
    ).update(status=WebhookEvent.Status.FAILED, next_attempt_at=None)
    logger.warning(
        "webhooks.endpoint_disabled",
        extra={"endpoint_id": endpoint.pk, "business_id": str(endpoint.business_id)},
    )
    transaction.on_commit(lambda: _admins_tell(endpoint.pk))


def _admins_tell(endpoint_id: int) -> None:
    from billing.models import Member

    endpoint = WebhookEndpoint.objects.select_related("business").get(pk=endpoint_id)
    emails = [
        address
        for address in Member.objects.filter(
            business_id=endpoint.business_id, role=Member.Role.ADMIN
        ).values_list("user__email", flat=True)
        if address
    ]
    if not emails:
        return
    send_mail(
        subject=_("PingBack disabled a webhook endpoint"),
        message=_(
            "PingBack stopped sending events to %(url)s: %(reason)s\n\n"
            "Fix the endpoint, then enable it again in Settings → Webhooks."
        )
        % {"url": endpoint.url, "reason": endpoint.disabled_reason},
        from_email=None,
        recipient_list=emails,
        fail_silently=True,
    )


class RedeliverRefused(ApplicationError):
    """Redelivery asked for an event of a disabled endpoint (400)."""


def event_redeliver(event: WebhookEvent) -> WebhookEvent:
    """Send `event` again now (same `webhook-id`), whatever its status, once
    committed. Raises `RedeliverRefused` when its endpoint is disabled, or
    when the event is being sent right now. Returns the event as queued."""
    now = timezone.now()
    with transaction.atomic():
        locked = WebhookEvent.objects.select_for_update().get(pk=event.pk)
        endpoint = WebhookEndpoint.objects.get(pk=locked.endpoint_id)
        if not endpoint.is_active:
            raise RedeliverRefused(
                _("This endpoint is disabled: enable it before redelivering.")
            )
        if locked.status == WebhookEvent.Status.SENDING:
            raise RedeliverRefused(_("This event is being sent right now."))
        locked.status = WebhookEvent.Status.PENDING
        locked.next_attempt_at = now
        locked.republish_at = outbox_due_at(now=now)
        locked.save(update_fields=["status", "next_attempt_at", "republish_at"])
        transaction.on_commit(lambda: events_hand_off([locked.pk]))
    return locked

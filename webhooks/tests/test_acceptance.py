"""The outgoing webhooks' acceptance, end to end on a real Celery worker and
a real HTTP receiver on a free loopback port (allowed by
`EGRESS_ALLOWED_HOSTS` for that address and port only, see conftest.py):

- a receiver that fails 5 times, then answers 200, gets the event once
  after the retries, with a signature the Standard Webhooks reference
  library (`standardwebhooks`) accepts;
- 400 changes in a burst give 400 deliveries, none twice, while the
  sweeper publishes the waiting events again (so the worker gets duplicate
  tasks and must send each event once).

Retries do not wait real minutes: the backoff is the `WEBHOOK_RETRY_BASE`
setting (seconds, doubling per attempt, with jitter), made small here.
Celery beat does not run in tests: the test publishes the beat's task
(`webhooks.sweep_events`) itself, as beat would every
`OUTBOX_SWEEP_INTERVAL` seconds, and the worker runs it."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from contacts.services.contacts import contact_create, contact_update
from pingback.testing import wait_for
from pingback.tests.servers import Answer
from webhooks.models import EventType, WebhookAttempt, WebhookEvent
from webhooks.services.deliveries import events_sweep
from webhooks.services.endpoints import endpoint_create
from webhooks.tasks import sweep_events

pytestmark = pytest.mark.django_db(transaction=True)


def posts(receiver):
    return [r for r in receiver.received if r.method == "POST"]


def beat_tick():
    """What Celery beat does every OUTBOX_SWEEP_INTERVAL seconds: publish
    `webhooks.sweep_events` for a worker to run."""
    sweep_events.apply_async(retry=False)


def test_a_receiver_failing_5_times_then_answering_200_gets_the_event_once_signed(
    business, receiver, celery_worker, settings
):
    settings.WEBHOOK_RETRY_BASE = 0.1  # waits of 0.05-0.1 s, doubling
    receiver.answer_in_turn(
        "/hook",
        [
            Answer(500, b"boom"),
            Answer(503, b"maintenance"),
            Answer(429, b"slow down"),
            Answer(502, b"bad gateway"),
            Answer(504, b"gateway timeout"),
            Answer(200, b'{"ok":true}'),
        ],
    )
    endpoint, secret = endpoint_create(
        business=business,
        url=f"{receiver.url}/hook",
        events=[EventType.CONTACT_CREATED],
    )

    contact = contact_create(business=business, name="Ada Lovelace")

    def delivered():
        beat_tick()
        return WebhookEvent.objects.filter(
            endpoint=endpoint, status=WebhookEvent.Status.DELIVERED
        ).first()

    event = wait_for(delivered, timeout=60, interval=0.2)

    sent = posts(receiver)
    assert len(sent) == 6
    # Every attempt was the same event, signed; the last one was answered 200.
    assert {p.headers["webhook-id"] for p in sent} == {event.webhook_id}
    payload = Webhook(secret).verify(sent[-1].body, sent[-1].headers)
    assert payload["type"] == "contact.created"
    assert payload["data"]["id"] == contact.pk
    assert payload["data"]["name"] == "Ada Lovelace"
    # The reference library refuses the same delivery under another secret.
    other_secret = endpoint_create(
        business=business, url="https://example.com/x", events=["contact.merged"]
    )[1]
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(sent[-1].body, sent[-1].headers)
    # Each attempt is logged with its status and the answer's first bytes.
    attempts = list(event.attempts.order_by("attempted_at", "pk"))
    assert [(a.outcome, a.status_code, a.excerpt) for a in attempts] == [
        (WebhookAttempt.Outcome.RETRY, 500, "boom"),
        (WebhookAttempt.Outcome.RETRY, 503, "maintenance"),
        (WebhookAttempt.Outcome.RETRY, 429, "slow down"),
        (WebhookAttempt.Outcome.RETRY, 502, "bad gateway"),
        (WebhookAttempt.Outcome.RETRY, 504, "gateway timeout"),
        (WebhookAttempt.Outcome.DELIVERED, 200, '{"ok":true}'),
    ]
    # The waits grew (exponential backoff).
    gaps = [
        (later.attempted_at - earlier.attempted_at).total_seconds()
        for earlier, later in itertools.pairwise(attempts)
    ]
    assert all(gap >= 0.05 * 2**n for n, gap in enumerate(gaps)), gaps
    # Delivered: nothing is due any more, and no further POST arrives.
    assert events_sweep() == 0
    assert len(posts(receiver)) == 6


def test_a_burst_of_400_changes_gives_400_deliveries_none_twice(
    business, receiver, celery_worker, settings
):
    # Waiting events are published again after 1 s without a claim: with 400
    # in the worker's queue (half a minute of work), most get a second task,
    # and many a third.
    settings.OUTBOX_REPUBLISH_AFTER = 1.0
    contacts = [contact_create(business=business, name=f"c{n}") for n in range(40)]
    endpoint, secret = endpoint_create(
        business=business,
        url=f"{receiver.url}/hook",
        events=[EventType.CONTACT_UPDATED],
    )

    for round_ in range(10):
        for contact in contacts:
            contact_update(contact, name=f"{contact.pk}-{round_}")

    def all_delivered():
        beat_tick()
        return (
            WebhookEvent.objects.filter(
                endpoint=endpoint, status=WebhookEvent.Status.DELIVERED
            ).count()
            == 400
        )

    wait_for(all_delivered, timeout=300, interval=0.5)
    # Sweeps still queued may republish nothing: every event is settled.
    assert events_sweep() == 0

    sent = posts(receiver)
    ids = Counter(p.headers["webhook-id"] for p in sent)
    assert len(sent) == 400, f"{len(sent) - len(ids)} sent twice"
    assert max(ids.values()) == 1
    names = Counter(json.loads(p.body)["data"]["name"] for p in sent)
    assert set(names) == {f"{c.pk}-{r}" for c in contacts for r in range(10)}
    verifier = Webhook(secret)
    for post in sent[:: len(sent) // 50]:
        assert verifier.verify(post.body, post.headers)["type"] == "contact.updated"
    assert WebhookAttempt.objects.filter(event__endpoint=endpoint).count() == 400

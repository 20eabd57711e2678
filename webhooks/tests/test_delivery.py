"""Outgoing webhooks over real HTTP to a receiver on loopback: what is sent
and how it is signed (checked with the snippet docs/webhooks.md gives),
one event per change, retries with backoff, the outbound HTTP policy, and
disabling an endpoint that keeps failing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from billing.tests.factories import MemberFactory
from channels_app.platforms.base import DeliveryStatus
from contacts.services.contacts import contact_create, contact_update
from conversations.services.conversations import conversation_update
from conversations.services.receipts import receipt_apply
from conversations.tests.factories import ConversationFactory, ReplyFactory
from pingback.tests.servers import Answer
from webhooks.models import EventType, WebhookAttempt, WebhookEndpoint, WebhookEvent
from webhooks.services.deliveries import event_deliver, events_sweep, signed_headers
from webhooks.services.endpoints import endpoint_create, endpoint_rotate_secret
from webhooks.services.events import Change, events_record

pytestmark = pytest.mark.django_db

DOCS = Path(django_settings.BASE_DIR) / "docs" / "webhooks.md"


def documented_verifier():
    """`verify_pingback_webhook` exactly as docs/webhooks.md prints it."""
    text = DOCS.read_text()
    block = re.search(r"```python\n(import base64.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(block, scope)
    return scope["verify_pingback_webhook"]


def posts(receiver, event_type=None):
    found = [r for r in receiver.received if r.method == "POST"]
    if event_type:
        found = [r for r in found if json.loads(r.body)["type"] == event_type]
    return found


def test_a_change_is_posted_signed_and_the_documented_snippet_verifies_it(
    business, receiver, endpoint, secret, django_capture_on_commit_callbacks
):
    verify = documented_verifier()
    with django_capture_on_commit_callbacks(execute=True):
        contact = contact_create(business=business, name="Ada Lovelace")

    [post] = posts(receiver)
    assert post.path == "/hook"
    assert post.headers["content-type"] == "application/json"
    payload = json.loads(post.body)
    assert payload["type"] == "contact.created"
    assert payload["data"]["id"] == contact.pk
    assert payload["data"]["name"] == "Ada Lovelace"
    assert verify(secret, post.headers, post.body)
    # The official library agrees, and a wrong secret or a changed body fails.
    assert Webhook(secret).verify(post.body, post.headers)["type"] == "contact.created"
    other_secret = endpoint_create(
        business=business, url="https://example.com/x", events=["contact.created"]
    )[1]
    assert not verify(other_secret, post.headers, post.body)
    assert not verify(secret, post.headers, post.body.replace(b"Ada", b"Eve"))
    event = WebhookEvent.objects.get(endpoint=endpoint)
    assert post.headers["webhook-id"] == event.webhook_id
    assert event.status == WebhookEvent.Status.DELIVERED
    [attempt] = event.attempts.all()
    assert attempt.outcome == WebhookAttempt.Outcome.DELIVERED
    assert attempt.status_code == 200
    assert attempt.excerpt == '{"ok":true}'


def test_signing_matches_the_specifications_example_and_the_snippet_checks_it(
    monkeypatch,
):
    # The Standard Webhooks specification's published test vector: this
    # secret, id, timestamp and body give this signature.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    headers = signed_headers(
        [secret],
        webhook_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=datetime.fromtimestamp(1614265330, tz=UTC),
        body=body,
    )
    assert headers == expected
    verify = documented_verifier()
    # Years old: the snippet refuses it for its age alone...
    assert not verify(secret, headers, body)
    # ...and takes it a minute after it was signed.
    monkeypatch.setattr("time.time", lambda: 1614265330 + 60)
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")


def test_the_secret_is_encrypted_at_rest(endpoint, secret):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secrets FROM webhooks_webhookendpoint WHERE id = %s", [endpoint.pk]
        )
        stored = str(cursor.fetchone()[0])
    assert secret.startswith("whsec_")
    assert secret not in stored
    assert secret.removeprefix("whsec_") not in stored


def test_after_a_rotation_both_secrets_sign_for_a_day_then_only_the_new_one(
    business, receiver, endpoint, secret, django_capture_on_commit_callbacks
):
    verify = documented_verifier()
    new_secret = endpoint_rotate_secret(endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        contact_create(business=business, name="Grace")
    [post] = posts(receiver)
    assert verify(secret, post.headers, post.body)
    assert verify(new_secret, post.headers, post.body)

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        contact_create(business=business, name="Katherine")
    later = posts(receiver)[1]
    assert verify(new_secret, later.headers, later.body)
    assert not verify(secret, later.headers, later.body)


# ------------------------------------------------------------ one per change


def test_two_quick_updates_are_two_events_and_repeating_one_adds_none(
    business, receiver, endpoint, admin_member, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(business=business)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_update(
            conversation=conversation, by=admin_member.user, status="resolved"
        )
        conversation_update(
            conversation=conversation, by=admin_member.user, status="open"
        )
        # The same change again (a double click, a retried request): no change.
        conversation_update(
            conversation=conversation, by=admin_member.user, status="open"
        )

    changed = posts(receiver, "conversation.status_changed")
    assert [json.loads(p.body)["data"]["status"] for p in changed] == [
        "resolved",
        "open",
    ]
    assert [json.loads(p.body)["data"]["previous_status"] for p in changed] == [
        "open",
        "resolved",
    ]
    assert len(posts(receiver, "conversation.updated")) == 2
    assert len({p.headers["webhook-id"] for p in posts(receiver)}) == 4


def test_a_receipt_the_platform_repeats_gives_one_event(
    business, receiver, endpoint, django_capture_on_commit_callbacks
):
    reply = ReplyFactory(
        conversation__business=business, status="sent", platform_message_id="p-1"
    )
    receipt = DeliveryStatus("p-1", "delivered", timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert receipt_apply(channel=reply.channel, receipt=receipt) == 1
        assert receipt_apply(channel=reply.channel, receipt=receipt) == 0

    [post] = posts(receiver, "message.status_changed")
    assert json.loads(post.body)["data"] == {
        "id": reply.pk,
        "conversation_id": reply.conversation_id,
        "status": "delivered",
        "error": "",
    }


def test_the_same_change_recorded_twice_in_a_burst_is_one_event(business, endpoint):
    change = Change(EventType.CONTACT_UPDATED, "7:burst", {"id": 7})
    first = events_record(business.pk, [change, change])
    second = events_record(business.pk, [change])

    assert len(first) == 1
    assert second == []
    assert WebhookEvent.objects.filter(endpoint=endpoint).count() == 1


def test_an_endpoint_receives_only_the_events_it_chose(
    business, receiver, django_capture_on_commit_callbacks
):
    endpoint_create(
        business=business, url=f"{receiver.url}/hook", events=["contact.updated"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        contact = contact_create(business=business, name="Ada")
        contact_update(contact, name="Ada L.")

    assert [json.loads(p.body)["type"] for p in posts(receiver)] == ["contact.updated"]


def test_a_change_rolled_back_sends_nothing(business, receiver, endpoint):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        contact_create(business=business, name="Ghost")
        raise RuntimeError("the request failed after the change")

    assert not WebhookEvent.objects.exists()
    assert posts(receiver) == []


# ------------------------------------------------------------------ retries


def _one_event(business, endpoint) -> WebhookEvent:
    [event_id] = events_record(
        business.pk, [Change(EventType.CONTACT_CREATED, "1", {"id": 1})]
    )
    return WebhookEvent.objects.get(pk=event_id)


@pytest.mark.parametrize(
    "answer",
    [Answer(500, b"boom"), Answer(503, b"later"), Answer(429, b"slow down")],
    ids=["500", "503", "429"],
)
def test_a_server_error_or_429_is_retried_after_a_backoff(
    business, receiver, endpoint, answer
):
    receiver.answer("/hook", answer)
    event = _one_event(business, endpoint)
    now = timezone.now()

    assert event_deliver(event.pk, now=now) == "retry"

    event.refresh_from_db()
    base = django_settings.WEBHOOK_RETRY_BASE
    assert event.status == WebhookEvent.Status.PENDING
    assert now + timedelta(seconds=base / 2) <= event.next_attempt_at
    assert event.next_attempt_at <= now + timedelta(seconds=base)
    [attempt] = event.attempts.all()
    assert attempt.status_code == answer.status
    assert attempt.excerpt == answer.body.decode()
    # Not due yet: a task arriving early does nothing.
    assert event_deliver(event.pk, now=now + timedelta(seconds=1)) == "skipped"
    assert len(posts(receiver)) == 1


def test_the_backoff_doubles_and_the_event_is_delivered_when_the_server_recovers(
    business, receiver, endpoint
):
    receiver.answer("/hook", Answer(500, b"down"))
    event = _one_event(business, endpoint)
    now = timezone.now()
    waits = []
    for _ in range(5):
        assert event_deliver(event.pk, now=now) == "retry"
        event.refresh_from_db()
        waits.append((event.next_attempt_at - now).total_seconds())
        now = event.next_attempt_at
    base = django_settings.WEBHOOK_RETRY_BASE
    for number, wait in enumerate(waits):
        assert base * 2**number / 2 <= wait <= base * 2**number

    receiver.answer("/hook", Answer(204))
    assert event_deliver(event.pk, now=now) == "delivered"
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.DELIVERED
    assert event.attempt_count == 6
    # Every attempt carried the same webhook-id.
    assert {p.headers["webhook-id"] for p in posts(receiver)} == {event.webhook_id}


def test_retry_after_is_honoured(business, receiver, endpoint):
    receiver.answer("/hook", Answer(429, b"", {"Retry-After": "600"}))
    event = _one_event(business, endpoint)
    now = timezone.now()

    event_deliver(event.pk, now=now)

    event.refresh_from_db()
    assert event.next_attempt_at >= now + timedelta(seconds=600)


def test_a_timeout_is_retried(business, receiver, endpoint, settings):
    settings.WEBHOOK_TIMEOUT = 0.5
    receiver.answer("/hook", Answer(200, (b"a", b"b", b"c"), delay=2.0))
    event = _one_event(business, endpoint)

    assert event_deliver(event.pk) == "retry"

    [attempt] = WebhookAttempt.objects.filter(event=event)
    assert "did not answer in time" in attempt.error


def test_a_refused_connection_is_retried(business, endpoint, settings):
    from pingback.testing import free_port

    port = free_port()  # nothing listens there
    settings.EGRESS_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        url=f"http://127.0.0.1:{port}/hook"
    )
    event = _one_event(business, endpoint)

    assert event_deliver(event.pk) == "retry"


def test_a_client_error_fails_at_once(business, receiver, endpoint):
    receiver.answer("/hook", Answer(404, b"no such hook"))
    event = _one_event(business, endpoint)

    assert event_deliver(event.pk) == "failed"

    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.FAILED
    assert event.next_attempt_at is None


def test_retries_stop_once_the_event_is_older_than_the_retry_period(
    business, receiver, endpoint
):
    receiver.answer("/hook", Answer(500))
    event = _one_event(business, endpoint)
    retry_for = timedelta(seconds=django_settings.WEBHOOK_RETRY_FOR)
    assert retry_for >= timedelta(days=1)
    WebhookEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - retry_for
    )

    assert event_deliver(event.pk) == "failed"


@pytest.mark.parametrize("age_hours", [1, 23, 36])
def test_a_failing_event_is_still_retried_after_a_day_and_more(
    business, receiver, endpoint, age_hours
):
    receiver.answer("/hook", Answer(503))
    event = _one_event(business, endpoint)
    # Many attempts later: the wait is capped, the event still retried.
    WebhookEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - timedelta(hours=age_hours), attempt_count=20
    )
    now = timezone.now()

    assert event_deliver(event.pk, now=now) == "retry"

    event.refresh_from_db()
    wait = event.next_attempt_at - now
    assert timedelta(seconds=django_settings.WEBHOOK_RETRY_CAP / 2) <= wait
    assert wait <= timedelta(seconds=django_settings.WEBHOOK_RETRY_CAP)


def test_the_sweeper_sends_a_retry_when_it_is_due(business, receiver, endpoint):
    receiver.answer("/hook", Answer(500))
    event = _one_event(business, endpoint)
    event_deliver(event.pk)
    event.refresh_from_db()
    receiver.answer("/hook", Answer(200))

    assert events_sweep(now=event.next_attempt_at - timedelta(seconds=1)) == 0
    assert len(posts(receiver)) == 1
    # Tasks run inline here: the sweep's publish delivers it (at the real
    # time, before the retry is due, so the task leaves it alone)...
    assert events_sweep(now=event.next_attempt_at) == 1
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PENDING
    # ...and once due, the task sends it.
    assert event_deliver(event.pk, now=event.next_attempt_at) == "delivered"
    assert len(posts(receiver)) == 2


# --------------------------------------------------------------- the policy


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/hook",
    ],
    ids=["loopback", "localhost", "10.x", "192.168.x", "metadata", "ipv6-loopback"],
)
def test_private_and_loopback_addresses_are_refused_and_nothing_is_sent(
    business, receiver, endpoint, settings, url
):
    settings.EGRESS_ALLOWED_HOSTS = []
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        url=url.format(port=receiver.port)
    )
    event = _one_event(business, endpoint)

    assert event_deliver(event.pk) == "failed"

    assert receiver.received == []
    [attempt] = WebhookAttempt.objects.filter(event=event)
    assert "not a public address" in attempt.error
    assert attempt.status_code is None


# ---------------------------------------------------------------- disabling


def test_an_endpoint_failing_for_days_is_disabled_and_its_admins_told(
    business, receiver, endpoint, admin_member, django_capture_on_commit_callbacks
):
    other_admin = MemberFactory(business=business, role="admin")
    MemberFactory(business=business, role="agent")
    receiver.answer("/hook", Answer(503))
    first = _one_event(business, endpoint)
    event_deliver(first.pk)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None and endpoint.is_active
    # Days of failures later (the first failure moved back in time).
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now()
        - timedelta(seconds=django_settings.WEBHOOK_DISABLE_AFTER + 60)
    )
    waiting = WebhookEvent.objects.get(pk=first.pk)
    later = events_record(
        business.pk, [Change(EventType.CONTACT_CREATED, "2", {"id": 2})]
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert event_deliver(later[0]) == "retry"

    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "failed" in endpoint.disabled_reason
    waiting.refresh_from_db()
    assert waiting.status == WebhookEvent.Status.FAILED
    [message] = mail.outbox
    assert set(message.to) == {admin_member.user.email, other_admin.user.email}
    assert endpoint.url in message.body
    # No more events are recorded for it.
    assert (
        events_record(business.pk, [Change(EventType.CONTACT_CREATED, "3", {})]) == []
    )


def test_a_dead_endpoint_is_disabled_by_its_last_event_before_it_is_given_up(
    business, receiver, endpoint, admin_member, django_capture_on_commit_callbacks
):
    """With no new events coming, the last retries of the last event are the
    only attempts left to judge the endpoint by: they must disable it."""
    receiver.answer("/hook", Answer(503))
    event = _one_event(business, endpoint)
    event_deliver(event.pk)
    # Almost WEBHOOK_RETRY_FOR later, every attempt having failed.
    almost = timezone.now() - timedelta(seconds=django_settings.WEBHOOK_RETRY_FOR - 600)
    WebhookEvent.objects.filter(pk=event.pk).update(
        created_at=almost, next_attempt_at=timezone.now()
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=almost)

    with django_capture_on_commit_callbacks(execute=True):
        event_deliver(event.pk)

    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert [message.to for message in mail.outbox] == [[admin_member.user.email]]


def test_the_settings_check_warns_when_an_endpoint_could_never_be_disabled(
    settings,
):
    from webhooks.checks import check_disable_before_giving_up

    assert check_disable_before_giving_up(None) == []
    settings.WEBHOOK_DISABLE_AFTER = settings.WEBHOOK_RETRY_FOR
    [warning] = check_disable_before_giving_up(None)
    assert warning.id == "webhooks.W001"


def test_a_success_ends_the_failing_streak(business, receiver, endpoint):
    receiver.answer("/hook", Answer(500))
    event = _one_event(business, endpoint)
    event_deliver(event.pk)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None

    receiver.answer("/hook", Answer(200))
    event.refresh_from_db()
    event_deliver(event.pk, now=event.next_attempt_at)

    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_large_burst_is_recorded_once_per_change_and_endpoint(business, endpoint):
    endpoint_create(
        business=business, url="https://example.com/b", events=["contact.updated"]
    )
    changes = [Change(EventType.CONTACT_UPDATED, str(n), {"id": n}) for n in range(700)]

    made = events_record(business.pk, changes + changes[:50])

    # 1,400 rows: more than SQLite's 999 parameters in one statement.
    assert len(made) == 1400
    assert WebhookEvent.objects.count() == 1400


def test_a_redirect_is_not_followed(business, receiver, endpoint):
    receiver.answer("/hook", Answer(302, b"", {"Location": "/elsewhere"}))
    receiver.answer("/elsewhere", Answer(200))
    event = _one_event(business, endpoint)

    assert event_deliver(event.pk) == "failed"

    assert [r.path for r in receiver.received] == ["/hook"]


def test_an_event_left_sending_by_a_dead_worker_is_sent_again(
    business, receiver, endpoint
):
    event = _one_event(business, endpoint)
    now = timezone.now()
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=WebhookEvent.Status.SENDING,
        lease_until=now - timedelta(seconds=1),
        republish_at=now - timedelta(seconds=1),
    )

    # Tasks run inline: the sweep's publish sends it.
    assert events_sweep(now=now) == 1

    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.DELIVERED
    assert len(posts(receiver)) == 1

"""The inbound hot path: webhooks stored as events, events drained in batches.

Webhooks are real signed X DM bodies built by the sandbox, posted through the
webhook view. Draining runs `inbound_events_drain` (the worker's service)
directly, or a real Celery worker on the broker for the wake-up tests.
"""

import json
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.services.inbound import DrainResult, inbound_events_drain
from channels_app.services.wake import inbound_wake_flag_clear, inbound_wake_flag_set
from channels_app.tasks import process_inbound_events
from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation, Message
from pingback.celery import app as celery_app
from pingback.testing import wait_for
from sandbox.platforms.x.payloads import DEMO_APP, XUser, dm_payload, new_id, sign

T0_MS = 1_760_000_000_000


def customer(index: int) -> XUser:
    return XUser(
        id=str(2_400_000_000_000_000_000 + index),
        screen_name=f"customer_{index}",
        name=f"Customer {index}",
    )


def dm_body(index: int, text: str | None = None) -> tuple[str, bytes]:
    """(DM event id, signed-ready body) of a DM from customer `index % 7`."""
    event_id = new_id()
    payload = dm_payload(
        account=DEMO_APP.account,
        customer=customer(index % 7),
        text=text or f"Message {index}",
        event_id=event_id,
        created_ms=T0_MS + index * 1000,
    )
    return event_id, json.dumps(payload).encode()


def post(client, channel: Channel, body: bytes, secret: str | None = None):
    return client.post(
        f"/api/v1/webhooks/x/{channel.pk}",
        data=body,
        content_type="application/json",
        HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=sign(
            body, secret or DEMO_APP.consumer_secret
        ),
    )


@pytest.fixture
def stored_only(settings):
    """Webhooks store their events without processing them (as with a broker
    whose workers are busy): the test drains when it chooses."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    inbound_wake_flag_set()  # a drain is "already coming": nothing is enqueued
    yield
    # Let this process's wake-up thread send its last SET NX (it coalesces
    # for 20 ms) while the flag still stops it from enqueueing a drain.
    time.sleep(0.1)
    inbound_wake_flag_clear()
    celery_app.conf.task_always_eager = previous


# ------------------------------------------------------------- the webhook side


@pytest.mark.django_db
def test_a_secret_changed_elsewhere_is_picked_up_by_the_next_signed_webhook(client):
    """A web process reuses the channel it loaded; when an admin changes the
    consumer secret through another process, the first webhook signed with the
    new secret still gets in, and the old secret stops working."""
    channel = ChannelFactory()
    assert post(client, channel, dm_body(1)[1]).status_code == 200
    new_secrets = {**channel.secrets, "api_secret": "rotated-consumer-secret"}
    # Another process's save: no signal reaches this process.
    Channel.objects.filter(pk=channel.pk).update(secrets=new_secrets)

    accepted = post(client, channel, dm_body(2)[1], secret="rotated-consumer-secret")
    refused = post(client, channel, dm_body(3)[1])

    assert accepted.status_code == 200
    assert accepted.json() == {"status": "accepted"}
    assert refused.status_code == 403
    assert InboundEvent.objects.filter(channel=channel).count() == 2


@pytest.mark.django_db
def test_a_secret_changed_in_this_process_takes_effect_at_once(client):
    channel = ChannelFactory()
    assert post(client, channel, dm_body(1)[1]).status_code == 200

    channel.secrets = {**channel.secrets, "api_secret": "rotated-consumer-secret"}
    channel.save()

    assert post(client, channel, dm_body(2)[1]).status_code == 403
    assert (
        post(client, channel, dm_body(3)[1], "rotated-consumer-secret").status_code
        == 200
    )


@pytest.mark.django_db
def test_a_channel_deactivated_elsewhere_stores_but_does_not_process(
    client, stored_only
):
    """The web process may still see the channel active for a few seconds;
    the worker reads it again and ignores the event, keeping it for replay."""
    channel = ChannelFactory()
    assert post(client, channel, dm_body(1)[1]).status_code == 200
    Channel.objects.filter(pk=channel.pk).update(is_active=False)

    assert post(client, channel, dm_body(2)[1]).status_code == 200
    inbound_events_drain()

    assert set(InboundEvent.objects.values_list("status", "error")) == {
        ("ignored", "channel inactive")
    }
    assert Message.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_channel_deleted_elsewhere_answers_404_and_stores_nothing(
    client, stored_only
):
    channel = ChannelFactory()
    assert post(client, channel, dm_body(1)[1]).status_code == 200
    InboundEvent.objects.all().delete()
    # Another process deletes it: this process still holds the channel.
    Channel.objects.filter(pk=channel.pk)._raw_delete(connection.alias)

    response = post(client, channel, dm_body(2)[1])

    assert response.status_code == 404
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_webhook_costs_one_insert_and_no_task_message_per_event(client, stored_only):
    """The stored row is the hand-off: acknowledging a webhook whose channel
    this process already holds is one INSERT, whatever the event."""
    channel = ChannelFactory()
    post(client, channel, dm_body(1)[1])

    with CaptureQueriesContext(connection) as queries:
        response = post(client, channel, dm_body(2)[1])

    assert response.json() == {"status": "accepted"}
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]


# --------------------------------------------------------------------- draining


@pytest.mark.django_db
def test_a_backlog_is_drained_in_batches_into_conversations(
    client, stored_only, settings
):
    settings.INBOUND_BATCH_SIZE = 8
    channel = ChannelFactory()
    sent = [dm_body(index) for index in range(30)]
    for _, body in sent:
        assert post(client, channel, body).json() == {"status": "accepted"}
    assert Message.objects.count() == 0

    result = inbound_events_drain()

    assert result.claimed == 30
    assert not result.handed_over
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert sorted(Message.objects.values_list("platform_message_id", flat=True)) == (
        sorted(event_id for event_id, _ in sent)
    )
    assert Conversation.objects.count() == 7
    busiest = Conversation.objects.get(thread_key=f"dm:{customer(0).id}")
    assert busiest.unread_count == 5  # messages 0, 7, 14, 21, 28
    texts = busiest.messages.order_by("sent_at").values_list("text", flat=True)
    assert list(texts) == [f"Message {index}" for index in (0, 7, 14, 21, 28)]


@pytest.mark.django_db
def test_events_of_several_channels_in_one_batch_stay_apart(client, stored_only):
    first, second = ChannelFactory(), ChannelFactory()
    post(client, first, dm_body(1, "to the first")[1])
    post(client, second, dm_body(1, "to the second")[1])

    inbound_events_drain()

    assert sorted(
        Message.objects.values_list("channel_id", "conversation__channel_id", "text")
    ) == sorted(
        [
            (first.pk, first.pk, "to the first"),
            (second.pk, second.pk, "to the second"),
        ]
    )


@pytest.mark.django_db
def test_an_event_whose_body_no_longer_parses_fails_alone(client, stored_only):
    """A stored body the parser now refuses (a parser change since it was
    acknowledged) fails with the reason; the rest of its batch is stored."""
    channel = ChannelFactory()
    post(client, channel, dm_body(1)[1])
    broken = InboundEvent.objects.create(
        channel=channel, event_key="broken", body=b'{"for_user_id": 15}'
    )
    post(client, channel, dm_body(2)[1])

    inbound_events_drain()

    broken.refresh_from_db()
    assert broken.status == "failed"
    assert broken.error == (
        "MalformedPayload: for_user_id: expected a string, got an integer"
    )
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_an_unexpected_error_in_a_batch_fails_only_its_event(
    client, stored_only, monkeypatch
):
    """A bug met by one event rolls back its batch, which is then processed
    event by event: the others are stored, the bad one keeps its error for a
    replay."""
    channel = ChannelFactory()
    bodies = [dm_body(index)[1] for index in range(5)]
    for body in bodies:
        post(client, channel, body)
    platform = get_platform("x")
    parse = platform.parse

    def parse_with_a_bug(channel, body):
        if body == bodies[2]:
            raise RuntimeError("a bug in the parser")
        return parse(channel, body)

    monkeypatch.setattr(platform, "parse", parse_with_a_bug)

    inbound_events_drain()

    statuses = dict(InboundEvent.objects.values_list("body", "status"))
    assert {bytes(body): status for body, status in statuses.items()} == {
        bodies[0]: "processed",
        bodies[1]: "processed",
        bodies[2]: "failed",
        bodies[3]: "processed",
        bodies[4]: "processed",
    }
    assert InboundEvent.objects.get(status="failed").error == (
        "RuntimeError: a bug in the parser"
    )
    assert Message.objects.count() == 4


@pytest.mark.django_db
def test_a_long_drain_hands_over_to_a_new_task(client, stored_only, settings):
    """Past INBOUND_DRAIN_SECONDS a drain stops and enqueues its successor,
    so deliveries queued behind it get a turn."""
    settings.INBOUND_BATCH_SIZE = 2
    settings.INBOUND_DRAIN_SECONDS = 0
    channel = ChannelFactory()
    for index in range(5):
        post(client, channel, dm_body(index)[1])

    result = inbound_events_drain()

    assert result == DrainResult(claimed=2, handed_over=True)
    assert InboundEvent.objects.filter(status="received").count() == 3


@pytest.mark.django_db
def test_the_periodic_drain_processes_events_no_wake_up_reached(client, stored_only):
    """Celery beat runs the drain every INBOUND_SWEEP_INTERVAL seconds: an
    event whose drain was lost with its worker is processed then."""
    channel = ChannelFactory()
    post(client, channel, dm_body(1)[1])

    claimed = process_inbound_events.apply().get()

    assert claimed == 1
    assert InboundEvent.objects.get().status == "processed"


def test_the_beat_schedule_runs_the_drain(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["process-inbound-events"]
    assert schedule == {
        "task": "channels.process_inbound_events",
        "schedule": settings.INBOUND_SWEEP_INTERVAL,
    }


@pytest.mark.django_db(transaction=True)
def test_a_burst_enqueues_one_drain_not_one_task_per_webhook(client):
    """With the workers busy elsewhere, a hundred webhooks leave one drain
    task on the broker: the first sets the wake flag, the rest find it set."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    # Purged before the flag is cleared: a wake-up left pending by an earlier
    # test then either lands before the purge or sets the flag this test sees.
    celery_app.control.purge()
    inbound_wake_flag_clear()
    try:
        channel = ChannelFactory()
        for index in range(100):
            assert post(client, channel, dm_body(index)[1]).status_code == 200

        assert wait_for(queued_drains, timeout=10) == 1
        # The wake-up thread may still be handling the last webhooks.
        time.sleep(0.2)
        assert queued_drains() == 1
    finally:
        celery_app.control.purge()
        inbound_wake_flag_clear()
        celery_app.conf.task_always_eager = previous


def queued_drains() -> int:
    with celery_app.connection_for_read() as connection_:
        declared = connection_.default_channel.queue_declare(
            queue=celery_app.conf.task_default_queue, passive=True
        )
    return declared.message_count


# --------------------------------------------------------- with a real worker


@pytest.mark.django_db(transaction=True)
def test_a_burst_reaches_the_worker_and_each_event_is_stored_once(
    client, celery_worker, settings
):
    """Fifty webhooks in a row, a real worker on the broker: every one
    becomes exactly one message, however the wake-ups fell."""
    settings.INBOUND_BATCH_SIZE = 7
    channel = ChannelFactory()
    sent = [dm_body(index) for index in range(50)]

    for _, body in sent:
        assert post(client, channel, body).status_code == 200

    wait_for(lambda: Message.objects.count() == 50)
    assert not InboundEvent.objects.exclude(status="processed").exists()
    assert sorted(Message.objects.values_list("platform_message_id", flat=True)) == (
        sorted(event_id for event_id, _ in sent)
    )


@pytest.mark.django_db(transaction=True)
def test_a_webhook_after_a_finished_drain_wakes_a_new_one(
    client, celery_worker, settings
):
    """The drain clears the wake flag, so the next webhook enqueues a new
    drain at once instead of waiting for the flag to expire."""
    settings.INBOUND_WAKE_SECONDS = 600
    channel = ChannelFactory()
    post(client, channel, dm_body(1)[1])
    wait_for(lambda: Message.objects.count() == 1)

    post(client, channel, dm_body(2)[1])

    wait_for(lambda: Message.objects.count() == 2, timeout=10)


def test_a_wake_up_whose_enqueue_failed_is_tried_again_not_skipped(monkeypatch):
    """The broker refusing the drain must not leave the wake flag set: the
    flag says "a drain is coming", and the wake-up thread's retry would
    then enqueue nothing until it expired."""
    from channels_app.services.wake import inbound_wake_now

    inbound_wake_flag_clear()
    enqueued = []

    def refused():
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(process_inbound_events, "delay", refused)
    with pytest.raises(ConnectionError):
        inbound_wake_now()

    monkeypatch.setattr(process_inbound_events, "delay", lambda: enqueued.append(1))
    try:
        assert inbound_wake_now() is True
        assert enqueued == [1]
    finally:
        inbound_wake_flag_clear()

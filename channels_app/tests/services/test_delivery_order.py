"""Replies of one conversation reach the platform in the order they were
written, however many workers send at once: a reply waits while an earlier
one of its conversation is queued or sending, and is handed on when that one
is settled. Checked in the service, and through the Procfile's `delivery`
worker (a thread pool) against the X sandbox with a platform latency."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from channels_app.services.delivery import message_deliver
from channels_app.tasks import deliver_message
from conversations.models import DeliveryAttempt, Message
from conversations.tests.factories import ConversationFactory, ReplyFactory
from pingback.celery import app as celery_app
from pingback.testing import child_process, current_database_url, wait_for

BIN = Path(sys.executable).parent


@pytest.mark.django_db
def test_a_reply_waits_untried_while_an_earlier_one_is_unsettled(sandbox, business):
    # Given two replies queued in one conversation.
    conversation = ConversationFactory(business=business)
    first = ReplyFactory(conversation=conversation, text="First")
    second = ReplyFactory(conversation=conversation, text="Second")

    # When a worker takes the second before the first.
    outcome = message_deliver(message_id=second.pk)

    # Then the second waits, untried and still queued; X got nothing.
    second.refresh_from_db()
    assert outcome.status == "waiting"
    assert second.status == "queued"
    assert not DeliveryAttempt.objects.filter(message=second).exists()
    assert sandbox.x.sent_dms == []
    # And a reply of another conversation does not wait for them.
    other = ReplyFactory(conversation=ConversationFactory(business=business))
    assert message_deliver(message_id=other.pk).status == "sent"
    first.refresh_from_db()
    assert first.status == "queued"


@pytest.mark.django_db
def test_settling_a_reply_hands_on_the_next_one_of_its_conversation(
    sandbox, business, django_capture_on_commit_callbacks
):
    # Given three replies queued in one conversation, the third waiting.
    conversation = ConversationFactory(business=business)
    first, second, third = (
        ReplyFactory(conversation=conversation, text=text)
        for text in ("First", "Second", "Third")
    )
    assert message_deliver(message_id=third.pk).status == "waiting"

    # When the first is sent (tasks run inline here, as without a broker).
    with django_capture_on_commit_callbacks(execute=True):
        assert message_deliver(message_id=first.pk).status == "sent"

    # Then the second, then the third, were handed on and sent, in order.
    assert [dm["text"] for dm in sandbox.x.sent_dms] == ["First", "Second", "Third"]
    statuses = Message.objects.filter(pk__in=[first.pk, second.pk, third.pk])
    assert set(statuses.values_list("status", flat=True)) == {"sent"}


@pytest.mark.django_db
def test_a_failed_reply_does_not_hold_the_next_one(
    sandbox, business, django_capture_on_commit_callbacks
):
    # Given X refuses the next DM for good, and two replies queued.
    sandbox.x.set_modes({"credits_depleted": True})
    conversation = ConversationFactory(business=business)
    first = ReplyFactory(conversation=conversation, text="First")
    second = ReplyFactory(conversation=conversation, text="Second")

    # When the first fails, and X takes DMs again before the next is sent.
    with django_capture_on_commit_callbacks(execute=True):
        assert message_deliver(message_id=first.pk).status == "failed"
        sandbox.x.set_modes({"credits_depleted": False})

    # Then the second was handed on and sent.
    second.refresh_from_db()
    assert second.status == "sent"
    assert [dm["text"] for dm in sandbox.x.sent_dms] == ["Second"]


@pytest.fixture
def delivery_worker(sandbox, tmp_path) -> Iterator[None]:
    """The Procfile's `delivery` process (queue `delivery`, 16 threads) on
    the test database and broker, the sandbox taking 0.2 s per API call;
    tasks published from this test go to the broker."""
    if not settings.REDIS_URL:
        pytest.skip("the delivery worker needs a broker (REDIS_URL)")
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "X_API_BASE_URL": sandbox.url,
    }
    env.pop("PINGBACK_TEST_DB_NAME", None)
    hostname = f"delivery-order-{os.getpid()}@test"
    command = [str(BIN / "celery"), "-A", "pingback", "worker", "-Q", "delivery"]
    command += ["--pool=threads", "--concurrency=16", f"--hostname={hostname}"]
    command += ["--loglevel=INFO", "--without-gossip", "--without-mingle"]
    # Put back by the autouse `_eager_celery` fixture.
    celery_app.conf.task_always_eager = False
    celery_app.control.purge()
    sandbox.latency = 0.2
    try:
        with child_process(command, env=env, log=tmp_path / "delivery.log"):
            wait_for(
                lambda: celery_app.control.ping(destination=[hostname], timeout=0.5),
                timeout=60,
            )
            yield
        celery_app.control.purge()
    finally:
        sandbox.latency = 0.0


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_thread_pool_sends_each_conversations_replies_in_order(
    delivery_worker, sandbox, business
):
    # Given three conversations with eight replies queued in each.
    conversations = [ConversationFactory(business=business) for _ in range(3)]
    replies = {
        conversation.pk: [
            ReplyFactory(conversation=conversation, text=f"{n}: reply {index}")
            for index in range(8)
        ]
        for n, conversation in enumerate(conversations)
    }

    # When all of them reach the 16 threads at once, newest first (the
    # order most likely to send them backwards).
    every = [reply for thread in replies.values() for reply in thread]
    for reply in reversed(every):
        deliver_message.delay(reply.pk)

    # Then every reply is sent once, and each conversation's reached X in
    # the order they were written.
    wait_for(
        lambda: (
            set(
                Message.objects.filter(pk__in=[r.pk for r in every]).values_list(
                    "status", flat=True
                )
            )
            == {"sent"}
        ),
        timeout=90,
    )
    texts = [dm["text"] for dm in sandbox.x.sent_dms]
    assert sorted(texts) == sorted(reply.text for reply in every)
    for n, thread in enumerate(replies.values()):
        assert [text for text in texts if text.startswith(f"{n}:")] == [
            reply.text for reply in thread
        ]

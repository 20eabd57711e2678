"""The outbox sweeper: a queued reply whose task was lost is handed out
again, once per period, never before its retry is due, and sent once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.services.outbox import outbox_sweep
from conversations.models import Message
from conversations.tests.factories import (
    ConversationFactory,
    MessageFactory,
    ReplyFactory,
)
from pingback.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(business):
    conversation = ConversationFactory(business=business)
    MessageFactory(conversation=conversation, text="Where is my order?")
    return ReplyFactory(
        conversation=conversation,
        text="It ships today.",
    )


def _due_in(message: Message, seconds: float) -> None:
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=seconds)
    )


def test_a_reply_whose_task_was_lost_is_sent_once_by_the_sweeper(sandbox, queued):
    # Given a committed reply no worker claimed, past its due time.
    _due_in(queued, -1)

    # When the sweeper runs twice.
    first, second = outbox_sweep(), outbox_sweep()

    # Then it was handed out once and the platform got it once.
    queued.refresh_from_db()
    assert (first, second) == (1, 0)
    assert queued.status == "sent"
    assert [dm["text"] for dm in sandbox.x.sent_dms] == ["It ships today."]


def test_a_reply_waiting_for_its_retry_is_left_alone(sandbox, queued):
    # Given a reply whose retry (or first hand-off) is not due yet.
    _due_in(queued, 60)

    # When the sweeper runs.
    swept = outbox_sweep()

    # Then nothing was handed out or sent.
    queued.refresh_from_db()
    assert swept == 0
    assert queued.status == "queued"
    assert sandbox.x.sent_dms == []


def test_a_swept_reply_is_not_handed_out_again_within_the_period(
    sandbox, queued, settings
):
    # Given a due reply, and workers too busy to claim it before the next
    # sweep (the task is published to the broker and not consumed).
    settings.OUTBOX_REPUBLISH_AFTER = 30
    _due_in(queued, -1)
    celery_app.conf.task_always_eager = False
    try:
        # When the sweeper runs twice.
        first, second = outbox_sweep(), outbox_sweep()
    finally:
        celery_app.control.purge()
        celery_app.conf.task_always_eager = True

    # Then it was published once; the next hand-off is a period away.
    queued.refresh_from_db()
    assert (first, second) == (1, 0)
    assert queued.status == "queued"
    assert queued.next_attempt_at > timezone.now() + timedelta(seconds=25)

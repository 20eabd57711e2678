"""Outbound delivery through tweepy to the X sandbox: success, retries, failures,
idempotency."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from channels_app.services.delivery import message_deliver
from channels_app.tasks import deliver_message, retry_countdown
from conversations.models import DeliveryAttempt, Message
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def set_mode(sandbox, **mode) -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/x/mode", json=mode, timeout=5
    ).raise_for_status()


@pytest.fixture
def queued(business):
    conversation = ConversationFactory(business=business)
    MessageFactory(conversation=conversation, text="Where is my order?")
    return MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="queued",
        platform_message_id=None,
        text="It ships today.",
    )


def test_a_queued_dm_is_sent_once_with_the_platform_id(sandbox, queued):
    outcome = message_deliver(message_id=queued.pk)
    again = message_deliver(message_id=queued.pk)

    queued.refresh_from_db()
    assert (outcome.status, again.status) == ("sent", "skipped")
    assert queued.status == "sent"
    assert [d["dm_event_id"] for d in sandbox.x.sent_dms] == [
        queued.platform_message_id
    ]
    assert sandbox.x.sent_dms[0]["participant_id"] == (
        queued.conversation.contact_identity.external_id
    )
    assert list(queued.delivery_attempts.values_list("outcome", flat=True)) == ["sent"]


@pytest.mark.parametrize(
    ("_case", "mode", "status_code"),
    [
        ("rate limited", {"rate_limit_next": 1}, 429),
        ("X down", {"server_error_next": 1}, 503),
    ],
)
def test_transient_failure_requeues_with_the_reason(
    sandbox, queued, _case, mode, status_code
):
    set_mode(sandbox, **mode)

    outcome = message_deliver(message_id=queued.pk)

    queued.refresh_from_db()
    assert outcome.status == "retry"
    assert queued.status == "queued"
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.outcome, attempt.status_code) == ("retry", status_code)
    assert sandbox.x.sent_dms == []


def test_rate_limit_retry_waits_at_least_until_x_says(sandbox, queued, settings):
    settings.DELIVERY_RETRY_BACKOFF = 0.01
    set_mode(sandbox, rate_limit_next=1)
    before = timezone.now()

    outcome = message_deliver(message_id=queued.pk)

    queued.refresh_from_db()
    # The sandbox's x-rate-limit-reset is the next whole second or the one after.
    assert outcome.status == "retry"
    assert 1.0 <= outcome.countdown <= 2
    # The outbox sweeper will not hand the message out before the countdown.
    assert queued.next_attempt_at >= before + timedelta(seconds=outcome.countdown)
    assert retry_countdown(0, None) == 0.01
    assert retry_countdown(0, 30.0) == 30.0
    settings.DELIVERY_RETRY_BACKOFF = 5.0
    assert retry_countdown(10, None) == 600.0


def test_the_task_retries_a_transient_failure_then_sends(sandbox, queued, settings):
    settings.DELIVERY_RETRY_BACKOFF = 0
    set_mode(sandbox, server_error_next=2)

    deliver_message.delay(queued.pk)

    queued.refresh_from_db()
    assert queued.status == "sent"
    assert list(queued.delivery_attempts.values_list("outcome", flat=True)) == [
        "retry",
        "retry",
        "sent",
    ]
    assert len(sandbox.x.sent_dms) == 1


def test_the_task_gives_up_after_the_last_retry(sandbox, queued, settings):
    settings.DELIVERY_RETRY_BACKOFF = 0
    settings.DELIVERY_MAX_RETRIES = 2
    set_mode(sandbox, server_error_next=5)

    deliver_message.delay(queued.pk)

    queued.refresh_from_db()
    assert queued.status == "failed"
    assert queued.error.endswith("(gave up after retrying)")
    assert queued.delivery_attempts.count() == 3


def test_no_credits_fails_for_good_and_alerts_the_channel(sandbox, queued):
    set_mode(sandbox, credits_depleted=True)

    outcome = message_deliver(message_id=queued.pk)

    queued.refresh_from_db()
    queued.channel.refresh_from_db()
    assert outcome.status == "failed"
    assert queued.error.startswith("X API credits exhausted")
    assert queued.channel.alert == queued.error
    assert DeliveryAttempt.objects.get().status_code == 402


def test_a_later_successful_send_clears_the_channel_alert(sandbox, queued):
    queued.channel.alert = "X API credits exhausted"
    queued.channel.save()

    message_deliver(message_id=queued.pk)

    queued.channel.refresh_from_db()
    assert queued.channel.alert == ""


def test_revoked_credentials_fail_with_xs_reason(sandbox, queued):
    queued.channel.secrets = {
        **queued.channel.secrets,
        "access_token_secret": "revoked-0000",
    }
    queued.channel.save()

    message_deliver(message_id=queued.pk)

    queued.refresh_from_db()
    assert queued.status == "failed"
    assert (
        queued.error == "X rejected the channel's credentials: Unauthorized (HTTP 401)"
    )


def test_a_message_queued_before_deactivation_is_not_sent(sandbox, queued):
    queued.channel.is_active = False
    queued.channel.save()

    outcome = message_deliver(message_id=queued.pk)

    queued.refresh_from_db()
    assert outcome.status == "failed"
    assert queued.error == "The channel is deactivated or deleted."
    assert sandbox.x.sent_dms == []


def test_a_mention_reply_answers_the_customers_newest_post(sandbox, business):
    conversation = ConversationFactory(business=business, thread_key="tweet:100")
    MessageFactory(conversation=conversation, platform_message_id="100", kind="mention")
    MessageFactory(conversation=conversation, platform_message_id="105", kind="mention")
    reply = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="queued",
        platform_message_id=None,
        text="We are on it.",
    )

    message_deliver(message_id=reply.pk)

    reply.refresh_from_db()
    assert [(t["in_reply_to_tweet_id"], t["text"]) for t in sandbox.x.tweets] == [
        ("105", "We are on it.")
    ]
    assert reply.platform_message_id == sandbox.x.tweets[0]["id"]


def test_a_mention_reply_over_280_characters_fails_without_calling_x(sandbox, business):
    conversation = ConversationFactory(business=business, thread_key="tweet:100")
    MessageFactory(conversation=conversation, platform_message_id="100", kind="mention")
    reply = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="queued",
        platform_message_id=None,
        text="x" * 281,
    )

    message_deliver(message_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == "failed"
    assert (
        reply.error
        == "Replies to posts on X are limited to 280 characters; this one has 281."
    )
    assert sandbox.x.tweets == []
    assert Message.objects.filter(status="sent").count() == 0

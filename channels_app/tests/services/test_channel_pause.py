"""A platform's rate limit pauses every send on the channel, from any worker:
through a real Celery worker and the X sandbox over HTTP."""

from email.utils import format_datetime

import pytest
import requests
from django.utils import timezone

from channels_app.models import Channel
from channels_app.platforms.base import TransientDeliveryError, retry_after_seconds
from channels_app.platforms.meta import GraphError, graph_delivery_error
from channels_app.platforms.sms import TwilioCallError
from channels_app.platforms.sms import _delivery_error as sms_delivery_error
from channels_app.services.delivery import message_deliver
from channels_app.tasks import deliver_message
from conversations.models import DeliveryAttempt, Message
from conversations.tests.factories import ConversationFactory, ReplyFactory
from pingback.testing import wait_for


def set_mode(sandbox, **mode) -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/x/mode", json=mode, timeout=5
    ).raise_for_status()


def queued(conversation, text: str) -> Message:
    return ReplyFactory(
        conversation=conversation,
        text=text,
    )


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_rate_limit_holds_every_send_on_the_channel_until_it_ends(
    sandbox, celery_worker, business, settings
):
    # Given X will rate-limit the next DM, its window ending in 4 s, and two
    # replies waiting on the same channel.
    settings.DELIVERY_RETRY_BACKOFF = 0.01
    set_mode(sandbox, rate_limit_next=1, rate_limit_reset_in=4)
    conversation = ConversationFactory(business=business)
    first, second = queued(conversation, "First"), queued(conversation, "Second")

    # When the first meets the limit, and the second reaches a worker then.
    deliver_message.delay(first.pk)
    wait_for(lambda: DeliveryAttempt.objects.filter(message=first).exists())
    paused_until = Channel.objects.get(pk=conversation.channel_id).paused_until
    deliver_message.delay(second.pk)

    # Then both are sent, and nothing was tried on the channel before the
    # window ended: not the second reply, not the first one's retry.
    wait_for(
        lambda: (
            set(
                Message.objects.filter(pk__in=[first.pk, second.pk]).values_list(
                    "status", flat=True
                )
            )
            == {"sent"}
        ),
        timeout=30,
    )
    limited = DeliveryAttempt.objects.get(message=first, outcome="retry")
    # X's reset is a whole second (the sandbox's `int(now) + 4`): the window
    # ends 3 to 4 s after its answer, and the attempt is recorded a little
    # after that answer. Over 2 s is X's window, not the 0.01 s backoff.
    assert (paused_until - limited.attempted_at).total_seconds() > 2
    sent_at = {dm["text"]: dm["received_at"] for dm in sandbox.x.sent_dms}
    assert sent_at["First"] >= paused_until.timestamp()
    assert sent_at["Second"] >= paused_until.timestamp()
    # And waiting out another reply's limit spent none of the second's retries.
    assert list(
        DeliveryAttempt.objects.filter(message=second).values_list("outcome", flat=True)
    ) == ["sent"]


@pytest.mark.django_db
def test_a_paused_channel_is_not_called_and_the_reply_waits(sandbox, business):
    # Given a channel paused by an earlier rate limit.
    conversation = ConversationFactory(business=business)
    Channel.objects.filter(pk=conversation.channel_id).update(
        paused_until=timezone.now() + timezone.timedelta(seconds=60)
    )
    reply = queued(conversation, "Later")

    # When a worker takes the reply.
    outcome = message_deliver(message_id=reply.pk)

    # Then X was not called, the reply waits for the pause, no retry spent.
    reply.refresh_from_db()
    assert outcome.status == "retry"
    assert 55 <= outcome.countdown <= 60
    assert reply.status == "queued"
    assert reply.next_attempt_at >= timezone.now() + timezone.timedelta(seconds=55)
    assert sandbox.x.sent_dms == []
    assert not DeliveryAttempt.objects.filter(message=reply).exists()


@pytest.mark.django_db
def test_a_pause_only_moves_later(business):
    from channels_app.services.channels import channel_pause

    conversation = ConversationFactory(business=business)
    channel = conversation.channel
    later = timezone.now() + timezone.timedelta(seconds=30)
    sooner = timezone.now() + timezone.timedelta(seconds=5)

    assert channel_pause(channel=channel, until=later) == later
    assert channel_pause(channel=channel, until=sooner) == later


@pytest.mark.parametrize(
    "_case, value, expected",
    [
        ("seconds", "4", 4.0),
        ("absent", None, None),
        ("unreadable", "soon", None),
        ("negative", "-3", 0.0),
        ("date in the past", "Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(_case, value, expected):
    assert retry_after_seconds(value) == expected


def test_retry_after_counts_an_http_date_from_now():
    when = timezone.now() + timezone.timedelta(seconds=30)

    wait = retry_after_seconds(format_datetime(when, usegmt=True))

    assert 28 <= wait <= 30


@pytest.mark.parametrize(
    "_case, code, whole_channel",
    [
        ("app call volume", 4, True),
        ("user call volume", 17, True),
        ("spam rate limit", 613, True),
        ("Cloud API throughput", 130429, True),
        ("one recipient's pair rate limit", 131056, False),
        ("temporary error", 2, False),
    ],
)
def test_meta_throttling_codes_that_pause_the_channel(_case, code, whole_channel):
    error = graph_delivery_error(GraphError(400, {"code": code, "message": "x"}))

    assert isinstance(error, TransientDeliveryError)
    assert error.rate_limited is whole_channel


@pytest.mark.parametrize(
    "_case, status, code, whole_channel",
    [
        ("429", 429, None, True),
        ("Twilio's 20429", 400, 20429, True),
        ("server error", 503, None, False),
    ],
)
def test_twilio_rate_limits_pause_the_channel(_case, status, code, whole_channel):
    error = sms_delivery_error(TwilioCallError("x", status=status, code=code))

    assert isinstance(error, TransientDeliveryError)
    assert error.rate_limited is whole_channel

"""End to end through real parts: the live server, a real Celery worker on the
broker (Redis in CI), the X sandbox over HTTP and tweepy.

An admin connects the X channel through the API (setup registers the webhook in
the sandbox, which runs its CRC against the live server); the sandbox then
delivers signed webhooks as X does; an agent replies through the API; the worker
sends through tweepy to the sandbox.
"""

import time

import pytest

from channels_app.tests import e2e
from conversations.models import Conversation, Message
from pingback.testing import wait_for
from sandbox.platforms.x.payloads import DEMO_APP, DEMO_CUSTOMER

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(live_server, sandbox, settings, celery_worker, admin_member):
    """The running stack and an API session for the business's admin, with
    the X channel set up (its webhook registered, CRC answered)."""
    stack = e2e.live_stack(
        live_server, settings, admin_member, sandbox, "x", DEMO_APP.as_config()
    )
    assert stack["channel"]["setup"]["state"] == "ready", stack["channel"]["setup"]
    return stack


def customer_sends(live, kind: str, **body) -> dict:
    return e2e.sandbox_control(live, "x", f"customer/{kind}", **body)


def test_dm_arrives_and_the_reply_is_delivered_through_the_worker(live):
    sent = customer_sends(live, "dm", text="Hi, my order #4411 never arrived.")
    assert [d["status_code"] for d in sent["deliveries"]] == [200]

    conversation, listed = e2e.inbound_thread(
        live, "x", "Hi, my order #4411 never arrived."
    )
    assert listed["contact"]["handle"] == DEMO_CUSTOMER.screen_name

    message = e2e.reply_reaches(
        live, conversation.pk, "Sorry! A replacement ships today."
    )

    dms = live["sandbox"].x.sent_dms
    assert [(d["participant_id"], d["text"]) for d in dms] == [
        (DEMO_CUSTOMER.id, "Sorry! A replacement ships today.")
    ]
    assert message.status == "sent"
    assert message.platform_message_id == dms[0]["dm_event_id"]


def test_a_redelivered_webhook_adds_nothing(live):
    first = customer_sends(live, "dm", text="Hello?")
    wait_for(lambda: Message.objects.exists())

    again = customer_sends(live, "dm", text="Hello?", event_id=first["event_id"])

    assert [d["body"] for d in again["deliveries"]] == ['{"status": "duplicate"}']
    time.sleep(0.5)
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_mention_reply_goes_out_as_a_reply_post_and_the_thread_continues(live):
    mention = customer_sends(live, "mention", text="where is my parcel?")
    conversation = wait_for(lambda: Conversation.objects.first())
    assert conversation.thread_key == f"tweet:{mention['event_id']}"

    queued = e2e.reply(
        live, conversation.pk, json={"text": "Checking now, sorry for the wait!"}
    )
    message = e2e.message_reaches(queued["id"])

    tweets = live["sandbox"].x.tweets
    assert [(t["in_reply_to_tweet_id"], t["text"]) for t in tweets] == [
        (mention["event_id"], "Checking now, sorry for the wait!")
    ]
    assert message.status == "sent"
    assert message.platform_message_id == tweets[0]["id"]

    customer_sends(
        live,
        "mention",
        text="thanks, it is JD0144",
        in_reply_to_tweet_id=tweets[0]["id"],
    )
    wait_for(lambda: Message.objects.filter(direction="inbound").count() == 2)
    assert Conversation.objects.count() == 1


def test_without_x_credits_inbound_works_and_the_reply_fails_with_the_reason(live):
    e2e.sandbox_control(live, "x", "mode", credits_depleted=True)
    customer_sends(live, "dm", text="Anyone there?")
    conversation = wait_for(lambda: Conversation.objects.first())

    queued = e2e.reply(live, conversation.pk, json={"text": "Yes, we are here."})
    message = e2e.message_reaches(queued["id"])

    assert message.status == "failed"
    assert message.error.startswith("X API credits exhausted")
    shown = e2e.thread(live, conversation.pk)[-1]
    assert shown["status"] == "failed"
    assert shown["error"] == message.error
    assert live["sandbox"].x.sent_dms == []

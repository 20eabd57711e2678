"""End to end through real parts: the live server, a real Celery worker on the
broker (Redis in CI), the X sandbox over HTTP and tweepy.

An admin connects the X channel through the API (setup registers the webhook in
the sandbox, which runs its CRC against the live server); the sandbox then
delivers signed webhooks as X does; an agent replies through the API; the worker
sends through tweepy to the sandbox.
"""

import time

import pytest
import requests

from billing.services import api_token_create
from conversations.models import Conversation, Message
from pingback.testing import wait_for
from sandbox.x import DEMO_APP, DEMO_CUSTOMER

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(live_server, sandbox, settings, celery_worker, admin_member):
    """The running stack and an API session for the business's admin."""
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url
    _, token = api_token_create(member=admin_member)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    channel = session.post(
        f"{live_server.url}/api/v1/channels/",
        json={"type": "x", "config": DEMO_APP.as_config()},
        timeout=30,
    ).json()
    assert channel["setup"]["state"] == "ready", channel["setup"]
    return {
        "api": session,
        "url": live_server.url,
        "sandbox": sandbox,
        "channel": channel,
    }


def customer_sends(live, kind: str, **body) -> dict:
    response = requests.post(
        f"{live['sandbox'].url}/_sandbox/x/customer/{kind}", json=body, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def reply(live, conversation_id: int, text: str) -> dict:
    response = live["api"].post(
        f"{live['url']}/api/v1/conversations/{conversation_id}/messages",
        json={"text": text},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return response.json()


def final_message(message_id: int) -> Message:
    def done():
        message = Message.objects.get(pk=message_id)
        return message if message.status in ("sent", "failed") else None

    return wait_for(done)


def test_dm_arrives_and_the_reply_is_delivered_through_the_worker(live):
    sent = customer_sends(live, "dm", text="Hi, my order #4411 never arrived.")
    assert [d["status_code"] for d in sent["deliveries"]] == [200]

    conversation = wait_for(lambda: Conversation.objects.first())
    listed = live["api"].get(f"{live['url']}/api/v1/conversations/", timeout=10).json()
    assert [c["id"] for c in listed["results"]] == [conversation.pk]
    assert listed["results"][0]["channel_type"] == "x"
    assert listed["results"][0]["contact"]["handle"] == DEMO_CUSTOMER.screen_name
    messages = (
        live["api"]
        .get(
            f"{live['url']}/api/v1/conversations/{conversation.pk}/messages", timeout=10
        )
        .json()["results"]
    )
    assert [(m["direction"], m["text"]) for m in messages] == [
        ("inbound", "Hi, my order #4411 never arrived.")
    ]

    queued = reply(live, conversation.pk, "Sorry! A replacement ships today.")
    message = final_message(queued["id"])

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

    queued = reply(live, conversation.pk, "Checking now, sorry for the wait!")
    message = final_message(queued["id"])

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
    requests.post(
        f"{live['sandbox'].url}/_sandbox/x/mode",
        json={"credits_depleted": True},
        timeout=5,
    ).raise_for_status()
    customer_sends(live, "dm", text="Anyone there?")
    conversation = wait_for(lambda: Conversation.objects.first())

    queued = reply(live, conversation.pk, "Yes, we are here.")
    message = final_message(queued["id"])

    assert message.status == "failed"
    assert message.error.startswith("X API credits exhausted")
    shown = (
        live["api"]
        .get(
            f"{live['url']}/api/v1/conversations/{conversation.pk}/messages", timeout=10
        )
        .json()["results"][-1]
    )
    assert shown["status"] == "failed"
    assert shown["error"] == message.error
    assert live["sandbox"].x.sent_dms == []

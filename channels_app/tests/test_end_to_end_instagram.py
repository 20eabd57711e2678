"""Instagram end to end through real parts: the live server, a real Celery
worker on the broker (Redis in CI), and the sandbox's Instagram stand-in over
HTTP, acting as the Graph API and as Meta's webhooks.

An admin connects the channel through the API and does the Meta dashboard
step (the stand-in verifies the callback against the live server with the
verify token from the create answer); the customer writes, signed as Meta
signs; an agent replies through the API with text and a photo; the worker
sends through the Graph API; the stand-in fetches the photo from PingBack's
signed link, echoes each send back (ignored) and reports the customer's read.
"""

import hashlib

import pytest

from channels_app.models import InboundEvent
from channels_app.tests import e2e
from conversations.models import Conversation, Message
from pingback.testing import wait_for
from sandbox.platforms.instagram.payloads import (
    DEMO_ACCOUNT,
    DEMO_CUSTOMER_ID,
    demo_png,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def control(live, path: str, **body) -> dict:
    return e2e.sandbox_control(live, "instagram", path, **body)


@pytest.fixture
def live(live_server, sandbox, settings, celery_worker, admin_member):
    """The running stack, an API session for the business's admin, and the
    channel created and subscribed in the Meta dashboard stand-in."""
    stack = e2e.live_stack(
        live_server,
        settings,
        admin_member,
        sandbox,
        "instagram",
        DEMO_ACCOUNT.as_config(),
    )
    channel = stack["channel"]
    assert channel["setup"]["state"] == "action_required", channel["setup"]
    instructions = channel["config"]["_meta_setup_instructions"]
    subscribed = control(
        stack,
        "subscribe",
        callback_url=instructions["callback_url"],
        verify_token=instructions["verify_token"],
        app_secret=DEMO_ACCOUNT.app_secret,
    )
    assert subscribed == {"verified": True, "callback_url": channel["webhook_url"]}
    return stack


def test_dm_arrives_and_text_and_photo_go_back_through_the_worker(live):
    sent = control(live, "customer/message", text="Is the blue kettle in stock?")
    assert [d["status_code"] for d in sent["deliveries"]] == [200]

    conversation, listed = e2e.inbound_thread(
        live, "instagram", "Is the blue kettle in stock?"
    )
    assert listed["contact"]["external_id"] == DEMO_CUSTOMER_ID

    png = demo_png()
    queued = e2e.reply(
        live,
        conversation.pk,
        data={"text": "Yes! Here it is."},
        files=[("files", ("kettle.png", png, "image/png"))],
    )
    message = e2e.message_reaches(queued["id"])

    sends = live["sandbox"].instagram.sends
    assert [(s["recipient_id"], s["text"]) for s in sends] == [
        (DEMO_CUSTOMER_ID, "Yes! Here it is."),
        (DEMO_CUSTOMER_ID, None),
    ]
    fetched = sends[1]["attachment"]
    assert fetched["url"].startswith(f"{live['url']}/attachments/")
    assert (fetched["type"], fetched["content_type"], fetched["size"]) == (
        "image",
        "image/png",
        len(png),
    )
    assert fetched["sha256"] == hashlib.sha256(png).hexdigest()
    assert message.status == "sent"
    assert message.platform_message_id == sends[1]["message_id"]

    wait_for(lambda: len(live["sandbox"].instagram.echoes) == 2)
    echoes = live["sandbox"].instagram.echoes
    assert sorted(e["mid"] for e in echoes) == sorted(s["message_id"] for s in sends)
    assert [d["status_code"] for e in echoes for d in e["deliveries"]] == [200, 200]
    wait_for(lambda: InboundEvent.objects.filter(status="ignored").count() == 2)
    assert Message.objects.count() == 2

    read = control(live, "customer/read")
    assert read["mid"] == message.platform_message_id
    wait_for(lambda: Message.objects.get(pk=message.pk).status == "read")
    assert e2e.thread(live, conversation.pk)[-1]["status"] == "read"


def test_customer_photo_is_fetched_by_the_worker(live):
    control(live, "customer/message", text="Mine arrived broken", image=True)

    message = wait_for(
        lambda: Message.objects.filter(attachments__0__stored__isnull=False).first()
    )

    attachment = message.attachments[0]
    assert (attachment["kind"], attachment["content_type"], attachment["size"]) == (
        "image",
        "image/png",
        len(demo_png()),
    )
    assert message.text == "Mine arrived broken"


def test_a_redelivered_message_adds_nothing(live):
    first = control(live, "customer/message", text="Hello?")
    wait_for(lambda: Message.objects.exists())

    again = control(live, "customer/message", text="Hello?", mid=first["mid"])

    assert [d["body"] for d in again["deliveries"]] == ['{"status": "duplicate"}']
    assert Message.objects.count() == 1


def test_outside_the_messaging_window_the_reply_fails_with_the_reason(live):
    control(live, "customer/message", text="Anyone there?")
    conversation = wait_for(lambda: Conversation.objects.first())
    control(live, "mode", window="closed")

    queued = e2e.reply(
        live, conversation.pk, json={"text": "Sorry for the late answer"}
    )
    message = e2e.message_reaches(queued["id"])

    assert message.status == "failed"
    shown = e2e.thread(live, conversation.pk)[-1]
    assert shown["status"] == "failed"
    assert shown["error"].startswith(
        "Instagram accepts replies only within 24 hours of the customer's last message"
    )
    assert live["sandbox"].instagram.sends == []

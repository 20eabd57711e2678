"""SMS end to end through real parts: the live server, a real Celery worker on
the broker (Redis in CI), the sandbox's Twilio stand-in over HTTP and the
twilio SDK.

An admin connects the SMS channel through the API (setup points the number's
incoming URL at PingBack, in the stand-in); a customer texts the number, and
the stand-in POSTs Twilio's signed form; an agent replies through the API; the
worker sends through the SDK; the stand-in fetches any file from PingBack as
Twilio does, then posts signed status callbacks that move the reply on.
"""

import pytest
import requests

from channels_app.tests import e2e
from conversations.models import Conversation, Message
from pingback.testing import wait_for
from sandbox.platforms.sms.payloads import (
    DEMO_ACCOUNT,
    DEMO_CUSTOMER_NUMBER,
    DEMO_NUMBER,
)
from sandbox.platforms.sms.standin import SAMPLE_PNG

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@pytest.fixture
def live(live_server, sandbox, settings, celery_worker, admin_member):
    """The running stack and an API session for the business's admin, with the
    SMS channel created through the API."""
    stack = e2e.live_stack(
        live_server, settings, admin_member, sandbox, "sms", DEMO_ACCOUNT.as_config()
    )
    assert stack["channel"]["setup"]["state"] == "ready", stack["channel"]["setup"]
    return stack


def customer_texts(live, **body) -> dict:
    return e2e.sandbox_control(live, "sms", "customer/message", **body)


def test_setup_pointed_the_numbers_incoming_url_at_the_channel(live):
    number = live["sandbox"].sms.number(DEMO_NUMBER)

    assert (number.sms_url, number.sms_method) == (
        live["channel"]["webhook_url"],
        "POST",
    )
    assert number.sms_url.startswith(live["url"])


def test_a_text_arrives_and_the_reply_is_delivered_through_the_worker(live):
    texted = customer_texts(live, body="Hi, my order #4411 never arrived.")
    assert [(d["status_code"], d["body"]) for d in texted["deliveries"]] == [
        (200, EMPTY_TWIML)
    ]

    conversation, shown = e2e.inbound_thread(
        live, "sms", "Hi, my order #4411 never arrived."
    )
    assert shown["contact"]["external_id"] == DEMO_CUSTOMER_NUMBER

    message = e2e.reply_reaches(
        live, conversation.pk, "Sorry! It ships today.", "delivered", "failed"
    )

    [sent] = live["sandbox"].sms.sends
    assert (sent["from"], sent["to"], sent["body"]) == (
        DEMO_NUMBER,
        DEMO_CUSTOMER_NUMBER,
        "Sorry! It ships today.",
    )
    assert sent["status_callback"] == live["channel"]["webhook_url"]
    assert message.status == "delivered"
    assert message.platform_message_id == sent["sid"]
    assert e2e.thread(live, conversation.pk)[-1]["status"] == "delivered"


def test_an_image_reply_is_fetched_by_twilio_from_pingback(live):
    customer_texts(live, body="Can you send me a picture of the label?")
    conversation = wait_for(lambda: Conversation.objects.first())

    queued = e2e.reply(
        live,
        conversation.pk,
        data={"text": "Here it is"},
        files=[("files", ("label.png", SAMPLE_PNG, "image/png"))],
    )
    message = e2e.message_reaches(queued["id"], "delivered", "failed")

    [sent] = live["sandbox"].sms.sends
    assert sent["body"] == "Here it is"
    [link] = sent["media_urls"]
    assert link.startswith(f"{live['url']}/")
    assert sent["media"] == [
        {
            "url": link,
            "status_code": 200,
            "content_type": "image/png",
            "size": len(SAMPLE_PNG),
        }
    ]
    assert message.status == "delivered"


def test_an_mms_from_the_customer_keeps_its_picture(live):
    customer_texts(
        live, body="The box is crushed", media=[{"content_type": "image/png"}]
    )

    def fetched():
        message = Message.objects.filter(direction="inbound").first()
        return message if message and message.attachments[0].get("stored") else None

    message = wait_for(fetched)
    [shown] = e2e.thread(live, message.conversation_id)[0]["attachments"]
    assert (shown["kind"], shown["content_type"], shown["size"]) == (
        "image",
        "image/png",
        len(SAMPLE_PNG),
    )
    picture = requests.get(shown["link"], timeout=10)
    assert picture.content == SAMPLE_PNG


def test_an_undelivered_reply_ends_failed_with_twilios_reason(live):
    live["sandbox"].sms.set_modes({"undelivered": True})
    customer_texts(live, body="Anyone there?")
    conversation = wait_for(lambda: Conversation.objects.first())

    queued = e2e.reply(live, conversation.pk, json={"text": "Yes, we are here."})
    message = e2e.message_reaches(queued["id"], "failed")

    assert message.error == "30006: Landline or unreachable carrier"
    shown = e2e.thread(live, conversation.pk)[-1]
    assert (shown["status"], shown["error"]) == (
        "failed",
        "30006: Landline or unreachable carrier",
    )
    assert [s["status"] for s in live["sandbox"].sms.sends] == ["undelivered"]


def test_a_reply_after_the_customer_texted_stop_fails_with_the_reason(live):
    customer_texts(live, body="STOP")
    conversation = wait_for(lambda: Conversation.objects.first())

    queued = e2e.reply(live, conversation.pk, json={"text": "Sorry to see you go"})
    message = e2e.message_reaches(queued["id"], "failed")

    # PingBack saw the STOP, so it fails the reply itself, without asking
    # Twilio (which would refuse it with 21610).
    assert message.error == (
        "The customer opted out of messages on this channel: they replied STOP."
    )
    assert live["sandbox"].sms.sends == []


def test_deleting_the_channel_frees_the_number(live):
    live["api"].delete(
        f"{live['url']}/api/v1/channels/{live['channel']['id']}", timeout=30
    )

    assert live["sandbox"].sms.number(DEMO_NUMBER).sms_url == ""

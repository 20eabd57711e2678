"""WhatsApp end to end through real parts: the live server, a real Celery worker
on the broker (Redis in CI), the sandbox's WhatsApp stand-in over HTTP and the
Graph client over httpx.

An admin creates the channel through the API and pastes the callback URL and
verify token from its `_meta_setup_instructions` into the sandbox's "Meta
dashboard", which verifies them with `hub.challenge` against the live server;
the sandbox then delivers signed webhooks as Meta does (customer messages,
statuses); an agent replies through the API; the worker sends through the Graph
API to the sandbox.
"""

import base64

import pytest
import requests
from django.core.files.storage import default_storage

from channels_app.platforms.whatsapp import WINDOW_CLOSED
from channels_app.tests import e2e
from conversations.models import Conversation, Message
from pingback.testing import wait_for
from sandbox.platforms.whatsapp.payloads import DEMO_CUSTOMER, DEMO_NUMBER

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VERIFY_TOKEN = "acme-whatsapp-verify-2026"


def control(live, path: str, **body) -> dict:
    return e2e.sandbox_control(live, "whatsapp", path, **body)


@pytest.fixture
def live(live_server, sandbox, settings, celery_worker, admin_member):
    """The running stack, a WhatsApp channel created through the API, and its
    callback subscribed in the sandbox's Meta dashboard."""
    config = DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN)
    stack = e2e.live_stack(
        live_server, settings, admin_member, sandbox, "whatsapp", config
    )
    channel = stack["channel"]
    assert channel["setup"]["state"] == "action_required", channel["setup"]
    instructions = channel["config"]["_meta_setup_instructions"]
    assert instructions == {
        "callback_url": channel["webhook_url"],
        "verify_token": VERIFY_TOKEN,
    }
    subscribed = control(
        stack, "subscribe", **instructions, app_secret=DEMO_NUMBER.app_secret
    )
    assert subscribed["verified"] is True, subscribed
    return stack


def customer_sends(live, **body) -> dict:
    sent = control(live, "customer/message", **body)
    assert [d["status_code"] for d in sent["deliveries"]] == [200]
    return sent


def test_message_arrives_the_reply_is_sent_and_statuses_move_it_to_read(live):
    customer_sends(live, text="Does it come in another color?")

    conversation, _ = e2e.inbound_thread(
        live, "whatsapp", "Does it come in another color?"
    )

    message = e2e.reply_reaches(
        live, conversation.pk, "Yes, it also comes in blue.", "sent", "failed"
    )

    sends = live["sandbox"].whatsapp.snapshot()["sends"]
    assert [(s["to"], s["type"], s["text"]) for s in sends] == [
        (DEMO_CUSTOMER.wa_id, "text", "Yes, it also comes in blue.")
    ]
    assert message.status == "sent"
    assert message.platform_message_id == sends[0]["wamid"]

    control(live, "statuses", wamid=sends[0]["wamid"], status="delivered")
    e2e.message_reaches(message.pk, "delivered")
    control(live, "statuses", wamid=sends[0]["wamid"], status="read")
    e2e.message_reaches(message.pk, "read")
    assert e2e.thread(live, conversation.pk)[-1]["status"] == "read"


def test_a_redelivered_message_adds_nothing(live):
    first = customer_sends(live, text="Hello?", timestamp=1767225600)
    wait_for(lambda: Message.objects.exists())

    again = customer_sends(
        live, text="Hello?", timestamp=1767225600, message_id=first["message_id"]
    )

    assert again["payload"] == first["payload"]
    assert [d["body"] for d in again["deliveries"]] == ['{"status": "duplicate"}']
    assert Message.objects.count() == 1


def test_outside_the_window_the_reply_fails_with_the_reason_then_a_template_is_sent(
    live,
):
    customer_sends(live, text="Where is order 4411?")
    conversation = wait_for(lambda: Conversation.objects.first())
    control(live, "customer/window", hours_ago=25)

    late = e2e.message_reaches(
        e2e.reply(live, conversation.pk, json={"text": "Sorry, still there?"})["id"],
        "sent",
        "failed",
    )

    assert late.status == "failed"
    assert late.error == (
        "(#131047) Re-engagement message: Message failed to send because more than "
        "24 hours have passed since the customer last replied to this number. "
        f"{WINDOW_CLOSED}"
    )
    assert e2e.thread(live, conversation.pk)[-1]["error"] == late.error

    order_update = {"name": "order_update", "language": "en_US", "parameters": ["4411"]}
    queued = e2e.reply(live, conversation.pk, json={"template": order_update})
    template = e2e.message_reaches(queued["id"], "sent", "failed")

    assert template.status == "sent"
    [send] = live["sandbox"].whatsapp.snapshot()["sends"]
    assert (send["to"], send["template"]) == (DEMO_CUSTOMER.wa_id, order_update)
    assert template.platform_message_id == send["wamid"]


def test_a_closed_window_reported_later_by_a_failed_status_fails_the_message(live):
    """Meta sometimes accepts the send and reports 131047 in a status."""
    customer_sends(live, text="Hi")
    conversation = wait_for(lambda: Conversation.objects.first())
    control(live, "customer/window", hours_ago=30)
    control(live, "mode", window_errors="status", status_delay=600)

    queued = e2e.reply(live, conversation.pk, json={"text": "Hello again"})
    sent = e2e.message_reaches(queued["id"], "sent", "failed")
    assert sent.status == "sent"
    control(live, "statuses", wamid=sent.platform_message_id, status="failed")

    failed = e2e.message_reaches(queued["id"], "failed")
    assert failed.error.startswith("131047: Re-engagement message — ")
    assert failed.error.endswith(WINDOW_CLOSED)


def test_a_customer_photo_is_fetched_and_stored_by_the_worker(live):
    photo = b"\xff\xd8\xff\xe0 a photo of the broken handle \xff\xd9"

    customer_sends(
        live,
        type="image",
        text="It arrived like this",
        mime_type="image/jpeg",
        content_base64=base64.b64encode(photo).decode(),
    )

    def stored():
        message = Message.objects.first()
        return message if message and message.attachments[0].get("stored") else None

    message = wait_for(stored)
    assert message.text == "It arrived like this"
    attachment = message.attachments[0]
    assert (attachment["kind"], attachment["content_type"]) == ("image", "image/jpeg")
    with default_storage.open(attachment["stored"]) as file:
        assert file.read() == photo
    [shown] = e2e.thread(live, message.conversation_id)[0]["attachments"]
    assert requests.get(shown["link"], timeout=10).content == photo

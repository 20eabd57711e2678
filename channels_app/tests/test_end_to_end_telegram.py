"""Telegram end to end through real parts: the live server, a real Celery worker
on the broker (Redis in CI), the sandbox's Telegram stand-in over HTTP and
python-telegram-bot.

An admin creates the Telegram channel through the API (setup calls getMe and
setWebhook on the stand-in); the stand-in then posts the customer's Updates to
the registered webhook with its secret token, as Telegram does; an agent
replies through the API; the worker sends through python-telegram-bot.
"""

import base64

import pytest
import requests

from channels_app.tests import e2e
from conversations.models import Conversation, Message
from pingback.testing import wait_for
from sandbox.platforms.telegram.customer import sample_png
from sandbox.platforms.telegram.standin import DEMO_BOT, DEMO_CUSTOMER

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(live_server, sandbox, settings, celery_worker, admin_member):
    """The running stack, an admin's API session and the Telegram channel,
    created through the API."""
    config = {"bot_token": DEMO_BOT.token}
    stack = e2e.live_stack(
        live_server, settings, admin_member, sandbox, "telegram", config
    )
    channel = stack["channel"]
    assert channel["setup"]["state"] == "ready", channel["setup"]
    assert sandbox.telegram.webhook()["url"] == channel["webhook_url"]
    return stack


def customer_sends(live, path: str = "customer/message", **body) -> dict:
    return e2e.sandbox_control(live, "telegram", path, **body)


def test_a_customer_message_arrives_and_text_and_file_replies_go_out(live):
    # given the customer writes to the bot
    sent = customer_sends(live, text="Hi, my order #4411 never arrived.")
    assert sent["delivery"]["status_code"] == 200

    # then a Telegram conversation appears
    conversation, shown = e2e.inbound_thread(
        live, "telegram", "Hi, my order #4411 never arrived."
    )
    assert shown["contact"]["handle"] == DEMO_CUSTOMER.username

    # when an agent replies with text
    text_reply = e2e.reply_reaches(
        live, conversation.pk, "Sorry! A replacement ships today."
    )

    # and then with a file
    queued = e2e.reply(
        live,
        conversation.pk,
        data={"text": "Here is your new shipping label."},
        files={"files": ("label.pdf", b"%PDF-1.4 label 4411", "application/pdf")},
    )
    file_reply = e2e.message_reaches(queued["id"])

    # then Telegram got both, addressed to the customer's chat
    text_sent, file_sent = live["sandbox"].telegram.sent
    assert (text_sent["method"], text_sent["chat_id"], text_sent["text"]) == (
        "sendMessage",
        DEMO_CUSTOMER.id,
        "Sorry! A replacement ships today.",
    )
    assert (
        file_sent["method"],
        file_sent["chat_id"],
        file_sent["caption"],
        file_sent["file_name"],
        file_sent["file_size"],
    ) == (
        "sendDocument",
        DEMO_CUSTOMER.id,
        "Here is your new shipping label.",
        "label.pdf",
        len(b"%PDF-1.4 label 4411"),
    )
    assert (text_reply.status, file_reply.status) == ("sent", "sent")
    assert text_reply.platform_message_id == (
        f"{DEMO_CUSTOMER.id}:{text_sent['message_id']}"
    )
    assert file_reply.platform_message_id == (
        f"{DEMO_CUSTOMER.id}:{file_sent['message_id']}"
    )


def test_a_customer_photo_is_stored_and_served(live):
    photo = sample_png(32, 24)

    customer_sends(
        live,
        kind="photo",
        text="The box arrived crushed",
        file={
            "name": "box.png",
            "content_type": "image/png",
            "content_base64": base64.b64encode(photo).decode(),
        },
    )

    def stored_photo() -> Message | None:
        message = Message.objects.first()
        return message if message and message.attachments[0].get("stored") else None

    message = wait_for(stored_photo)
    assert message.text == "The box arrived crushed"
    [attachment] = e2e.thread(live, message.conversation_id)[0]["attachments"]
    assert attachment["kind"] == "image"
    served = requests.get(attachment["link"], timeout=10)
    assert served.status_code == 200
    assert served.content == photo


def test_a_redelivered_update_adds_nothing(live):
    first = customer_sends(live, text="Hello?")
    wait_for(lambda: Message.objects.exists())

    again = customer_sends(live, "customer/redeliver", update_id=first["update_id"])

    assert again["delivery"]["body"] == '{"status": "duplicate"}'
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_an_edit_changes_the_message_in_the_inbox(live):
    customer_sends(live, text="My order is #4411")
    message = wait_for(lambda: Message.objects.first())

    customer_sends(live, kind="edit", text="My order is #4412")

    wait_for(lambda: Message.objects.get(pk=message.pk).edited_at is not None)
    [shown] = e2e.thread(live, message.conversation_id)
    assert shown["text"] == "My order is #4412"

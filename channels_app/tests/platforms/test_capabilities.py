"""The capabilities table is the one source of the channels' limits: the
platform modules' send checks, `post_reply` and the channels API read it."""

import dataclasses

import pytest

from channels_app.platforms import capabilities
from channels_app.platforms.capabilities import (
    TELEGRAM,
    X_POST,
    capabilities_for,
    channel_capabilities,
)
from channels_app.services.delivery import message_deliver
from channels_app.tests.factories import ChannelFactory
from conversations.models import Message
from conversations.services.replies import ReplyRefused, post_reply
from conversations.tests.factories import ConversationFactory, ReplyFactory
from sandbox.platforms.telegram.standin import DEMO_BOT, DEMO_CUSTOMER

pytestmark = pytest.mark.django_db


def telegram_conversation(business):
    channel = ChannelFactory(
        business=business,
        type="telegram",
        secrets={"bot_token": DEMO_BOT.token, "webhook_secret": "s" * 40},
        config={"bot_id": "7000000001", "bot_username": DEMO_BOT.username},
    )
    return ConversationFactory(
        business=business, channel=channel, thread_key=f"chat:{DEMO_CUSTOMER.id}"
    )


@pytest.fixture
def telegram_limit_of_100(monkeypatch):
    """The table says Telegram takes 100 characters; nothing else changes."""
    monkeypatch.setitem(
        capabilities.CAPABILITIES,
        "telegram",
        dataclasses.replace(TELEGRAM, max_text_length=100),
    )


def test_telegrams_send_path_refuses_text_over_the_tables_limit(
    business, sandbox, telegram_limit_of_100
):
    conversation = telegram_conversation(business)
    sandbox.telegram.open_chat(DEMO_CUSTOMER)
    reply = ReplyFactory(conversation=conversation, text="x" * 101)

    message_deliver(message_id=reply.pk)

    reply.refresh_from_db()
    assert (reply.status, reply.error) == (
        "failed",
        "Telegram messages are limited to 100 characters; this one has 101.",
    )
    assert sandbox.telegram.sent == []


def test_telegrams_send_path_sends_text_within_the_tables_limit(
    business, sandbox, telegram_limit_of_100
):
    conversation = telegram_conversation(business)
    sandbox.telegram.open_chat(DEMO_CUSTOMER)
    reply = ReplyFactory(conversation=conversation, text="x" * 100)

    message_deliver(message_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == "sent", reply.error
    assert [s["text"] for s in sandbox.telegram.sent] == ["x" * 100]


def test_post_reply_refuses_by_the_table_and_queues_nothing(
    business, admin_member, telegram_limit_of_100
):
    conversation = telegram_conversation(business)

    with pytest.raises(ReplyRefused) as refused:
        post_reply(conversation=conversation, author=admin_member.user, text="y" * 101)

    assert refused.value.field == "text"
    assert refused.value.detail == (
        "Telegram messages are limited to 100 characters; this reply has 101."
    )
    assert not Message.objects.exists()


def test_platform_constants_are_the_tables():
    from channels_app.platforms import instagram, telegram, web_widget, whatsapp, x

    assert telegram.MAX_TEXT_LENGTH == TELEGRAM.max_text_length == 4096
    assert whatsapp.MAX_TEXT_LENGTH == 4096
    assert instagram.MAX_TEXT_LENGTH == 1000
    assert instagram.MAX_MEDIA_BYTES["image"] == 8 * 2**20
    assert (x.MAX_DM_LENGTH, x.MAX_POST_LENGTH) == (10_000, 280)
    assert web_widget.MAX_MESSAGE_LENGTH == 5000


def test_an_x_conversation_is_limited_by_its_thread_kind(business):
    dm = ConversationFactory(business=business)
    mention = ConversationFactory(business=business, thread_key="tweet:100")

    assert capabilities_for(dm).max_text_length == 10_000
    assert capabilities_for(mention) == dataclasses.replace(X_POST, max_files=0)
    assert capabilities_for(mention).max_text_length == 280


def test_files_are_never_larger_than_pingback_stores(settings):
    settings.MEDIA_MAX_BYTES = 20 * 2**20

    assert channel_capabilities("telegram").max_file_bytes == 20 * 2**20
    assert channel_capabilities("whatsapp").max_file_bytes == 16 * 2**20
    assert channel_capabilities("sms").max_file_bytes == 5 * 2**20


def test_the_channels_api_shows_each_channels_capabilities(admin_api, business):
    ChannelFactory(business=business)

    [listed] = admin_api.get("/api/v1/channels/").json()

    assert listed["capabilities"] == {
        "max_text_length": 10_000,
        "max_file_bytes": 25 * 2**20,
        "max_files": 1,
        "supports_files": True,
        "supports_templates": False,
    }

"""The live inbox's events (`conversations.realtime`), as an agent's open page
would receive them from the business's group: published by ingest, replies,
delivery and conversation updates, on commit only, and never breaking a write."""

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import requests
from channels.layers import get_channel_layer
from django.db import transaction

from billing.tests.factories import BusinessFactory
from channels_app.platforms.base import (
    DeliveryStatus,
    InboundContact,
    InboundMessage,
    MessageEdit,
)
from channels_app.services.delivery import message_deliver
from channels_app.tests.factories import ChannelFactory
from conversations import realtime
from conversations.models import Message
from conversations.realtime import inbox_group, publish_messages_created
from conversations.services import (
    conversation_mark_read,
    conversation_update,
    ingest,
    post_reply,
)
from conversations.services.attachments import message_media_fetch
from conversations.tests.factories import ConversationFactory, MessageFactory
from sandbox.platforms.telegram.standin import DEMO_BOT

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CUSTOMER = InboundContact(external_id="2200000000000000002", handle="casey")


class Listener:
    """A channel-layer channel in a business's inbox group, like an agent's
    open page. It runs on an event loop of its own, as a web process would."""

    def __init__(self, business_id) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.layer = get_channel_layer()
        self.name = self._run(self._join(inbox_group(business_id)))

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _join(self, group: str) -> str:
        name = await self.layer.new_channel()
        await self.layer.group_add(group, name)
        return name

    def events(self) -> list[dict]:
        """Every event received since the last call, in order."""
        return self._run(self._drain())

    async def _drain(self) -> list[dict]:
        received = []
        while True:
            try:
                message = await asyncio.wait_for(self.layer.receive(self.name), 0.3)
            except TimeoutError:
                return received
            assert message["type"] == "inbox.event"
            received.append(message["event"])

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def fresh_channel_layer(settings) -> None:
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}


@pytest.fixture
def listen(fresh_channel_layer) -> Iterator[Callable[[object], Listener]]:
    """Start listening to a business's inbox group."""
    listeners: list[Listener] = []

    def start(business_id) -> Listener:
        listeners.append(Listener(business_id))
        return listeners[-1]

    yield start
    for listener in listeners:
        listener.close()


@pytest.fixture
def listener(listen, business) -> Listener:
    return listen(business.id)


@pytest.fixture
def conversation(business):
    return ConversationFactory(business=business)


def dm(
    platform_message_id: str,
    text: str = "Hello",
    *,
    contact: InboundContact = CUSTOMER,
) -> InboundMessage:
    return InboundMessage(
        platform_message_id=platform_message_id,
        contact=contact,
        text=text,
        sent_at=T0,
        thread_key=f"dm:{contact.external_id}",
    )


def message_created(message: Message) -> dict:
    return {
        "type": "message",
        "conversation_id": message.conversation_id,
        "message_id": message.pk,
        "change": "created",
    }


def outbound(conversation, **fields) -> Message:
    return MessageFactory(
        conversation=conversation, **{"direction": "outbound", **fields}
    )


# ------------------------------------------------------------------------ ingest


def test_a_new_inbound_message_is_announced_with_its_conversation(
    listener, conversation, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(channel=conversation.channel, items=[dm("9001")])

    message = Message.objects.get(pk=result.created[0])
    assert listener.events() == [
        {
            "type": "message",
            "conversation_id": message.conversation_id,
            "message_id": message.pk,
            "change": "created",
        },
        {"type": "conversation", "conversation_id": message.conversation_id},
    ]


def test_a_batch_is_announced_with_one_event_per_conversation(
    listener, conversation, django_capture_on_commit_callbacks
):
    other = InboundContact(external_id="2200000000000000003", handle="robin")
    items = [dm("9001"), dm("9002", contact=other), dm("9003"), dm("9004")]

    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(channel=conversation.channel, items=items)

    messages = Message.objects.filter(pk__in=result.created).order_by("pk")
    first, second = messages[0].conversation_id, messages[1].conversation_id
    assert listener.events() == [
        *(message_created(message) for message in messages),
        {"type": "conversation", "conversation_id": first},
        {"type": "conversation", "conversation_id": second},
    ]


def test_a_duplicate_inbound_message_announces_nothing(
    listener, conversation, django_capture_on_commit_callbacks
):
    ingest(channel=conversation.channel, items=[dm("9001")])
    listener.events()

    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel=conversation.channel, items=[dm("9001")])

    assert listener.events() == []


@pytest.mark.parametrize(
    ("_case", "before", "receipt_status", "error", "announced"),
    [
        ("delivered after sent", "sent", "delivered", "", True),
        ("failed with the reason", "sent", "failed", "30006: Unreachable", True),
        ("sent after read changes nothing", "read", "sent", "", False),
    ],
)
def test_a_receipt_that_moves_a_message_announces_its_status(
    listener,
    conversation,
    django_capture_on_commit_callbacks,
    _case,
    before,
    receipt_status,
    error,
    announced,
):
    message = outbound(conversation, status=before, platform_message_id="wamid.1")
    receipt = DeliveryStatus(
        platform_message_id="wamid.1",
        status=receipt_status,
        occurred_at=T0,
        error=error,
    )

    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel=conversation.channel, items=[receipt])

    expected = {
        "type": "message_status",
        "conversation_id": conversation.pk,
        "message_id": message.pk,
        "status": receipt_status,
        "error": error,
    }
    assert listener.events() == ([expected] if announced else [])


def test_an_edit_is_announced_for_its_message(
    listener, conversation, django_capture_on_commit_callbacks
):
    message = MessageFactory(conversation=conversation, platform_message_id="77")
    edit = MessageEdit(platform_message_id="77", text="Hello (edited)", edited_at=T0)

    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel=conversation.channel, items=[edit])

    assert listener.events() == [
        {
            "type": "message",
            "conversation_id": conversation.pk,
            "message_id": message.pk,
            "change": "edited",
        }
    ]


def test_media_fetched_after_the_message_is_announced_for_its_message(
    listener, business, sandbox, django_capture_on_commit_callbacks
):
    """The files of an inbound message are fetched by a task after the message
    is announced; the open thread hears again when they are stored (or, here,
    refused by Telegram with the reason)."""
    channel = ChannelFactory(
        business=business,
        type="telegram",
        secrets={"bot_token": DEMO_BOT.token},
        config={"bot_id": "7000000001", "bot_username": DEMO_BOT.username},
    )
    conversation = ConversationFactory(business=business, channel=channel)
    message = MessageFactory(
        conversation=conversation,
        attachments=[{"kind": "image", "ref": "AgACAgQAAxkBAAIBZ2-gone"}],
    )

    with django_capture_on_commit_callbacks(execute=True):
        message_media_fetch(message_id=message.pk)

    assert "fetch_error" in Message.objects.get().attachments[0]
    assert listener.events() == [
        {
            "type": "message",
            "conversation_id": conversation.pk,
            "message_id": message.pk,
            "change": "attachments",
        }
    ]


# --------------------------------------------------------------- reply, delivery


def test_a_reply_is_announced_queued_then_sent(
    listener, conversation, admin_member, sandbox, django_capture_on_commit_callbacks
):
    MessageFactory(conversation=conversation, text="Where is my order?")

    with django_capture_on_commit_callbacks(execute=True):
        reply = post_reply(
            conversation=conversation, author=admin_member.user, text="On its way."
        )

    assert listener.events() == [
        {
            "type": "message",
            "conversation_id": conversation.pk,
            "message_id": reply.pk,
            "change": "created",
        },
        {"type": "conversation", "conversation_id": conversation.pk},
        {
            "type": "message_status",
            "conversation_id": conversation.pk,
            "message_id": reply.pk,
            "status": "sent",
            "error": "",
        },
    ]


@pytest.mark.parametrize(
    ("_case", "mode", "status", "error"),
    [
        ("transient: requeued", {"server_error_next": 1}, "queued", "X API error"),
        ("permanent: failed", {"credits_depleted": True}, "failed", "X API credits"),
    ],
)
def test_a_delivery_failure_is_announced_with_its_reason(
    listener,
    conversation,
    sandbox,
    django_capture_on_commit_callbacks,
    _case,
    mode,
    status,
    error,
):
    MessageFactory(conversation=conversation)
    queued = outbound(conversation, status="queued", platform_message_id=None)
    requests.post(
        f"{sandbox.url}/_sandbox/x/mode", json=mode, timeout=5
    ).raise_for_status()

    with django_capture_on_commit_callbacks(execute=True):
        message_deliver(message_id=queued.pk)

    [event] = listener.events()
    queued.refresh_from_db()
    assert queued.error.startswith(error)
    assert event == {
        "type": "message_status",
        "conversation_id": conversation.pk,
        "message_id": queued.pk,
        "status": status,
        "error": queued.error,
    }


# -------------------------------------------------------- conversation updates


@pytest.mark.parametrize("change", ["status", "assignee"])
def test_a_status_or_assignee_change_is_announced_with_its_activity_entry(
    listener, conversation, admin_member, django_capture_on_commit_callbacks, change
):
    # The change is recorded in the thread (an activity entry), so the open
    # thread hears of the new entry as well as the list of the change.
    with django_capture_on_commit_callbacks(execute=True):
        if change == "status":
            conversation_update(
                conversation=conversation, by=admin_member.user, status="resolved"
            )
        else:
            conversation_update(
                conversation=conversation,
                by=admin_member.user,
                assignee=admin_member.user,
            )

    [activity] = conversation.messages.filter(kind="activity")
    assert listener.events() == [
        {
            "type": "message",
            "conversation_id": conversation.pk,
            "message_id": activity.pk,
            "change": "created",
        },
        {"type": "conversation", "conversation_id": conversation.pk},
    ]


def test_reading_an_unread_conversation_is_announced_once(
    listener, business, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(business=business, unread_count=2)

    with django_capture_on_commit_callbacks(execute=True):
        conversation_mark_read(conversation=conversation)
        conversation_mark_read(conversation=conversation)

    assert listener.events() == [
        {"type": "conversation", "conversation_id": conversation.pk}
    ]


# ------------------------------------------------------------------ guarantees


def test_events_reach_only_the_conversations_business(
    listen, business, django_capture_on_commit_callbacks
):
    other = BusinessFactory()
    ours, theirs = listen(business.id), listen(other.id)
    conversation = ConversationFactory(business=other)

    with django_capture_on_commit_callbacks(execute=True):
        conversation_update(conversation=conversation, by=None, status="pending")

    assert ours.events() == []
    assert [e["conversation_id"] for e in theirs.events()] == [conversation.pk] * 2


def test_a_batch_publish_sends_each_business_its_own_events(
    listen, business, django_capture_on_commit_callbacks
):
    other = BusinessFactory()
    ours, theirs = listen(business.id), listen(other.id)
    our_message = MessageFactory(conversation=ConversationFactory(business=business))
    their_conversation = ConversationFactory(business=other)
    their_messages = MessageFactory.create_batch(2, conversation=their_conversation)

    with django_capture_on_commit_callbacks(execute=True):
        publish_messages_created([their_messages[0], our_message, their_messages[1]])

    assert ours.events() == [
        message_created(our_message),
        {"type": "conversation", "conversation_id": our_message.conversation_id},
    ]
    assert theirs.events() == [
        *(message_created(message) for message in their_messages),
        {"type": "conversation", "conversation_id": their_conversation.pk},
    ]


def test_a_rolled_back_write_announces_nothing(
    listener, conversation, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            ingest(channel=conversation.channel, items=[dm("9002")])
            raise RuntimeError("the caller gives up")

    assert Message.objects.count() == 0
    assert listener.events() == []


def test_a_channel_layer_that_is_down_does_not_break_the_write(
    settings, conversation, django_capture_on_commit_callbacks, caplog
):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Nothing listens on port 9 (discard) here: the connection is refused.
            "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]},
        }
    }

    with (
        caplog.at_level(logging.WARNING, logger="conversations.realtime"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = ingest(channel=conversation.channel, items=[dm("9003")])

    assert len(result.created) == 1
    assert Message.objects.filter(platform_message_id="9003").exists()
    assert [
        r.getMessage() for r in caplog.records if r.name == "conversations.realtime"
    ] == ["realtime.publish_failed"]


def test_pages_that_missed_events_are_told_to_resync_with_the_next_send(
    listen, business, django_capture_on_commit_callbacks
):
    # given: the layer's breaker is open (a send failed a moment ago), and
    # two businesses' writes are not announced meanwhile
    ours = listen(business.id)
    other = ConversationFactory()
    theirs = listen(other.business_id)
    conversation = ConversationFactory(business=business)
    realtime._layer_breaker.trip()
    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel=conversation.channel, items=[dm("9101")])
        ingest(channel=other.channel, items=[dm("9102")])
    assert ours.events() == []
    assert theirs.events() == []

    # when: the breaker closes and the next write is announced
    realtime._layer_breaker.reset()
    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel=conversation.channel, items=[dm("9103")])

    # then: both businesses' pages hear "resync" first, so they fetch what
    # they missed; ours then hear of the new message
    message = Message.objects.get(platform_message_id="9103")
    assert ours.events() == [
        {"type": "resync"},
        message_created(message),
        {"type": "conversation", "conversation_id": message.conversation_id},
    ]
    assert theirs.events() == [{"type": "resync"}]

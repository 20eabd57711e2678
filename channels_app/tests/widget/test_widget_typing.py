"""Typing between a widget visitor and the agents, over the real websockets
and channel layer: the visitor's typing reaches the business's agents as the
customer typing; an agent's typing reaches only that visitor's widgets, with
no name."""

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from billing.tests.factories import MemberFactory, UserFactory
from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.platforms.web_widget import visitor_thread_key
from channels_app.tests.widget.test_widget_consumer import TIMEOUT, greet, say
from channels_app.widget.consumers import TYPING_MIN_INTERVAL
from conversations import presence
from conversations.models import Conversation
from conversations.services import ingest
from conversations.tests.presence_helpers import (
    inbox_socket,
    presence_of,
    presence_reset,
    session_cookie,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_presence():
    presence_reset()
    yield
    presence_reset()


@pytest.fixture
def ana(business):
    user = UserFactory(first_name="Ana", last_name="Silva")
    return MemberFactory(user=user, business=business).user


def visitor_writes(channel, visitor_id: str) -> Conversation:
    """Store a first message of the visitor (as the inbound worker would)."""

    ingest(
        channel=channel,
        items=[
            InboundMessage(
                platform_message_id=str(uuid.uuid4()),
                thread_key=visitor_thread_key(visitor_id),
                contact=InboundContact(external_id=visitor_id, name="Visitor"),
                text="Hello",
                sent_at=timezone.now(),
            )
        ],
    )
    return Conversation.objects.get(thread_key=visitor_thread_key(visitor_id))


def test_the_visitor_typing_reaches_the_agents_and_expires(
    widget_socket, widget_channel, ana
):
    cookie = session_cookie(ana)

    async def scenario():
        visitor = widget_socket(widget_channel.id)
        welcome = await greet(visitor)
        # No conversation yet: typing is ignored, nothing breaks.
        await visitor.send_json_to({"type": "typing"})
        assert await visitor.receive_nothing(timeout=0.3)
        conversation = await database_sync_to_async(visitor_writes)(
            widget_channel, welcome["visitor_id"]
        )
        agent = inbox_socket(cookie)
        assert (await agent.connect(timeout=TIMEOUT))[0]
        await agent.send_json_to({"type": "presence", "conversation_id": None})
        # The server acts on one typing frame per TYPING_MIN_INTERVAL.
        await asyncio.sleep(TYPING_MIN_INTERVAL)
        await visitor.send_json_to({"type": "typing"})
        typing = await wait_for(
            agent, presence_of(conversation.pk, typing=["customer"])
        )
        stopped = await wait_for(
            agent,
            presence_of(conversation.pk, typing=[]),
            timeout=presence.TYPING_TTL + 3,
        )
        await visitor.disconnect()
        await agent.disconnect()
        return typing, stopped

    typing, stopped = async_to_sync(scenario)()

    assert typing["typing"] == [{"id": None, "name": "customer"}]
    assert stopped["typing"] == []


def test_an_agent_typing_reaches_only_that_visitor_without_a_name(
    widget_socket, widget_channel, ana
):
    cookie = session_cookie(ana)

    async def scenario():
        visitor = widget_socket(widget_channel.id)
        other = widget_socket(widget_channel.id)
        welcome = await greet(visitor)
        await greet(other)
        assert (await say(visitor, "Hi"))["type"] == "ack"
        conversation = await database_sync_to_async(visitor_writes)(
            widget_channel, welcome["visitor_id"]
        )
        agent = inbox_socket(cookie)
        assert (await agent.connect(timeout=TIMEOUT))[0]
        await agent.send_json_to({"type": "typing", "conversation_id": conversation.pk})
        frame = await visitor.receive_json_from(timeout=TIMEOUT)
        other_heard = not await other.receive_nothing(timeout=0.5)
        for socket in (visitor, other, agent):
            await socket.disconnect()
        return frame, other_heard

    frame, other_heard = async_to_sync(scenario)()

    assert frame == {"type": "typing"}
    assert other_heard is False

"""Agent notifications for inbound customer messages
(`conversations/notifications.py`), heard where agents' pages hear them: on
each agent's own channel-layer group (`agent_group`), and through the real
`/ws/inbox/` websocket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from conversations.models import Contact, Conversation
from conversations.notifications import inbound_notify
from conversations.realtime import agent_group
from conversations.services import ingest
from conversations.tests.test_live_inbox_consumer import (
    TIMEOUT,
    inbox_socket,
    session_cookie,
)
from workspace.models import Team

pytestmark = pytest.mark.django_db(transaction=True)

ADA = InboundContact(external_id="4001", handle="ada", name="Ada Lovelace")


@pytest.fixture(autouse=True)
def fresh_channel_layer(settings) -> None:
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}


def dm(pid: str, text: str = "Where is my order?", contact=ADA) -> InboundMessage:
    return InboundMessage(
        platform_message_id=pid,
        contact=contact,
        text=text,
        sent_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        thread_key=f"dm:{contact.external_id}",
    )


def notifications_heard(users, action: Callable[[], object]) -> dict[int, list]:
    """Run `action` (sync, committing) while listening on each user's agent
    group; return user pk -> the notification events each heard."""
    layer = get_channel_layer()

    async def scenario():
        names = {}
        for user in users:
            names[user.pk] = await layer.new_channel()
            await layer.group_add(agent_group(user.pk), names[user.pk])
        await database_sync_to_async(action)()
        heard: dict[int, list] = {}
        for pk, name in names.items():
            heard[pk] = []
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(name), 0.5)
                except TimeoutError:
                    break
                if message["event"]["type"] == "notification":
                    heard[pk].append(message["event"])
        return heard

    return async_to_sync(scenario)()


@pytest.fixture
def team_business():
    business = BusinessFactory()
    return {
        "business": business,
        "channel": ChannelFactory(business=business),
        "ana": MemberFactory(business=business),
        "ben": MemberFactory(business=business),
        "off": MemberFactory(business=business, notify_new_conversation=False),
        "other": MemberFactory(business=BusinessFactory()),
    }


def open_thread(world, **fields) -> Conversation:
    """Ada's thread on the channel, opened with no message yet."""
    return Conversation.objects.create(
        business=world["business"],
        channel=world["channel"],
        channel_type=world["channel"].type,
        contact=Contact.objects.create(business=world["business"], name="Ada"),
        thread_key="dm:4001",
        last_message_at=datetime(2026, 12, 1, tzinfo=UTC),
        **fields,
    )


def users(world, *names):
    return [world[name].user for name in names]


def test_a_new_conversation_notifies_every_agent_with_the_switch_on(team_business):
    w = team_business
    heard = notifications_heard(
        users(w, "ana", "ben", "off", "other"),
        lambda: ingest(channel=w["channel"], items=[dm("m1", "Hello, my order?")]),
    )

    conversation = Conversation.objects.get()
    expected = {
        "type": "notification",
        "kind": "new_conversation",
        "conversation_id": conversation.pk,
        "title": "New conversation from Ada Lovelace",
        "body": "Hello, my order?",
        "params": {"contact": "Ada Lovelace"},
    }
    assert heard[w["ana"].user.pk] == [expected]
    assert heard[w["ben"].user.pk] == [expected]
    assert heard[w["off"].user.pk] == []
    assert heard[w["other"].user.pk] == []


def test_a_new_conversation_of_a_team_notifies_only_its_members(team_business):
    w = team_business
    team = Team.objects.create(business=w["business"], name="Billing")
    team.members.add(w["ben"], w["off"])
    # The thread is routed to the team before the customer's first message
    # lands (as channel routing does, in the same transaction).
    conversation = open_thread(w, team=team)

    heard = notifications_heard(
        users(w, "ana", "ben", "off"),
        lambda: ingest(channel=w["channel"], items=[dm("m1")]),
    )

    assert heard[w["ana"].user.pk] == []
    assert [e["conversation_id"] for e in heard[w["ben"].user.pk]] == [conversation.pk]
    assert heard[w["off"].user.pk] == []


def test_a_reply_notifies_the_assignee_only_and_only_with_the_switch_on(
    team_business,
):
    w = team_business
    ingest(channel=w["channel"], items=[dm("m1")])
    conversation = Conversation.objects.get()
    conversation.assignee = w["ana"].user
    conversation.save()
    long_text = "x" * 300

    heard = notifications_heard(
        users(w, "ana", "ben"),
        lambda: ingest(channel=w["channel"], items=[dm("m2", long_text)]),
    )

    [event] = heard[w["ana"].user.pk]
    assert (event["kind"], event["title"]) == ("reply", "Ada Lovelace replied")
    assert len(event["body"]) == 140 and event["body"].endswith("…")
    assert heard[w["ben"].user.pk] == []

    w["ana"].notify_customer_reply = False
    w["ana"].save()
    heard = notifications_heard(
        users(w, "ana"), lambda: ingest(channel=w["channel"], items=[dm("m3")])
    )
    assert heard[w["ana"].user.pk] == []


def test_an_assigned_new_conversation_notifies_only_the_assignee(team_business):
    w = team_business
    # Assigned before the customer's first message is stored (as
    # auto-assignment does, in the ingest's transaction, before the hook).
    conversation = open_thread(w, assignee=w["ben"].user)

    heard = notifications_heard(
        users(w, "ana", "ben"),
        lambda: ingest(channel=w["channel"], items=[dm("m1")]),
    )

    assert heard[w["ana"].user.pk] == []
    assert [(e["kind"], e["conversation_id"]) for e in heard[w["ben"].user.pk]] == [
        ("new_conversation", conversation.pk)
    ]


def test_queries_do_not_grow_with_agents_or_messages(team_business):
    w = team_business
    for _ in range(10):
        MemberFactory(business=w["business"])
    few = ingest(channel=w["channel"], items=[dm("a1")]).created
    contacts = [InboundContact(external_id=f"50{n}", name=f"C{n}") for n in range(8)]
    many = ingest(
        channel=w["channel"],
        items=[dm(f"b{n}", contact=contacts[n % 8]) for n in range(24)],
    ).created

    def cost(message_ids) -> int:
        with CaptureQueriesContext(connection) as queries:
            inbound_notify(message_ids)
        return len(queries)

    # Unassigned new conversations: the conversations, then the members.
    assert cost(few) == cost(many) == 2
    Conversation.objects.update(assignee=w["ana"].user)
    # Assigned (new or not): the conversations only.
    assert cost(few) == cost(many) == 1
    assert cost([]) == 0


def test_the_notification_reaches_the_assignees_websocket_only(team_business):
    w = team_business
    ingest(channel=w["channel"], items=[dm("m1")])
    conversation = Conversation.objects.get()
    conversation.assignee = w["ana"].user
    conversation.save()
    cookies = {name: session_cookie(w[name].user) for name in ("ana", "ben", "other")}

    async def scenario():
        sockets = {}
        for name, cookie in cookies.items():
            sockets[name] = inbox_socket(cookie)
            connected, _ = await sockets[name].connect(timeout=TIMEOUT)
            assert connected
        await database_sync_to_async(ingest)(
            channel=w["channel"], items=[dm("m2", "Any news?")]
        )
        heard = {}
        for name, socket in sockets.items():
            heard[name] = []
            while not await socket.receive_nothing(timeout=0.5):
                event = await socket.receive_json_from(timeout=TIMEOUT)
                if event["type"] == "notification":
                    heard[name].append(event)
            await socket.disconnect()
        return heard

    heard = async_to_sync(scenario)()

    assert heard["ana"] == [
        {
            "type": "notification",
            "kind": "reply",
            "conversation_id": conversation.pk,
            "title": "Ada Lovelace replied",
            "body": "Any news?",
            "params": {"contact": "Ada Lovelace"},
        }
    ]
    assert heard["ben"] == []
    assert heard["other"] == []

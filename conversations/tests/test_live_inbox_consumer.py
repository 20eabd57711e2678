"""The agents' websocket (`/ws/inbox/`) through the real ASGI application: it
needs a logged-in member on PingBack's own origin, and carries only their
business's events."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from billing.tests.factories import BusinessFactory, UserFactory
from conversations.services import conversation_update
from conversations.tests.factories import ConversationFactory
from conversations.tests.presence_helpers import (
    OWN_ORIGIN,
    inbox_socket,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


@pytest.fixture(autouse=True)
def fresh_channel_layer(settings) -> None:
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}


def connects(cookie: str | None, origin: str | None = OWN_ORIGIN) -> bool:
    async def scenario():
        socket = inbox_socket(cookie, origin)
        connected, _ = await socket.connect(timeout=TIMEOUT)
        if connected:
            await socket.disconnect()
        return connected

    return async_to_sync(scenario)()


def test_a_logged_in_agent_connects(agent_member):
    assert connects(session_cookie(agent_member.user)) is True


@pytest.mark.parametrize(
    ("_case", "who", "origin"),
    [
        ("not logged in", None, OWN_ORIGIN),
        ("a user of no business", "outsider", OWN_ORIGIN),
        ("another site's page", "agent", "https://evil.example"),
        ("no Origin header", "agent", None),
    ],
)
def test_the_handshake_is_refused(agent_member, _case, who, origin):
    user = {"agent": agent_member.user, "outsider": UserFactory(), None: None}[who]
    cookie = session_cookie(user) if user else None

    assert connects(cookie, origin) is False


def test_an_agent_gets_their_business_events_and_no_others(agent_member, business):
    ours = ConversationFactory(business=business)
    theirs = ConversationFactory(business=BusinessFactory())
    cookie = session_cookie(agent_member.user)

    async def scenario():
        socket = inbox_socket(cookie)
        await socket.connect(timeout=TIMEOUT)
        await socket.send_to("pages only listen; this is ignored")
        for conversation in (theirs, ours):
            await database_sync_to_async(conversation_update)(
                conversation=conversation, by=None, status="pending"
            )
        # Ours: its activity entry's event, then the row's.
        events = [await socket.receive_json_from(timeout=TIMEOUT) for _ in range(2)]
        nothing_else = await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()
        return events, nothing_else

    events, nothing_else = async_to_sync(scenario)()

    assert [(e["type"], e["conversation_id"]) for e in events] == [
        ("message", ours.pk),
        ("conversation", ours.pk),
    ]
    assert nothing_else is True

"""Agent presence over the agents' websocket (`/ws/inbox/`), through the real
ASGI application and channel layer: who is online, who views and who types a
conversation; typing expires; frames are checked against the session's
business."""

import os
import subprocess
import sys
import time

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from billing.tests.factories import BusinessFactory, MemberFactory, UserFactory
from conversations import presence
from conversations.tests.factories import ConversationFactory
from conversations.tests.presence_helpers import (
    TIMEOUT,
    inbox_socket,
    presence_of,
    presence_reset,
    session_cookie,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_presence(settings):
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
    presence_reset()
    yield
    presence_reset()


@pytest.fixture
def ana(business):
    user = UserFactory(first_name="Ana", last_name="Silva")
    return MemberFactory(user=user, business=business).user


@pytest.fixture
def ben(business):
    user = UserFactory(first_name="Ben", last_name="Okoro")
    return MemberFactory(user=user, business=business).user


async def connected(cookie: str):
    socket = inbox_socket(cookie)
    ok, _ = await socket.connect(timeout=TIMEOUT)
    assert ok
    return socket


def test_an_agent_sees_who_else_views_a_conversation_and_who_left(ana, ben, business):
    conversation = ConversationFactory(business=business)

    ana_cookie = session_cookie(ana)
    ben_cookie = session_cookie(ben)

    async def scenario():
        ben_socket = await connected(ben_cookie)
        await ben_socket.send_json_to({"type": "presence", "conversation_id": None})
        ana_socket = await connected(ana_cookie)
        await ana_socket.send_json_to(
            {"type": "presence", "conversation_id": conversation.pk}
        )
        online = await wait_for(
            ben_socket,
            lambda e: e["type"] == "agents_online" and len(e["agents"]) == 2,
        )
        viewing = await wait_for(
            ben_socket, presence_of(conversation.pk, viewing=["Ana Silva"])
        )
        # Ana goes back to the list: nobody views it any more.
        await ana_socket.send_json_to({"type": "presence", "conversation_id": None})
        left = await wait_for(ben_socket, presence_of(conversation.pk, viewing=[]))
        await ana_socket.disconnect()
        offline = await wait_for(ben_socket, lambda e: e["type"] == "agents_online")
        await ben_socket.disconnect()
        return viewing, online, left, offline

    viewing, online, left, offline = async_to_sync(scenario)()

    assert viewing["viewing"] == [{"id": ana.pk, "name": "Ana Silva"}]
    assert viewing["typing"] == []
    assert sorted(a["name"] for a in online["agents"]) == ["Ana Silva", "Ben Okoro"]
    assert left["viewing"] == []
    assert offline["agents"] == [{"id": ben.pk, "name": "Ben Okoro"}]
    assert presence.agents_online(business.pk) == set()


def test_typing_shows_then_expires_a_few_seconds_after_the_last_frame(
    ana, ben, business
):
    conversation = ConversationFactory(business=business)

    ana_cookie = session_cookie(ana)
    ben_cookie = session_cookie(ben)

    async def scenario():
        ben_socket = await connected(ben_cookie)
        ana_socket = await connected(ana_cookie)
        await ana_socket.send_json_to(
            {"type": "presence", "conversation_id": conversation.pk}
        )
        await ana_socket.send_json_to(
            {"type": "typing", "conversation_id": conversation.pk}
        )
        typing = await wait_for(
            ben_socket, presence_of(conversation.pk, typing=["Ana Silva"])
        )
        started = time.monotonic()
        stopped = await wait_for(
            ben_socket,
            presence_of(conversation.pk, typing=[], viewing=["Ana Silva"]),
            timeout=presence.TYPING_TTL + 3,
        )
        waited = time.monotonic() - started
        await ana_socket.disconnect()
        await ben_socket.disconnect()
        return typing, stopped, waited

    typing, stopped, waited = async_to_sync(scenario)()

    assert typing["typing"] == [{"id": ana.pk, "name": "Ana Silva"}]
    assert typing["viewing"] == [{"id": ana.pk, "name": "Ana Silva"}]
    assert stopped["typing"] == []
    assert presence.TYPING_TTL - 1 < waited < presence.TYPING_TTL + 2


def test_another_business_conversation_and_malformed_frames_are_ignored(
    ana, ben, business
):
    foreign = ConversationFactory(business=BusinessFactory())
    ours = ConversationFactory(business=business)

    ana_cookie = session_cookie(ana)
    ben_cookie = session_cookie(ben)

    async def scenario():
        ben_socket = await connected(ben_cookie)
        ana_socket = await connected(ana_cookie)
        for frame in (
            "not json",
            "[1, 2]",
            "[" * 5000 + "]" * 5000,
            '{"type": "presence", "conversation_id": "7"}',
            '{"type": "shout"}',
            '{"type": "typing", "conversation_id": true}',
        ):
            await ana_socket.send_to(text_data=frame)
        await ana_socket.send_json_to(
            {"type": "presence", "conversation_id": foreign.pk, "user_id": ben.pk}
        )
        await ana_socket.send_json_to({"type": "typing", "conversation_id": foreign.pk})
        # Still connected, and the next valid frame works.
        await ana_socket.send_json_to({"type": "presence", "conversation_id": ours.pk})
        event = await wait_for(ben_socket, presence_of(ours.pk, viewing=["Ana Silva"]))
        await ana_socket.disconnect()
        await ben_socket.disconnect()
        return event

    event = async_to_sync(scenario)()

    assert event["viewing"] == [{"id": ana.pk, "name": "Ana Silva"}]
    assert presence.viewers(foreign.pk) == set()
    assert presence.typists(foreign.pk) == (set(), False)


def test_other_business_agents_hear_nothing(ana, business):
    outsider = MemberFactory(
        user=UserFactory(first_name="Eve"), business=BusinessFactory()
    ).user
    conversation = ConversationFactory(business=business)

    ana_cookie = session_cookie(ana)
    outsider_cookie = session_cookie(outsider)

    async def scenario():
        eve_socket = await connected(outsider_cookie)
        ana_socket = await connected(ana_cookie)
        await ana_socket.send_json_to(
            {"type": "presence", "conversation_id": conversation.pk}
        )
        await ana_socket.send_json_to(
            {"type": "typing", "conversation_id": conversation.pk}
        )
        nothing = await eve_socket.receive_nothing(timeout=0.5)
        await ana_socket.disconnect()
        await eve_socket.disconnect()
        return nothing

    assert async_to_sync(scenario)() is True


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)")
def test_presence_is_shared_between_processes(business):
    """Another process's heartbeat counts here (both use Redis)."""
    code = (
        "from conversations import presence; "
        f"presence.page_seen(business_id='{business.pk}', user_id=424242, "
        "name='Far Away', connection='elsewhere', conversation_id=99999999)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "pingback.settings"}
    env.setdefault("PINGBACK_ALLOW_DEV_KEYS", "1")
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        check=True,
        env=env,
        cwd=settings.BASE_DIR,
        timeout=60,
    )

    assert presence.agents_online(business.pk) == {424242}
    assert presence.viewers(99999999) == {424242}
    assert presence.online_event(business.pk)["agents"] == [
        {"id": 424242, "name": "Far Away"}
    ]


def test_an_idle_page_stays_connected_longer_than_the_layer_poll(ana):
    """The channel layer polls Redis for 5 s at a time; a page with nothing to
    hear for longer keeps its connection (its heartbeat comes every 30 s)."""
    ana_cookie = session_cookie(ana)

    async def scenario():
        socket = await connected(ana_cookie)
        quiet = await socket.receive_nothing(timeout=7, interval=0.05)
        await socket.send_json_to({"type": "presence", "conversation_id": None})
        online = await wait_for(socket, lambda e: e["type"] == "agents_online")
        await socket.disconnect()
        return quiet, online

    quiet, online = async_to_sync(scenario)()

    assert quiet is True
    assert online["agents"] == [{"id": ana.pk, "name": "Ana Silva"}]

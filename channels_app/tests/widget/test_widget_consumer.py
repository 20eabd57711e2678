"""The visitors' websocket (`/ws/widget/<channel id>/`) through the real ASGI
application: origin and channel checks, identity and history, messages through
the inbound path (stored once), agents' replies pushed live, catch-up after a
reconnect, rate limits."""

import json
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async

from channels_app.models import InboundEvent
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.widget.conftest import client_ip
from channels_app.widget.services import (
    CONNECTIONS_PER_IP_PER_WINDOW,
    MESSAGES_PER_VISITOR_PER_WINDOW,
    visitor_token_issue,
)
from conversations.models import ContactIdentity, Conversation, Message
from conversations.services import post_reply
from pingback.testing import wait_for
from pingback.tests.test_metrics import TOKEN, scrape

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


def run(scenario, *args):
    """Run an async scenario; its ORM calls go through database_sync_to_async."""
    return async_to_sync(scenario)(*args)


async def greet(socket, token=None, last_message_id=None) -> dict:
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    await socket.send_json_to(
        {"type": "hello", "token": token, "last_message_id": last_message_id}
    )
    welcome = await socket.receive_json_from(timeout=TIMEOUT)
    assert welcome["type"] == "welcome"
    return welcome


async def say(socket, text: str, message_id: str | None = None) -> dict:
    """Send a visitor message and return PingBack's answer to it."""
    await socket.send_json_to(
        {"type": "message", "id": message_id or str(uuid.uuid4()), "text": text}
    )
    return await socket.receive_json_from(timeout=TIMEOUT)


def agent_replies(admin_member, text: str) -> Message:
    conversation = Conversation.objects.get()
    return post_reply(conversation=conversation, author=admin_member.user, text=text)


# -------------------------------------------------------------- who may connect


def test_a_page_on_an_allowed_domain_is_welcomed_with_the_widget_settings(
    widget_socket, widget_channel, business
):
    async def scenario():
        socket = widget_socket(widget_channel.id, origin="https://shop.example.com")
        welcome = await greet(socket)
        await socket.disconnect()
        return welcome

    welcome = run(scenario)

    assert uuid.UUID(welcome["visitor_id"]).version == 4
    assert welcome["settings"] == {
        "name": business.name,
        "welcome_message": "Hi! How can we help?",
        "brand_color": "#aa3300",
        "logo_url": "",
    }
    assert welcome["messages"] == []
    assert welcome["token"]


@pytest.mark.parametrize(
    ("_case", "origin"),
    [
        ("another site", "https://evil.example"),
        ("a lookalike domain", "https://shop.example.com.evil.example"),
        ("a subdomain of an exact entry", "https://www.shop.example.com"),
        ("no Origin header", None),
        ("an opaque origin", "null"),
    ],
)
def test_a_page_outside_the_allowed_domains_is_refused(
    widget_socket, widget_channel, _case, origin
):
    async def scenario():
        return await widget_socket(widget_channel.id, origin=origin).connect()

    connected, _ = run(scenario)

    assert connected is False


def test_a_leading_dot_entry_admits_the_domain_and_its_subdomains(
    widget_socket, widget_channel
):
    async def scenario():
        results = []
        for origin in ("https://example.org", "https://help.example.org:8443"):
            socket = widget_socket(widget_channel.id, origin=origin)
            results.append((await socket.connect())[0])
            await socket.disconnect()
        return results

    assert run(scenario) == [True, True]


def test_an_empty_allowed_domains_list_admits_no_site(widget_socket, business):
    channel = ChannelFactory(business=business, type="widget", secrets={}, config={})

    async def scenario():
        return await widget_socket(channel.id).connect()

    assert run(scenario)[0] is False


@pytest.mark.parametrize("_case", ["inactive widget", "not a widget", "unknown id"])
def test_connections_to_anything_but_an_active_widget_channel_are_refused(
    widget_socket, widget_channel, business, _case
):
    channel_id = {
        "inactive widget": widget_channel.id,
        "not a widget": ChannelFactory(business=business).id,
        "unknown id": uuid.uuid4(),
    }[_case]
    if _case == "inactive widget":
        widget_channel.is_active = False
        widget_channel.save()

    async def scenario():
        return await widget_socket(channel_id).connect()

    assert run(scenario)[0] is False


# -------------------------------------------------------------------- messages


def test_a_visitor_message_goes_through_the_inbound_path_and_is_acknowledged(
    widget_socket, widget_channel
):
    message_id = str(uuid.uuid4())

    async def scenario():
        socket = widget_socket(widget_channel.id)
        welcome = await greet(socket)
        answer = await say(socket, "  Do you ship to Norway?  ", message_id)
        await socket.disconnect()
        return welcome, answer

    welcome, answer = run(scenario)

    assert answer == {"type": "ack", "id": message_id, "status": "accepted"}
    event = InboundEvent.objects.get()
    assert (event.event_key, event.status) == (message_id, "processed")
    assert json.loads(bytes(event.body))["visitor_id"] == welcome["visitor_id"]
    message = Message.objects.get()
    assert (message.direction, message.text, message.platform_message_id) == (
        "inbound",
        "Do you ship to Norway?",
        message_id,
    )
    conversation = message.conversation
    assert conversation.thread_key == f"visitor:{welcome['visitor_id']}"
    assert conversation.channel_type == "webchat"
    assert conversation.contact.name == f"Visitor {welcome['visitor_id'][:8]}"
    identity = ContactIdentity.objects.get()
    assert (identity.channel, identity.external_id) == (
        widget_channel,
        welcome["visitor_id"],
    )


def test_a_message_resent_after_a_reconnect_is_stored_once(
    widget_socket, widget_channel
):
    message_id = str(uuid.uuid4())

    async def scenario():
        first = widget_socket(widget_channel.id)
        welcome = await greet(first)
        sent = await say(first, "Is anyone there?", message_id)
        await first.disconnect()
        again = widget_socket(widget_channel.id)
        await greet(again, token=welcome["token"])
        resent = await say(again, "Is anyone there?", message_id)
        await again.disconnect()
        return sent, resent

    sent, resent = run(scenario)

    assert (sent["status"], resent["status"]) == ("accepted", "duplicate")
    assert Message.objects.count() == 1
    assert InboundEvent.objects.count() == 1


def test_the_visitors_other_tabs_see_the_message_they_sent(
    widget_socket, widget_channel
):
    message_id = str(uuid.uuid4())

    async def scenario():
        tab = widget_socket(widget_channel.id)
        welcome = await greet(tab)
        other_tab = widget_socket(widget_channel.id)
        await greet(other_tab, token=welcome["token"])
        await say(tab, "Hello from tab one", message_id)
        shared = await other_tab.receive_json_from(timeout=TIMEOUT)
        await tab.disconnect()
        await other_tab.disconnect()
        return shared

    shared = run(scenario)

    assert shared["type"] == "message"
    assert shared["message"]["client_id"] == message_id
    assert shared["message"]["text"] == "Hello from tab one"
    assert shared["message"]["direction"] == "inbound"


@pytest.mark.parametrize(
    ("_case", "frame", "code"),
    [
        ("no id", {"type": "message", "text": "hi"}, "invalid_message"),
        (
            "id not a UUID",
            {"type": "message", "id": "42", "text": "hi"},
            "invalid_message",
        ),
        (
            "blank text",
            {"type": "message", "id": str(uuid.uuid4()), "text": "  "},
            "empty_message",
        ),
        (
            "text too long",
            {"type": "message", "id": str(uuid.uuid4()), "text": "x" * 5001},
            "message_too_long",
        ),
        ("unknown type", {"type": "shout"}, "invalid_frame"),
        ("not an object", ["message"], "invalid_frame"),
    ],
)
def test_a_bad_frame_gets_an_error_frame_and_stores_nothing(
    widget_socket, widget_channel, _case, frame, code
):
    async def scenario():
        socket = widget_socket(widget_channel.id)
        await greet(socket)
        await socket.send_json_to(frame)
        answer = await socket.receive_json_from(timeout=TIMEOUT)
        await socket.disconnect()
        return answer

    answer = run(scenario)

    assert (answer["type"], answer["code"]) == ("error", code)
    assert answer["detail"]
    assert InboundEvent.objects.count() == 0


def test_text_that_is_not_json_gets_an_error_frame(widget_socket, widget_channel):
    async def scenario():
        socket = widget_socket(widget_channel.id)
        await greet(socket)
        await socket.send_to(text_data="{not json")
        answer = await socket.receive_json_from(timeout=TIMEOUT)
        await socket.disconnect()
        return answer

    assert run(scenario)["code"] == "invalid_frame"


def test_a_message_before_hello_is_refused(widget_socket, widget_channel):
    message_id = str(uuid.uuid4())

    async def scenario():
        socket = widget_socket(widget_channel.id)
        await socket.connect()
        answer = await say(socket, "Hi", message_id)
        await socket.disconnect()
        return answer

    answer = run(scenario)

    assert (answer["code"], answer["id"]) == ("hello_required", message_id)
    assert InboundEvent.objects.count() == 0


def test_a_message_after_the_channel_is_deactivated_closes_the_chat(
    widget_socket, widget_channel
):
    async def scenario():
        socket = widget_socket(widget_channel.id)
        await greet(socket)
        await database_sync_to_async(
            type(widget_channel).objects.filter(pk=widget_channel.pk).update
        )(is_active=False)
        answer = await say(socket, "Still there?")
        closed = await socket.receive_output(timeout=TIMEOUT)
        return answer, closed

    answer, closed = run(scenario)

    assert answer["code"] == "channel_inactive"
    assert closed == {"type": "websocket.close", "code": 4403}
    assert InboundEvent.objects.get().status == "ignored"
    assert Message.objects.count() == 0


# ------------------------------------------------------ identity, history, replies


def test_a_returning_visitor_keeps_their_id_and_sees_their_history(
    widget_socket, widget_channel, admin_member
):
    async def first_visit():
        socket = widget_socket(widget_channel.id)
        welcome = await greet(socket)
        await say(socket, "Do you have oat milk?")
        await socket.disconnect()
        return welcome

    async def next_visit(token):
        socket = widget_socket(widget_channel.id)
        welcome = await greet(socket, token=token)
        await socket.disconnect()
        return welcome

    first = first_visit_welcome = run(first_visit)
    reply = agent_replies(admin_member, "Yes, every day.")
    returning = run(next_visit, first_visit_welcome["token"])

    assert returning["visitor_id"] == first["visitor_id"]
    inbound = Message.objects.get(direction="inbound")
    assert [
        (m["id"], m["direction"], m["text"], m["client_id"])
        for m in returning["messages"]
    ] == [
        (inbound.pk, "inbound", "Do you have oat milk?", inbound.platform_message_id),
        (reply.pk, "outbound", "Yes, every day.", None),
    ]


@pytest.mark.parametrize("_case", ["forged", "another channel's"])
def test_a_token_not_signed_for_this_channel_makes_a_new_visitor(
    widget_socket, widget_channel, business, _case
):
    known = str(uuid.uuid4())
    other = ChannelFactory(business=business, type="webchat", secrets={}, config={})
    token = {
        "forged": visitor_token_issue(channel_id=widget_channel.id, visitor_id=known)[
            :-2
        ]
        + "xx",
        "another channel's": visitor_token_issue(channel_id=other.id, visitor_id=known),
    }[_case]

    async def scenario():
        socket = widget_socket(widget_channel.id)
        welcome = await greet(socket, token=token)
        await socket.disconnect()
        return welcome

    welcome = run(scenario)

    assert welcome["visitor_id"] != known
    assert welcome["messages"] == []


def test_an_agent_reply_reaches_the_open_widget_without_reloading(
    widget_socket, widget_channel, admin_member
):
    async def scenario():
        socket = widget_socket(widget_channel.id)
        await greet(socket)
        await say(socket, "Where is my order?")
        reply = await database_sync_to_async(agent_replies)(
            admin_member, "It left this morning."
        )
        pushed = await socket.receive_json_from(timeout=TIMEOUT)
        await socket.disconnect()
        return reply, pushed

    reply, pushed = run(scenario)

    assert pushed["type"] == "message"
    assert {k: pushed["message"][k] for k in ("id", "direction", "text")} == {
        "id": reply.pk,
        "direction": "outbound",
        "text": "It left this morning.",
    }
    reply.refresh_from_db()
    assert (reply.status, reply.platform_message_id) == ("sent", f"reply-{reply.pk}")


def test_after_a_dropped_connection_the_widget_gets_what_it_missed(
    widget_socket, widget_channel, admin_member
):
    async def before_the_drop():
        socket = widget_socket(widget_channel.id)
        welcome = await greet(socket)
        await say(socket, "Hello?")
        await socket.disconnect()
        return welcome

    async def after_reconnecting(token, last_message_id):
        socket = widget_socket(widget_channel.id)
        welcome = await greet(socket, token=token, last_message_id=last_message_id)
        await socket.disconnect()
        return welcome

    welcome = run(before_the_drop)
    seen = Message.objects.get()
    missed = agent_replies(admin_member, "Sorry for the wait!")
    caught_up = run(after_reconnecting, welcome["token"], seen.pk)

    assert [(m["id"], m["text"]) for m in caught_up["messages"]] == [
        (missed.pk, "Sorry for the wait!")
    ]


def test_a_failed_reply_is_not_shown_to_the_visitor(
    widget_socket, widget_channel, admin_member
):
    async def visit(token=None):
        socket = widget_socket(widget_channel.id)
        welcome = await greet(socket, token=token)
        if token is None:
            await say(socket, "Hi")
        await socket.disconnect()
        return welcome

    welcome = run(visit)
    reply = agent_replies(admin_member, "This one fails.")
    Message.objects.filter(pk=reply.pk).update(status="failed")
    returning = run(visit, welcome["token"])

    assert [m["direction"] for m in returning["messages"]] == ["inbound"]


# ------------------------------------------------------------------ rate limits


def test_messages_over_the_per_visitor_limit_are_refused_until_the_window_ends(
    widget_socket, widget_channel
):
    async def scenario():
        socket = widget_socket(widget_channel.id)
        await greet(socket)
        answers = [
            await say(socket, f"message {n}")
            for n in range(MESSAGES_PER_VISITOR_PER_WINDOW + 1)
        ]
        await socket.disconnect()
        return answers

    answers = run(scenario)

    assert [a["type"] for a in answers[:-1]] == [
        "ack"
    ] * MESSAGES_PER_VISITOR_PER_WINDOW
    refused = answers[-1]
    assert (refused["type"], refused["code"]) == ("error", "rate_limited")
    assert 1 <= refused["retry_after"] <= 60
    assert Message.objects.count() == MESSAGES_PER_VISITOR_PER_WINDOW


def test_connections_over_the_per_ip_limit_get_an_error_frame_and_are_closed(
    widget_socket, widget_channel
):
    ip = client_ip()

    async def scenario():
        accepted = []
        for _ in range(CONNECTIONS_PER_IP_PER_WINDOW):
            socket = widget_socket(widget_channel.id, ip=ip)
            accepted.append((await socket.connect(timeout=TIMEOUT))[0])
            await socket.disconnect()
        over = widget_socket(widget_channel.id, ip=ip)
        connected, _ = await over.connect(timeout=TIMEOUT)
        error = await over.receive_json_from(timeout=TIMEOUT)
        closed = await over.receive_output(timeout=TIMEOUT)
        elsewhere = widget_socket(widget_channel.id)
        elsewhere_connected, _ = await elsewhere.connect(timeout=TIMEOUT)
        await elsewhere.disconnect()
        return accepted, connected, error, closed, elsewhere_connected

    accepted, connected, error, closed, elsewhere_connected = run(scenario)

    assert accepted == [True] * CONNECTIONS_PER_IP_PER_WINDOW
    assert connected is True
    assert (error["type"], error["code"]) == ("error", "rate_limited")
    assert 1 <= error["retry_after"] <= 60
    assert closed == {"type": "websocket.close", "code": 4429}
    assert elsewhere_connected is True


def test_open_widget_connections_show_in_the_metrics(
    client, widget_socket, widget_channel, settings
):
    """`pingback_websocket_connections{kind="widget"}` counts accepted
    connections until they end; a refused one (wrong origin) never counts."""
    settings.PINGBACK_METRICS_TOKEN = TOKEN
    kind = frozenset({"kind": "widget"}.items())

    def widgets() -> float:
        return scrape(client)[("pingback_websocket_connections", kind)]

    def settle(expected: float) -> None:
        wait_for(lambda: widgets() == expected, timeout=5)

    before = widgets()

    async def scenario() -> list[bool]:
        first = widget_socket(widget_channel.id)
        second = widget_socket(widget_channel.id)
        refused = widget_socket(widget_channel.id, origin="https://evil.example")
        connected = [
            (await socket.connect(timeout=TIMEOUT))[0]
            for socket in (first, second, refused)
        ]
        await sync_to_async(settle)(before + 2)
        await first.disconnect()
        await sync_to_async(settle)(before + 1)
        await second.disconnect()
        await sync_to_async(settle)(before)
        return connected

    assert run(scenario) == [True, True, False]

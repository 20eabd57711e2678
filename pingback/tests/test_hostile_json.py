"""JSON nested 50,000 deep (Python's parser would exhaust its stack: a 500)
and text PostgreSQL cannot store, sent to the API, the webhooks and both
websockets: each is answered with a clear error (400 with a JSON body, an
error frame, or a close) and nothing is stored, or the text is repaired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from channels_app.models import Channel, InboundEvent
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.widget.communicator import WebsocketCommunicator
from conversations.models import Conversation, Message
from conversations.services import conversation_update
from conversations.tests.factories import ConversationFactory
from conversations.tests.presence_helpers import inbox_socket, session_cookie
from sandbox.platforms.x.payloads import DEMO_APP, sign

DEEP = b"[" * 50_000 + b"]" * 50_000
TOO_DEEP_API = {"detail": "JSON parse error - JSON nested deeper than 64 levels."}
TIMEOUT = 5
SHOP = "https://shop.example.com"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# ----------------------------------------------------------------- HTTP routes


@pytest.mark.django_db
def test_a_deep_body_to_the_channels_api_is_400_and_creates_nothing(admin_api):
    response = admin_api.post(
        "/api/v1/channels/", data=DEEP, content_type="application/json"
    )

    assert (response.status_code, response.json()) == (400, TOO_DEEP_API)
    assert Channel.objects.count() == 0


@pytest.mark.django_db
def test_a_deep_reply_is_400_and_sends_nothing(admin_api, business):
    conversation = ConversationFactory(business=business)

    response = admin_api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        data=DEEP,
        content_type="application/json",
    )

    assert (response.status_code, response.json()) == (400, TOO_DEEP_API)
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_a_deep_conversation_patch_is_400_and_changes_nothing(admin_api, business):
    conversation = ConversationFactory(business=business, status="open")

    response = admin_api.patch(
        f"/api/v1/conversations/{conversation.pk}",
        data=DEEP,
        content_type="application/json",
    )

    assert (response.status_code, response.json()) == (400, TOO_DEEP_API)
    conversation.refresh_from_db()
    assert conversation.status == "open"


@pytest.mark.django_db
def test_a_deep_signed_webhook_is_400_and_kept_as_malformed(client):
    channel = ChannelFactory()

    response = client.post(
        f"/api/v1/webhooks/x/{channel.pk}",
        data=DEEP,
        content_type="application/json",
        HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=sign(DEEP, DEMO_APP.consumer_secret),
    )

    detail = "body: JSON nested deeper than 64 levels."
    assert (response.status_code, response.json()) == (400, {"detail": detail})
    event = InboundEvent.objects.get()
    assert (event.status, event.error, bytes(event.body)) == ("malformed", detail, DEEP)
    assert Conversation.objects.count() == 0


@pytest.mark.django_db
def test_json_as_deep_as_allowed_is_read(admin_api, business):
    # given a reply whose one extra field nests exactly JSON_MAX_DEPTH deep
    conversation = ConversationFactory(business=business)
    body = '{"text": "Still fine", "extra": ' + nested(63) + "}"

    # when
    response = admin_api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        data=body,
        content_type="application/json",
    )

    # then
    assert response.status_code == 202, response.content
    assert response.json()["text"] == "Still fine"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "escape", "stored"),
    [
        ("NUL", "\\u0000", "\ufffd"),
        ("lone high surrogate", "\\ud800", "\ufffd"),
        ("lone low surrogate", "\\udfff", "\ufffd"),
        ("a pair is kept", "\\ud83d\\ude00", "\U0001f600"),
    ],
)
def test_a_reply_with_unstorable_text_is_stored_repaired(
    admin_api, business, _case, escape, stored
):
    conversation = ConversationFactory(business=business)

    response = admin_api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        data=f'{{"text": "On{escape}its way"}}',
        content_type="application/json",
    )

    assert response.status_code == 202, response.content
    assert response.json()["text"] == f"On{stored}its way"
    assert Message.objects.get().text == f"On{stored}its way"


# ------------------------------------------------------------------ websockets


def run(scenario, *args):
    return async_to_sync(scenario)(*args)


@pytest.fixture
def fresh_channel_layer(settings) -> None:
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}


def widget_socket(channel: Channel) -> WebsocketCommunicator:
    from pingback.asgi import application

    socket = WebsocketCommunicator(
        application, f"/ws/widget/{channel.id}/", headers=[(b"origin", SHOP.encode())]
    )
    socket.scope["client"] = (f"10.9.{uuid.uuid4().int % 250}.1", 50123)
    return socket


def widget(business) -> Channel:
    return ChannelFactory(
        business=business,
        type="webchat",
        secrets={},
        config={"allowed_domains": ["shop.example.com"]},
    )


@pytest.mark.django_db(transaction=True)
def test_a_huge_deep_widget_frame_gets_an_error_and_a_close(
    fresh_channel_layer, business
):
    channel = widget(business)

    async def scenario():
        socket = widget_socket(channel)
        assert (await socket.connect(timeout=TIMEOUT))[0]
        await socket.send_to(text_data=DEEP.decode())
        error = await socket.receive_json_from(timeout=TIMEOUT)
        closed = await socket.receive_output(timeout=TIMEOUT)
        return error, closed

    error, closed = run(scenario)

    assert error == {
        "type": "error",
        "code": "frame_too_large",
        "detail": "Frames may have at most 65536 bytes.",
    }
    assert closed == {"type": "websocket.close", "code": 1009}
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_deep_widget_frame_gets_an_error_and_the_widget_keeps_working(
    fresh_channel_layer, business
):
    channel = widget(business)

    async def scenario():
        socket = widget_socket(channel)
        assert (await socket.connect(timeout=TIMEOUT))[0]
        await socket.send_to(text_data=nested(65))
        error = await socket.receive_json_from(timeout=TIMEOUT)
        await socket.send_json_to({"type": "hello", "token": None})
        welcome = await socket.receive_json_from(timeout=TIMEOUT)
        await socket.disconnect()
        return error, welcome

    error, welcome = run(scenario)

    assert error == {
        "type": "error",
        "code": "invalid_frame",
        "detail": "JSON nested deeper than 64 levels.",
    }
    assert welcome["type"] == "welcome"
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_huge_deep_inbox_frame_closes_the_connection(
    fresh_channel_layer, agent_member
):
    socket = inbox_socket(session_cookie(agent_member.user))

    async def scenario():
        assert (await socket.connect(timeout=TIMEOUT))[0]
        await socket.send_to(text_data=DEEP.decode())
        return await socket.receive_output(timeout=TIMEOUT)

    assert run(scenario) == {"type": "websocket.close", "code": 1009}


@pytest.mark.django_db(transaction=True)
def test_a_deep_inbox_frame_is_ignored_and_events_still_arrive(
    fresh_channel_layer, agent_member, business
):
    conversation = ConversationFactory(business=business)

    socket = inbox_socket(session_cookie(agent_member.user))

    async def scenario():
        assert (await socket.connect(timeout=TIMEOUT))[0]
        await socket.send_to(text_data=nested(10_000))
        await database_sync_to_async(conversation_update)(
            conversation=conversation, by=agent_member.user, status="pending"
        )
        event = await socket.receive_json_from(timeout=TIMEOUT)
        await socket.disconnect()
        return event

    # The change's first event is its activity entry's (then the list row's).
    event = run(scenario)
    [activity] = conversation.messages.filter(kind="activity")
    assert event == {
        "type": "message",
        "conversation_id": conversation.pk,
        "message_id": activity.pk,
        "change": "created",
    }


# ------------------------------------------------------- e-mail provider webhooks


def postmark_channel() -> Channel:
    return ChannelFactory(
        type="email",
        secrets={"inbound_webhook_key": "pingback:postmark-pass"},
        config={"address": "support@acme.test", "inbound_provider": "postmark"},
    )


@pytest.mark.django_db
def test_a_deep_postmark_post_is_400_and_kept_as_malformed(client):
    channel = postmark_channel()
    auth = base64.b64encode(b"pingback:postmark-pass").decode()

    response = client.post(
        f"/api/v1/webhooks/email/{channel.pk}/postmark/inbound",
        data=DEEP,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )

    detail = "not a postmark inbound payload: JSON nested deeper than 64 levels."
    assert (response.status_code, response.json()) == (400, {"detail": detail})
    event = InboundEvent.objects.get()
    assert (event.status, event.error, bytes(event.body)) == ("malformed", detail, DEEP)
    assert Conversation.objects.count() == 0


@pytest.mark.django_db
def test_a_mailgun_post_with_deep_headers_is_400_and_kept_as_malformed(client):
    channel = ChannelFactory(
        type="email",
        secrets={"inbound_webhook_key": "key-mailgun"},
        config={"address": "support@acme.test", "inbound_provider": "mailgun"},
    )
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(
        b"key-mailgun", f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()

    response = client.post(
        f"/api/v1/webhooks/email/{channel.pk}/mailgun/inbound",
        data={
            "recipient": "support@acme.test",
            "sender": "casey@customer.test",
            "from": "casey@customer.test",
            "subject": "Deep",
            "body-plain": "Hello",
            "message-headers": DEEP.decode(),
            "timestamp": timestamp,
            "token": token,
            "signature": signature,
        },
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "not a mailgun inbound payload: RecursionError"
    )
    assert InboundEvent.objects.get().status == "malformed"
    assert Conversation.objects.count() == 0


@pytest.mark.django_db
def test_a_multipart_reply_with_a_nul_is_400_naming_the_field(admin_api, business):
    conversation = ConversationFactory(business=business)

    response = admin_api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        data={"text": "On\x00its way"},
        format="multipart",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["text"]
    assert Message.objects.count() == 0

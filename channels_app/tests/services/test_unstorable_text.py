"""Text PostgreSQL cannot store (NUL, lone surrogates, bytes that are not
UTF-8) arriving through every channel type is repaired (U+FFFD) before the
event is acknowledged: the webhook answers 200, the stored event and the
message hold the repaired text, and processing succeeds.

Each webhook is signed the way its platform signs it, with the sandbox's
signers and the channel's own secret; the widget's message comes over its
websocket through the ASGI application. Each bad character is written the
way its format carries it: a JSON escape (`\\u0000`, `\\ud800`) or a raw
byte; `%00` / `%ED%A0%80` in a form; `=00` / `=ED=A0=80` in a
quoted-printable mail body. A surrogate written as UTF-8 bytes is three bytes
that are not UTF-8, so it becomes three U+FFFD.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.http import QueryDict

from channels_app.models import Channel, InboundEvent
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.widget.communicator import WebsocketCommunicator
from conversations.models import Message
from sandbox.platforms import meta
from sandbox.platforms.instagram.payloads import DEMO_ACCOUNT as INSTAGRAM_ACCOUNT
from sandbox.platforms.sms import payloads as sms_twilio
from sandbox.platforms.telegram.standin import DEMO_BOT
from sandbox.platforms.x.payloads import DEMO_APP, XUser, dm_payload, new_id
from sandbox.platforms.x.payloads import sign as x_sign

FIXTURES = Path(__file__).resolve().parents[1] / "platforms" / "fixtures"
MARK = "@@BAD@@"
R = "\ufffd"
TELEGRAM_SECRET = "s3cret-token_for-the-webhook-0123456789abcdef"
MAILGUN_KEY = "key-mailgun-signing-0a1b2c3d"
POSTMARK_AUTH = "pingback:postmark-webhook-pass-77"
SUPPORT = "support@acme.test"

# (case, how a JSON body carries it, what is stored)
JSON_BAD = [
    ("NUL", b"\\u0000", R),
    ("lone surrogate", b"\\ud800", R),
    ("lone low surrogate", b"\\udfff", R),
    ("not UTF-8", b"\xff", R),
]
FORM_BAD = [
    ("NUL", b"%00", R),
    ("surrogate as UTF-8 bytes", b"%ED%A0%80", R * 3),
    ("not UTF-8", b"\xff", R),
]
MIME_BAD = [
    ("NUL", b"=00", R),
    ("surrogate as UTF-8 bytes", b"=ED=A0=80", R * 3),
    ("not UTF-8", b"=FF", R),
]


def fixture(platform: str, name: str) -> dict:
    return json.loads((FIXTURES / platform / f"{name}.json").read_text())


def with_bad(payload: dict, bad: bytes) -> bytes:
    """`payload` as JSON with the marker in its text replaced by `bad`."""
    return json.dumps(payload).encode().replace(MARK.encode(), bad)


# ---------------------------------------------------------------- the channels


def post_x(client, bad: bytes):
    channel = ChannelFactory()
    customer = XUser(id="2400000000000000001", screen_name="casey", name="Casey")
    body = with_bad(
        dm_payload(
            account=DEMO_APP.account,
            customer=customer,
            text=f"Hi{MARK}there",
            event_id=new_id(),
            created_ms=1_760_000_000_000,
        ),
        bad,
    )
    return client.post(
        f"/api/v1/webhooks/x/{channel.pk}",
        data=body,
        content_type="application/json",
        HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_sign(body, DEMO_APP.consumer_secret),
    )


def post_telegram(client, bad: bytes):
    channel = ChannelFactory(
        type="telegram",
        secrets={"bot_token": DEMO_BOT.token, "webhook_secret": TELEGRAM_SECRET},
        config={"bot_id": "7000000001", "bot_username": DEMO_BOT.username},
    )
    update = fixture("telegram", "message__text")
    update["message"]["text"] = f"Hi{MARK}there"
    return client.post(
        f"/api/v1/webhooks/telegram/{channel.pk}",
        data=with_bad(update, bad),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=TELEGRAM_SECRET,
    )


def post_meta(client, channel: Channel, payload: dict, bad: bytes):
    body = with_bad(payload, bad)
    return client.post(
        f"/api/v1/webhooks/{channel.type}/{channel.pk}",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=meta.sign(channel.secrets["app_secret"], body),
    )


def post_whatsapp(client, bad: bytes):
    channel = ChannelFactory(
        type="whatsapp",
        secrets={
            "access_token": "EAAG-example-token",
            "verify_token": "chosen-verify-token-1234",
            "app_secret": "app-secret-example",
        },
        config={"phone_number_id": "106540352242922"},
    )
    payload = fixture("whatsapp", "message__text")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["text"]["body"] = f"Hi{MARK}there"
    return post_meta(client, channel, payload, bad)


def post_instagram(client, bad: bytes):
    channel = ChannelFactory(
        type="instagram",
        secrets={
            "access_token": INSTAGRAM_ACCOUNT.access_token,
            "app_secret": INSTAGRAM_ACCOUNT.app_secret,
            "verify_token": "verify-token-generated-by-setup-0001",
        },
        config={
            "page_id": INSTAGRAM_ACCOUNT.page_id,
            "instagram_account_id": INSTAGRAM_ACCOUNT.instagram_id,
            "instagram_username": INSTAGRAM_ACCOUNT.username,
        },
    )
    payload = fixture("instagram", "message__text")
    payload["entry"][0]["messaging"][0]["message"]["text"] = f"Hi{MARK}there"
    return post_meta(client, channel, payload, bad)


def post_sms(client, bad: bytes):
    fields = fixture("sms", "message__sms")
    channel = ChannelFactory(
        type="sms",
        secrets={"auth_token": sms_twilio.DEMO_ACCOUNT.auth_token},
        config={
            "account_sid": sms_twilio.DEMO_ACCOUNT.sid,
            "phone_number": fields["To"],
        },
    )
    fields["Body"] = f"Hi{MARK}there"
    path = f"/api/v1/webhooks/sms/{channel.pk}"
    body = urlencode(fields).encode().replace(urlencode({"": MARK})[1:].encode(), bad)
    # Twilio signs the fields it sent, as they decode.
    signed = dict(QueryDict(body).items())
    signature = sms_twilio.sign(
        sms_twilio.DEMO_ACCOUNT.auth_token,
        django_settings.PINGBACK_PUBLIC_BASE_URL + path,
        signed,
    )
    return client.post(
        path,
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def email_channel(provider: str, key: str) -> Channel:
    return ChannelFactory(
        type="email",
        secrets={"inbound_webhook_key": key},
        config={"address": SUPPORT, "inbound_provider": provider},
    )


def mime(bad: bytes) -> str:
    body = (
        b"From: Casey Customer <casey@customer.test>\r\n"
        b"To: " + SUPPORT.encode() + b"\r\n"
        b"Subject: My order\r\n"
        b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@customer.test>\r\n"
        b"Date: Mon, 17 Nov 2025 09:00:00 +0000\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"\r\n"
        b"Hi" + bad + b"there\r\n"
    )
    return body.decode("ascii")


def post_mailgun(client, bad: bytes):
    channel = email_channel("mailgun", MAILGUN_KEY)
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(
        MAILGUN_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    return client.post(
        f"/api/v1/webhooks/email/{channel.pk}/mailgun/inbound/mime",
        data={
            "recipient": SUPPORT,
            "sender": "casey@customer.test",
            "body-mime": mime(bad),
            "timestamp": timestamp,
            "token": token,
            "signature": signature,
        },
    )


def post_postmark(client, bad: bytes):
    channel = email_channel("postmark", POSTMARK_AUTH)
    payload = fixture("email", "postmark__inbound")
    payload.update(
        TextBody=f"Hi{MARK}there",
        HtmlBody="",
        StrippedTextReply="",
        Attachments=[],
        MessageID=str(uuid.uuid4()),
    )
    auth = base64.b64encode(POSTMARK_AUTH.encode()).decode()
    return client.post(
        f"/api/v1/webhooks/email/{channel.pk}/postmark/inbound",
        data=with_bad(payload, bad),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )


WEBHOOKS = {
    "x": (post_x, JSON_BAD),
    "telegram": (post_telegram, JSON_BAD),
    "whatsapp": (post_whatsapp, JSON_BAD),
    "instagram": (post_instagram, JSON_BAD),
    "sms": (post_sms, FORM_BAD),
    "email-mailgun": (post_mailgun, MIME_BAD),
    "email-postmark": (post_postmark, JSON_BAD),
}
WEBHOOK_CASES = [
    pytest.param(post, bad, stored, id=f"{name}-{case}")
    for name, (post, cases) in WEBHOOKS.items()
    for case, bad, stored in cases
]


@pytest.mark.django_db
@pytest.mark.parametrize(("post", "bad", "stored"), WEBHOOK_CASES)
def test_unstorable_text_in_a_signed_webhook_is_stored_repaired(
    client, django_capture_on_commit_callbacks, post, bad, stored
):
    # when the platform delivers a message whose text holds the bad character
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, bad)

    # then it is acknowledged, processed, and the message holds U+FFFD
    assert response.status_code == 200, response.content
    assert InboundEvent.objects.get().status == "processed"
    assert Message.objects.get().text == f"Hi{stored}there"


# ------------------------------------------------------------------ the widget

WIDGET_BAD = [
    pytest.param("text", '"Hi\\u0000there"', id="NUL"),
    pytest.param("text", '"Hi\\ud800there"', id="lone surrogate"),
    pytest.param("text", '"Hi\\udfffthere"', id="lone low surrogate"),
    pytest.param("bytes", b'"Hi\xffthere"', id="not UTF-8 (binary frame)"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("kind", "quoted"), WIDGET_BAD)
def test_unstorable_text_from_the_widget_is_stored_repaired(
    business, settings, kind, quoted
):
    from pingback.asgi import application

    channel = ChannelFactory(
        business=business,
        type="webchat",
        secrets={},
        config={"allowed_domains": ["shop.example.com"]},
    )
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
    socket = WebsocketCommunicator(
        application,
        f"/ws/widget/{channel.id}/",
        headers=[(b"origin", b"https://shop.example.com")],
    )
    socket.scope["client"] = (f"10.8.{uuid.uuid4().int % 250}.1", 50123)
    message_id = str(uuid.uuid4())

    async def scenario():
        assert (await socket.connect(timeout=30))[0]
        await socket.send_json_to({"type": "hello", "token": None})
        await socket.receive_json_from(timeout=30)
        if kind == "text":
            frame = f'{{"type": "message", "id": "{message_id}", "text": {quoted}}}'
            await socket.send_to(text_data=frame)
        else:
            head = f'{{"type": "message", "id": "{message_id}", "text": '.encode()
            await socket.send_to(bytes_data=head + quoted + b"}")
        ack = await socket.receive_json_from(timeout=30)
        await socket.disconnect()
        return ack

    ack = async_to_sync(scenario)()

    assert ack == {"type": "ack", "id": message_id, "status": "accepted"}
    assert InboundEvent.objects.get().status == "processed"
    assert Message.objects.get().text == f"Hi{R}there"

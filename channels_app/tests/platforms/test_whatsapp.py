"""The WhatsApp platform module: Meta's handshake and signatures, parsing of
every message and status kind, dedupe, receipts, channel creation against the
Graph API stand-in, sends (window, templates, media, errors) and media fetch.

Signatures are computed here with hmac directly, independently of the code
under test, and checked against the test vector in docs/platforms/whatsapp.md,
"Signature". Graph calls go over real HTTP (httpx) to the sandbox's WhatsApp
stand-in.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import factory
import pytest
import requests
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    DeliveryStatus,
    InboundContact,
    InboundMessage,
    MalformedPayload,
    PermanentDeliveryError,
)
from channels_app.platforms.whatsapp import UNDELIVERABLE, WINDOW_CLOSED
from channels_app.services.delivery import message_deliver
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import fixture_bytes, fixture_names
from channels_app.tests.platforms.test_whatsapp_kinds import KIND_CASES
from conversations.models import Conversation, Message
from conversations.tests.factories import ConversationFactory, MessageFactory
from pingback.tests.servers import Answer, RecordingServer
from sandbox.whatsapp_payloads import (
    DEMO_NUMBER,
    Customer,
    CustomerMessage,
    customer_message_payload,
)
from sandbox.whatsapp_state import StoredMedia

PHONE_NUMBER_ID = "106540352242922"
APP_SECRET = "app-secret-example"
VERIFY_TOKEN = "chosen-verify-token-1234"
CUSTOMER = "16505551234"
SHEENA = InboundContact(external_id=CUSTOMER, name="Sheena Nelson")
OUR_WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
REPLIED_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3QkI1RDc2QTM0NTJFOTFDNTMA"


def wamid(suffix: str) -> str:
    return f"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQz{suffix}AA=="


class WhatsAppChannelFactory(ChannelFactory):
    """A WhatsApp channel for the documented example number, set up."""

    type = "whatsapp"
    secrets = factory.LazyFunction(
        lambda: {
            "access_token": "EAAG-example-token",
            "verify_token": VERIFY_TOKEN,
            "app_secret": APP_SECRET,
        }
    )
    config = factory.LazyFunction(
        lambda: {
            "phone_number_id": PHONE_NUMBER_ID,
            "display_phone_number": "+1 555-078-3881",
            "verified_name": "Lucky Shrub",
        }
    )
    setup_state = "action_required"


def sandbox_channel(**kwargs) -> Channel:
    """A channel of the sandbox's demo number (the stand-in knows its token)."""
    return WhatsAppChannelFactory(
        config={"phone_number_id": DEMO_NUMBER.phone_number_id},
        secrets={
            "access_token": DEMO_NUMBER.access_token,
            "verify_token": VERIFY_TOKEN,
            "app_secret": DEMO_NUMBER.app_secret,
        },
        **kwargs,
    )


def independent_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_url(channel) -> str:
    return f"/api/v1/webhooks/whatsapp/{channel.id}"


def post_signed(client, channel, body: bytes, secret: str | None = None):
    return client.post(
        webhook_url(channel),
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=independent_signature(
            secret or channel.secrets["app_secret"], body
        ),
    )


def at(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


def test_independent_signature_matches_the_documented_vector():
    """docs/platforms/whatsapp.md, "Signature", so the helper above is right."""
    body = b'{"object":"whatsapp_business_account","entry":[]}'

    assert independent_signature(APP_SECRET, body) == (
        "sha256=6c957c4f986b25135337b7da0baf9a0341f32c395dec049e0fe15c294df2842b"
    )


# ------------------------------------------------------------------- handshake


@pytest.mark.django_db
def test_handshake_with_the_verify_token_answers_the_challenge(client):
    channel = WhatsAppChannelFactory()

    response = client.get(
        webhook_url(channel),
        {
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response.content == b"1158201444"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "token"), [("wrong token", "guess"), ("no token", None)]
)
def test_handshake_with_another_token_is_refused(client, _case, token):
    channel = WhatsAppChannelFactory()
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    if token:
        query["hub.verify_token"] = token

    response = client.get(webhook_url(channel), query)

    assert response.status_code == 403
    assert b"1158201444" not in response.content


@pytest.mark.django_db
def test_get_without_hub_mode_is_not_a_handshake(client):
    channel = WhatsAppChannelFactory()

    assert client.get(webhook_url(channel)).status_code == 405


# ------------------------------------------------------------------ signatures


@pytest.mark.django_db
def test_signed_message_is_stored_then_becomes_a_whatsapp_conversation(
    client, django_capture_on_commit_callbacks
):
    channel = WhatsAppChannelFactory()
    body = fixture_bytes("whatsapp", "message__text")

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, channel, body)

    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    event = InboundEvent.objects.get()
    assert bytes(event.body) == body
    assert event.status == "processed"
    assert event.event_key == f"msg:{wamid('QTRBNjU5OUFFRTAzODEwMTQ0RgA')}"
    conversation = Conversation.objects.get()
    assert conversation.channel_type == "whatsapp"
    assert conversation.thread_key == "wa:16505551234"
    assert conversation.contact.name == "Sheena Nelson"
    assert conversation.contact_identity.external_id == CUSTOMER
    message = conversation.messages.get()
    assert message.text == "Does it come in another color?"
    assert message.direction == "inbound"
    assert message.sent_at == at(1749416383)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "headers"),
    [
        ("missing", {}),
        ("forged", {"HTTP_X_HUB_SIGNATURE_256": "sha256=" + "0" * 64}),
        ("signed with another secret", "other"),
        ("legacy sha1 only", {"HTTP_X_HUB_SIGNATURE": "sha1=" + "0" * 40}),
    ],
)
def test_unsigned_or_forged_webhooks_get_403_and_store_nothing(client, _case, headers):
    channel = WhatsAppChannelFactory()
    body = fixture_bytes("whatsapp", "message__text")
    if headers == "other":
        headers = {"HTTP_X_HUB_SIGNATURE_256": independent_signature("other", body)}

    response = client.post(
        webhook_url(channel), data=body, content_type="application/json", **headers
    )

    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_without_an_app_secret_every_webhook_is_refused(
    client, django_capture_on_commit_callbacks
):
    """A channel stored before app_secret was required cannot verify Meta's
    signature, so it stores nothing, signed or not."""
    channel = WhatsAppChannelFactory(
        secrets={"access_token": "EAAG-example-token", "verify_token": VERIFY_TOKEN}
    )
    body = fixture_bytes("whatsapp", "message__text")

    with django_capture_on_commit_callbacks(execute=True):
        unsigned = client.post(
            webhook_url(channel), data=body, content_type="application/json"
        )
        signed = post_signed(client, channel, body, secret=APP_SECRET)

    assert (unsigned.status_code, signed.status_code) == (403, 403)
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_redelivered_message_adds_nothing(client, django_capture_on_commit_callbacks):
    channel = WhatsAppChannelFactory()
    body = fixture_bytes("whatsapp", "message__image")
    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, channel, body)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, channel, body)

    assert response.json() == {"status": "duplicate"}
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_a_message_seen_before_in_another_body_is_one_message(
    client, django_capture_on_commit_callbacks
):
    """Meta may redeliver a message inside a bigger body (another event key):
    the message itself is still stored once."""
    channel = WhatsAppChannelFactory()
    single = json.loads(fixture_bytes("whatsapp", "message__text"))
    combined = json.loads(fixture_bytes("whatsapp", "body__multi_entry"))
    combined["entry"][0]["changes"][0] = single["entry"][0]["changes"][0]

    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, channel, fixture_bytes("whatsapp", "message__text"))
        response = post_signed(client, channel, json.dumps(combined).encode())

    assert response.json() == {"status": "accepted"}
    assert sorted(Message.objects.values_list("text", flat=True)) == [
        "Does it come in another color?",
        "Is the shop open on Sunday?",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "body", "error"),
    [
        (
            "not JSON",
            b"{not json",
            "body is not JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (
            "message without id",
            None,
            "entry[0].changes[0].value.messages[0].id: missing",
        ),
        (
            "phone number id of the wrong type",
            b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":'
            b' "messages", "value": {"metadata": {"phone_number_id": 1065}}}]}]}',
            "entry[0].changes[0].value.metadata.phone_number_id: expected a string, "
            "got an integer",
        ),
        ("no entry", b'{"object": "whatsapp_business_account"}', "entry: missing"),
    ],
)
def test_malformed_body_is_kept_with_its_error_and_answered_400(
    client, _case, body, error
):
    channel = WhatsAppChannelFactory()
    body = body or fixture_bytes("whatsapp", "malformed__message_without_id")

    response = post_signed(client, channel, body)

    assert response.status_code == 400
    assert response.json() == {"detail": error}
    event = InboundEvent.objects.get()
    assert (event.status, event.error) == ("malformed", error)
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_events_for_another_number_are_kept_as_ignored(
    client, django_capture_on_commit_callbacks
):
    channel = WhatsAppChannelFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(
            client, channel, fixture_bytes("whatsapp", "body__other_number")
        )

    assert response.json() == {"status": "accepted"}
    event = InboundEvent.objects.get()
    assert event.status == "ignored"
    assert event.error == "event for another phone number (106540352240000)"
    assert Message.objects.count() == 0


# ------------------------------------------------------------ parsing, pure

PARSE_CASES = {
    "message__text": [
        InboundMessage(
            platform_message_id=wamid("QTRBNjU5OUFFRTAzODEwMTQ0RgA"),
            contact=SHEENA,
            text="Does it come in another color?",
            sent_at=at(1749416383),
            thread_key="wa:16505551234",
        )
    ],
    "message__image": [
        InboundMessage(
            platform_message_id=wamid("RUFGMTY1NkM0RTJCMUEwQkI2NwA"),
            contact=SHEENA,
            text="The handle arrived broken",
            sent_at=at(1749416400),
            thread_key="wa:16505551234",
            attachments=(
                {
                    "kind": "image",
                    "ref": "2754859441498128",
                    "content_type": "image/jpeg",
                },
            ),
        )
    ],
    "message__document": [
        InboundMessage(
            platform_message_id=wamid("QjcwNEE2QjI5OEY0RkNCNTFFQQA"),
            contact=SHEENA,
            text="Invoice for order 4411",
            sent_at=at(1749416460),
            thread_key="wa:16505551234",
            attachments=(
                {
                    "kind": "document",
                    "ref": "1013859600285441",
                    "content_type": "application/pdf",
                    "filename": "invoice-4411.pdf",
                },
            ),
        )
    ],
    "message__audio": [
        InboundMessage(
            platform_message_id=wamid("MzNBQUE4Nzg1NkRGMTE4RDlBRAA"),
            contact=SHEENA,
            text="",
            sent_at=at(1749416520),
            thread_key="wa:16505551234",
            attachments=(
                {
                    "kind": "voice",
                    "ref": "1003383421387256",
                    "content_type": "audio/ogg; codecs=opus",
                },
            ),
        )
    ],
    "message__video": [
        InboundMessage(
            platform_message_id=wamid("NUUxQkI1RTc3NjhCMTdBQzRBMwA"),
            contact=SHEENA,
            text="",
            sent_at=at(1749416580),
            thread_key="wa:16505551234",
            attachments=(
                {
                    "kind": "video",
                    "ref": "1166846181421424",
                    "content_type": "video/mp4",
                },
            ),
        )
    ],
    "message__sticker": [
        InboundMessage(
            platform_message_id=wamid("OEI5RDJCMjBEMEE4Q0RERTE3OAA"),
            contact=SHEENA,
            text="",
            sent_at=at(1749416640),
            thread_key="wa:16505551234",
            attachments=(
                {
                    "kind": "sticker",
                    "ref": "1384211609441436",
                    "content_type": "image/webp",
                },
            ),
        )
    ],
    "message__location": [
        InboundMessage(
            platform_message_id=wamid("RDFDOTdCNzgzQkUxNUM3RTY4RQA"),
            contact=SHEENA,
            text="",
            sent_at=at(1749416700),
            thread_key="wa:16505551234",
            attachments=(
                {
                    "kind": "location",
                    "latitude": 37.483307,
                    "longitude": -122.148018,
                    "name": "Meta Headquarters",
                    "address": "1 Hacker Way, Menlo Park, CA 94025",
                },
            ),
        )
    ],
    "message__reply": [
        InboundMessage(
            platform_message_id=wamid("NjVDNTQxMDJGNjhFMjI1OUQ0QwA"),
            contact=SHEENA,
            text="Yes, the blue one please",
            sent_at=at(1749416760),
            thread_key="wa:16505551234",
            reply_to_platform_message_id=REPLIED_WAMID,
        )
    ],
    "status__sent": [DeliveryStatus(OUR_WAMID, "sent", at(1750857384))],
    "status__delivered": [DeliveryStatus(OUR_WAMID, "delivered", at(1750857386))],
    "status__read": [DeliveryStatus(OUR_WAMID, "read", at(1750857410))],
    "status__failed": [
        DeliveryStatus(
            OUR_WAMID,
            "failed",
            at(1750857390),
            error="131047: Re-engagement message — Message failed to send because "
            "more than 24 hours have passed since the customer last replied to this "
            f"number. {WINDOW_CLOSED}",
        )
    ],
    "status__failed_undeliverable": [
        DeliveryStatus(
            OUR_WAMID,
            "failed",
            at(1750857395),
            error="131026: Message undeliverable — Unable to deliver message. "
            "Reasons can include: The recipient phone number is not a WhatsApp "
            f"phone number. {UNDELIVERABLE}",
        )
    ],
    "body__multi_entry": [
        InboundMessage(
            platform_message_id=wamid("QkNEOUVGMEE5OTM2RTQ0NzJBMQA"),
            contact=SHEENA,
            text="Hello?",
            sent_at=at(1749417000),
            thread_key="wa:16505551234",
        ),
        InboundMessage(
            platform_message_id=wamid("NDE5QjM0NjE2QjU0NTdEOEYyMwA"),
            contact=InboundContact(external_id="16315551181", name="Kerry Fisher"),
            text="Is the shop open on Sunday?",
            sent_at=at(1749417002),
            thread_key="wa:16315551181",
        ),
        DeliveryStatus(OUR_WAMID, "delivered", at(1749417001)),
    ],
    "body__other_number": [],
    "body__errors": [],
}

IGNORED = {
    "body__other_number": ("event for another phone number (106540352240000)",),
    "body__errors": (
        "WhatsApp reported an error: 130429: Rate limit hit — Message failed to "
        "send because there were too many messages sent from this phone number in "
        "a short period of time",
    ),
}


# The message kinds' fixtures and expectations (forwarded, reactions,
# unsupported kinds, ...) live with their tests.
PARSE_CASES |= KIND_CASES


def test_every_whatsapp_fixture_has_a_parse_case():
    assert fixture_names("whatsapp") == set(PARSE_CASES) | {
        "malformed__message_without_id"
    }


@pytest.mark.parametrize("name", sorted(PARSE_CASES))
def test_whatsapp_fixture_parses_to_the_expected_items(name):
    channel = WhatsAppChannelFactory.build()

    parsed = get_platform("whatsapp").parse(channel, fixture_bytes("whatsapp", name))

    assert list(parsed.items) == PARSE_CASES[name]
    assert parsed.ignored == IGNORED.get(name, ())


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("message__text", f"msg:{wamid('QTRBNjU5OUFFRTAzODEwMTQ0RgA')}"),
        ("message__reaction", f"msg:{wamid('QTZCN0NFNkQ3RjJGOEE0RDVBRgA')}"),
        ("status__read", f"status:{OUR_WAMID}:read"),
        (
            "body__multi_entry",
            ",".join(
                sorted(
                    [
                        f"msg:{wamid('QkNEOUVGMEE5OTM2RTQ0NzJBMQA')}",
                        f"msg:{wamid('NDE5QjM0NjE2QjU0NTdEOEYyMwA')}",
                        f"status:{OUR_WAMID}:delivered",
                    ]
                )
            ),
        ),
    ],
)
def test_event_key_names_what_the_body_carries(name, key):
    channel = WhatsAppChannelFactory.build()

    parsed = get_platform("whatsapp").parse(channel, fixture_bytes("whatsapp", name))

    assert parsed.event_key == key


def test_the_same_items_in_another_order_have_the_same_event_key():
    channel = WhatsAppChannelFactory.build()
    body = json.loads(fixture_bytes("whatsapp", "body__multi_entry"))
    reordered = {**body, "entry": list(reversed(body["entry"]))}

    keys = {
        get_platform("whatsapp").parse(channel, json.dumps(data).encode()).event_key
        for data in (body, reordered)
    }

    assert len(keys) == 1


def test_malformed_fixture_names_the_missing_path():
    with pytest.raises(MalformedPayload, match=r"messages\[0\]\.id: missing"):
        get_platform("whatsapp").parse(
            WhatsAppChannelFactory.build(),
            fixture_bytes("whatsapp", "malformed__message_without_id"),
        )


# -------------------------------------------------------------------- statuses


def sent_message(channel, status: str = "sent") -> Message:
    """An agent's reply PingBack sent as OUR_WAMID to the fixtures' customer."""
    conversation = ConversationFactory(
        business=channel.business,
        channel=channel,
        thread_key=f"wa:{CUSTOMER}",
        contact_identity__external_id=CUSTOMER,
    )
    return MessageFactory(
        conversation=conversation,
        direction="outbound",
        status=status,
        platform_message_id=OUR_WAMID,
        text="Yes, it comes in blue.",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "statuses", "final"),
    [
        ("in order", ["sent", "delivered", "read"], "read"),
        ("read then delivered", ["read", "delivered"], "read"),
        ("read then a late sent", ["read", "sent"], "read"),
        ("delivered then sent", ["delivered", "sent"], "delivered"),
    ],
)
def test_statuses_move_our_message_forward_and_never_back(
    client, django_capture_on_commit_callbacks, _case, statuses, final
):
    channel = WhatsAppChannelFactory()
    message = sent_message(channel)

    for status in statuses:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_signed(
                client, channel, fixture_bytes("whatsapp", f"status__{status}")
            )
        assert response.json() == {"status": "accepted"}

    message.refresh_from_db()
    assert message.status == final


@pytest.mark.django_db
def test_a_failed_status_shows_metas_reason_and_the_window_advice(
    client, django_capture_on_commit_callbacks
):
    channel = WhatsAppChannelFactory()
    message = sent_message(channel)

    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, channel, fixture_bytes("whatsapp", "status__failed"))

    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error == (
        "131047: Re-engagement message — Message failed to send because more than "
        "24 hours have passed since the customer last replied to this number. "
        f"{WINDOW_CLOSED}"
    )


# ---------------------------------------------------------- channel creation


def create(admin_api, config: dict):
    return admin_api.post(
        "/api/v1/channels/", {"type": "whatsapp", "config": config}, format="json"
    )


@pytest.mark.django_db
def test_create_answers_the_setup_instructions_in_clear_and_get_masks_them(
    admin_api, sandbox
):
    config = DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN)

    response = create(admin_api, config)

    assert response.status_code == 201, response.json()
    body = response.json()
    callback = f"http://127.0.0.1:8000/api/v1/webhooks/whatsapp/{body['id']}"
    assert body["webhook_url"] == callback
    assert body["config"] == {
        "phone_number_id": DEMO_NUMBER.phone_number_id,
        "display_phone_number": "+1 555-010-4477",
        "verified_name": "PingBack Demo",
        "access_token": "****0001",
        "verify_token": "****1234",
        "app_secret": "****0001",
        "_meta_setup_instructions": {
            "callback_url": callback,
            "verify_token": VERIFY_TOKEN,
        },
    }
    assert body["setup"]["state"] == "action_required"
    assert body["setup"]["message"] == (
        "Connected to PingBack Demo (+1 555-010-4477). In the Meta app dashboard, "
        f"open WhatsApp → Configuration, set the Callback URL to {callback} and the "
        "Verify token to the one you chose for this channel (both are in "
        "_meta_setup_instructions), click Verify and save, then subscribe to the "
        "messages webhook field."
    )
    shown = admin_api.get(f"/api/v1/channels/{body['id']}").json()
    assert shown["config"]["_meta_setup_instructions"] == {
        "callback_url": callback,
        "verify_token": "****1234",
    }
    assert VERIFY_TOKEN not in json.dumps(shown)
    channel = Channel.objects.get()
    assert channel.secrets["verify_token"] == VERIFY_TOKEN


@pytest.mark.django_db
def test_connecting_without_an_app_secret_is_400_naming_it(admin_api, sandbox):
    config = DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN)
    del config["app_secret"]

    response = create(admin_api, config)

    assert response.status_code == 400
    assert response.json() == {"config": {"app_secret": ["This field is required."]}}
    assert Channel.objects.count() == 0


@pytest.mark.django_db
def test_setup_of_a_channel_without_an_app_secret_says_webhooks_are_refused(
    admin_api, admin_member, sandbox
):
    """A channel stored before app_secret was required."""
    channel = sandbox_channel(business=admin_member.business)
    del channel.secrets["app_secret"]
    channel.save()

    body = admin_api.post(f"/api/v1/channels/{channel.id}/setup").json()

    assert body["setup"]["state"] == "action_required"
    assert body["setup"]["message"].startswith(
        "PingBack refuses every webhook for this channel (403) until you add "
        "app_secret: Meta app dashboard → App settings → Basic → App secret, then "
        'PATCH the channel with {"config": {"app_secret": "<the app secret>"}}. '
        "Connected to PingBack Demo"
    )
    instructions = body["config"]["_meta_setup_instructions"]
    assert instructions["app_secret_missing"].startswith(
        "PingBack refuses every webhook for this channel (403)"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "change", "field", "error"),
    [
        (
            "token Meta does not know",
            {"access_token": "EAAexpired"},
            "access_token",
            "Invalid OAuth access token - Cannot parse access token",
        ),
        (
            "number the token cannot see",
            {"access_token": "EAAOtherAppToken000"},
            "phone_number_id",
            "Unsupported get request. Object with ID '104412345678901' does not "
            "exist, cannot be loaded due to missing permissions, or does not "
            "support this operation.",
        ),
    ],
)
def test_credentials_meta_refuses_are_400_naming_the_field(
    admin_api, sandbox, _case, change, field, error
):
    requests.post(
        f"{sandbox.url}/_sandbox/whatsapp/numbers",
        json={
            "phone_number_id": "104400000000888",
            "access_token": "EAAOtherAppToken000",
            "app_secret": "other",
        },
        timeout=5,
    ).raise_for_status()
    config = {**DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN), **change}

    response = create(admin_api, config)

    assert response.status_code == 400
    assert response.json() == {"config": {field: [error]}}
    assert Channel.objects.count() == 0


@pytest.mark.django_db
def test_an_unreachable_graph_api_is_not_a_refusal(admin_api, settings):
    settings.GRAPH_API_BASE_URL = "http://127.0.0.1:9"

    response = create(admin_api, DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN))

    assert response.status_code == 201
    setup = response.json()["setup"]
    assert setup["state"] == "failed"
    assert setup["message"] == (
        "Could not check the number with the Graph API (Could not reach the Graph "
        "API: ConnectError). Run setup again once it is reachable."
    )


@pytest.mark.django_db
def test_admin_creates_the_channel_and_shows_the_values_to_paste(client, sandbox):
    from billing.tests.factories import BusinessFactory, UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    business = BusinessFactory(plan="mini")

    response = client.post(
        "/admin/channels_app/channel/add/",
        {
            "business": business.pk,
            "type": "whatsapp",
            **{
                f"whatsapp__{key}": value
                for key, value in DEMO_NUMBER.as_config(VERIFY_TOKEN).items()
            },
            "is_active": "on",
        },
        follow=True,
    )

    channel = Channel.objects.get()
    assert channel.config["verified_name"] == "PingBack Demo"
    page = response.content.decode()
    assert "setup action required. Connected to PingBack Demo" in page
    change = client.get(f"/admin/channels_app/channel/{channel.pk}/change/")
    # The admin sees the values to paste in Meta's dashboard in clear; the
    # access token and app secret stay hidden.
    assert f"/api/v1/webhooks/whatsapp/{channel.pk}" in change.content.decode()
    assert VERIFY_TOKEN in change.content.decode()
    for secret in ("access_token", "app_secret"):
        assert channel.secrets[secret] not in change.content.decode()


# ---------------------------------------------------------------------- sends


def customer_conversation(channel) -> Conversation:
    """A conversation where the customer wrote REPLIED_WAMID."""
    conversation = ConversationFactory(
        business=channel.business,
        channel=channel,
        thread_key=f"wa:{CUSTOMER}",
        contact_identity__external_id=CUSTOMER,
    )
    MessageFactory(conversation=conversation, platform_message_id=REPLIED_WAMID)
    return conversation


def customer_wrote(sandbox, hours_ago: float) -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/whatsapp/customer/window",
        json={"wa_id": CUSTOMER, "hours_ago": hours_ago},
        timeout=5,
    ).raise_for_status()


def reply(admin_api, conversation, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            f"/api/v1/conversations/{conversation.pk}/messages",
            body,
            format="multipart" if "files" in body else "json",
        )
    assert response.status_code == 202, response.json()
    return Message.objects.get(pk=response.json()["id"])


@pytest.mark.django_db
def test_a_reply_inside_the_window_is_sent_as_text_quoting_the_customer(
    admin_api, business, sandbox, django_capture_on_commit_callbacks
):
    conversation = customer_conversation(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=2)

    message = reply(
        admin_api,
        conversation,
        django_capture_on_commit_callbacks,
        text="Yes, it comes in blue.",
    )

    [send] = sandbox.whatsapp.snapshot()["sends"]
    assert send["payload"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"preview_url": False, "body": "Yes, it comes in blue."},
        "context": {"message_id": REPLIED_WAMID},
    }
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.platform_message_id == send["wamid"]


@pytest.mark.django_db
def test_outside_the_window_the_reply_fails_and_a_template_goes_out(
    admin_api, business, sandbox, django_capture_on_commit_callbacks
):
    conversation = customer_conversation(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=25)

    late = reply(
        admin_api, conversation, django_capture_on_commit_callbacks, text="Still there?"
    )
    template = reply(
        admin_api,
        conversation,
        django_capture_on_commit_callbacks,
        template={"name": "order_update", "language": "en_US", "parameters": ["4411"]},
    )

    late.refresh_from_db()
    assert late.status == "failed"
    assert late.error == (
        "(#131047) Re-engagement message: Message failed to send because more than "
        "24 hours have passed since the customer last replied to this number. "
        f"{WINDOW_CLOSED}"
    )
    [send] = sandbox.whatsapp.snapshot()["sends"]
    assert send["payload"]["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "4411"}]}
        ],
    }
    template.refresh_from_db()
    assert (template.status, template.platform_message_id) == ("sent", send["wamid"])
    assert template.text == "Template order_update (en_US): 4411"


@pytest.mark.django_db
def test_files_are_uploaded_then_sent_by_id_with_the_text_as_caption(
    admin_api, business, sandbox, django_capture_on_commit_callbacks
):
    conversation = customer_conversation(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=1)
    png, gif = b"\x89PNG label bytes", b"GIF89a animation"

    message = reply(
        admin_api,
        conversation,
        django_capture_on_commit_callbacks,
        text="Here is your return label.",
        files=[
            SimpleUploadedFile("label.png", png, content_type="image/png"),
            SimpleUploadedFile("how-to.gif", gif, content_type="image/gif"),
        ],
    )

    state = sandbox.whatsapp.snapshot()
    uploads = {m["id"]: m for m in state["media"]}
    image, document = (send["payload"] for send in state["sends"])
    assert image["type"] == "image"
    assert image["image"]["caption"] == "Here is your return label."
    assert image["context"] == {"message_id": REPLIED_WAMID}
    assert uploads[image["image"]["id"]]["sha256"] == hashlib.sha256(png).hexdigest()
    assert document["type"] == "document"
    assert document["document"]["filename"] == "how-to.gif"
    assert "context" not in document
    assert uploads[document["document"]["id"]]["mime_type"] == "image/gif"
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.platform_message_id == state["sends"][0]["wamid"]


@pytest.mark.django_db
def test_a_rate_limit_is_retried_and_the_next_try_goes_through(business, sandbox):
    conversation = customer_conversation(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=1)
    requests.post(
        f"{sandbox.url}/_sandbox/whatsapp/mode", json={"rate_limit_next": 1}, timeout=5
    )
    message = MessageFactory(
        conversation=conversation, direction="outbound", status="queued", text="Hi"
    )

    first = message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert first.status == "retry"
    assert message.status == "queued"
    assert message.error == (
        "(#130429) Rate limit hit: Cloud API message throughput has been reached."
    )
    # Throughput is the business account's: the whole channel waits.
    channel = Channel.objects.get(pk=conversation.channel_id)
    assert channel.paused_until > timezone.now()
    Channel.objects.filter(pk=channel.pk).update(paused_until=timezone.now())

    assert message_deliver(message_id=message.pk).status == "sent"


@pytest.mark.django_db
def test_a_refused_token_fails_the_reply_and_alerts_the_admins(business, sandbox):
    channel = sandbox_channel(business=business)
    channel.secrets = {**channel.secrets, "access_token": "EAArevoked"}
    channel.save()
    conversation = customer_conversation(channel)
    message = MessageFactory(
        conversation=conversation, direction="outbound", status="queued", text="Hi"
    )

    outcome = message_deliver(message_id=message.pk)

    assert outcome.status == "failed"
    channel.refresh_from_db()
    assert channel.alert == (
        "Meta refused the access token: Invalid OAuth access token - Cannot parse "
        "access token"
    )
    assert sandbox.whatsapp.snapshot()["sends"] == []


@pytest.mark.django_db
def test_text_over_whatsapps_limit_fails_without_calling_meta(business, sandbox):
    conversation = customer_conversation(sandbox_channel(business=business))
    message = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="queued",
        text="x" * 4097,
    )

    message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error == (
        "WhatsApp messages are limited to 4,096 characters; this one has 4,097."
    )
    assert sandbox.requests() == []


# ---------------------------------------------------------------------- media


@pytest.mark.django_db
def test_inbound_media_is_fetched_from_the_graph_api_and_stored(
    client, sandbox, django_capture_on_commit_callbacks
):
    channel = sandbox_channel()
    content = b"%PDF-1.4 the customer's invoice"
    sandbox.whatsapp.state.add_media(
        StoredMedia(
            media_id="1013859600285441",
            phone_number_id=DEMO_NUMBER.phone_number_id,
            content=content,
            mime_type="application/pdf",
            filename="invoice-4411.pdf",
            origin="customer",
        )
    )
    body = json.dumps(
        customer_message_payload(
            DEMO_NUMBER,
            CustomerMessage(
                type="document",
                customer=Customer(wa_id=CUSTOMER, name="Sheena Nelson"),
                text="Invoice attached",
                media_id="1013859600285441",
                mime_type="application/pdf",
                filename="invoice-4411.pdf",
            ),
        )
    ).encode()

    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, channel, body)

    [attachment] = Message.objects.get().attachments
    assert attachment["kind"] == "document"
    assert attachment["filename"] == "invoice-4411.pdf"
    assert attachment["size"] == len(content)
    with default_storage.open(attachment["stored"]) as stored:
        assert stored.read() == content


@pytest.mark.django_db
def test_media_the_graph_api_cannot_serve_is_recorded_as_a_fetch_error(
    client, sandbox, django_capture_on_commit_callbacks
):
    channel = WhatsAppChannelFactory()

    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, channel, fixture_bytes("whatsapp", "message__image"))

    [attachment] = Message.objects.get().attachments
    assert "stored" not in attachment
    assert attachment["fetch_error"] == "Graph API answered 404"


# ------------------------------------------------- inbound media: outbound policy

MEDIA_ID = "1013859600285442"
PDF = b"%PDF-1.4 fetched under the policy"


def graph_media_info(graph: RecordingServer, settings, url: str) -> None:
    """The Graph host answers `GET /{media_id}` with `url` to download."""
    settings.GRAPH_API_BASE_URL = graph.url
    info = {"url": url, "mime_type": "application/pdf", "file_size": len(PDF)}
    graph.answer(
        f"/{settings.GRAPH_API_VERSION}/{MEDIA_ID}",
        Answer(200, json.dumps(info).encode(), {"Content-Type": "application/json"}),
    )


@pytest.mark.django_db
def test_a_media_url_at_a_private_address_is_not_downloaded(settings):
    with (
        RecordingServer().running() as graph,
        RecordingServer().running() as loopback,
    ):
        settings.EGRESS_ALLOWED_HOSTS = [graph.netloc]
        graph_media_info(graph, settings, f"{loopback.url}/file")
        loopback.answer("/file", Answer(200, PDF))

        with pytest.raises(PermanentDeliveryError) as refused:
            get_platform("whatsapp").fetch_media(
                WhatsAppChannelFactory(), {"kind": "document", "ref": MEDIA_ID}
            )

        assert loopback.received == []
    assert refused.value.reason == (
        "The file was not downloaded: 127.0.0.1 is not a public address."
    )


@pytest.mark.django_db
def test_the_access_token_goes_to_the_graph_host_only_not_to_another_media_host(
    settings,
):
    with (
        RecordingServer().running() as graph,
        RecordingServer().running() as elsewhere,
    ):
        settings.EGRESS_ALLOWED_HOSTS = [graph.netloc, elsewhere.netloc]
        graph_media_info(graph, settings, f"{graph.url}/media/1")
        graph.answer(
            "/media/1", Answer(302, headers={"Location": f"{elsewhere.url}/f"})
        )
        elsewhere.answer("/f", Answer(200, PDF, {"Content-Type": "application/pdf"}))

        fetched = get_platform("whatsapp").fetch_media(
            WhatsAppChannelFactory(), {"kind": "document", "ref": MEDIA_ID}
        )

    assert fetched.content == PDF
    assert [(r.path, r.headers.get("authorization")) for r in graph.received] == [
        (f"/{settings.GRAPH_API_VERSION}/{MEDIA_ID}", "Bearer EAAG-example-token"),
        ("/media/1", "Bearer EAAG-example-token"),
    ]
    assert [r.headers.get("authorization") for r in elsewhere.received] == [None]

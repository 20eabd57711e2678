"""The X platform module: CRC, signatures, parsing of every event kind, dedupe.

Signatures are computed here with hmac/base64 directly, independently of the code
under test, and checked against the test vectors in docs/platforms/x.md, "CRC
challenge" and "Signature".
"""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from channels_app.models import InboundEvent
from channels_app.platforms import get_platform
from channels_app.platforms.base import InboundContact, InboundMessage, MalformedPayload
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import fixture_bytes, fixture_names
from conversations.models import Conversation, Message

ACCOUNT = "1500000000000000001"
CASEY = InboundContact(
    external_id="2200000000000000002",
    handle="casey_customer",
    name="Casey Customer",
    avatar_url="https://pbs.twimg.com/profile_images/casey_normal.png",
)


def independent_signature(secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def webhook_url(channel) -> str:
    return f"/api/v1/webhooks/x/{channel.id}"


def post_signed(client, channel, body: bytes, secret: str | None = None):
    signature = independent_signature(secret or channel.secrets["api_secret"], body)
    return client.post(
        webhook_url(channel),
        data=body,
        content_type="application/json",
        HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=signature,
    )


def test_independent_signature_matches_the_documented_vectors():
    """docs/platforms/x.md, "CRC challenge" and "Signature" test vectors, so the
    helper above is right."""
    secret = "consumer-secret-example"
    assert independent_signature(secret, b"challenge_string") == (
        "sha256=SsxOpSGLxgXJx6R1gmfbpaG1lSmax0jR508kjeBxSMY="
    )
    body = b'{"for_user_id":"2244994945","direct_message_events":[]}'
    assert independent_signature(secret, body) == (
        "sha256=tpoJmg3Kk0S8hU8HscRwptrpoI9Y5pj9kku2Z/F5KS0="
    )


@pytest.mark.django_db
def test_crc_answers_with_hmac_of_the_token_keyed_by_the_consumer_secret(client):
    channel = ChannelFactory(
        secrets={
            "api_key": "k",
            "access_token": "1-t",
            "api_secret": "consumer-secret-example",
        }
    )

    response = client.get(webhook_url(channel), {"crc_token": "challenge_string"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "response_token": "sha256=SsxOpSGLxgXJx6R1gmfbpaG1lSmax0jR508kjeBxSMY="
    }


@pytest.mark.django_db
def test_crc_without_a_consumer_secret_is_refused(client):
    channel = ChannelFactory(secrets={"api_key": "k", "access_token": "1-t"})

    response = client.get(webhook_url(channel), {"crc_token": "abc"})

    assert response.status_code == 403


@pytest.mark.django_db
def test_get_without_crc_token_is_not_a_handshake(client):
    channel = ChannelFactory()

    assert client.get(webhook_url(channel)).status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "headers"),
    [
        ("missing", {}),
        (
            "forged",
            {"HTTP_X_TWITTER_WEBHOOKS_SIGNATURE": "sha256=" + "A" * 43 + "="},
        ),
        ("signed with another secret", "other"),
    ],
)
def test_unsigned_or_forged_webhooks_get_403_and_store_nothing(client, _case, headers):
    channel = ChannelFactory()
    body = fixture_bytes("x", "dm__text")
    if headers == "other":
        headers = {
            "HTTP_X_TWITTER_WEBHOOKS_SIGNATURE": independent_signature("other", body)
        }

    response = client.post(
        webhook_url(channel), data=body, content_type="application/json", **headers
    )

    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_webhook_for_unknown_channel_is_404(client):
    response = client.post(
        "/api/v1/webhooks/x/7c9e6679-7425-40de-944b-e07fc1f90ae7",
        data=b"{}",
        content_type="application/json",
    )
    assert response.status_code == 404


@pytest.mark.django_db
def test_signed_dm_is_stored_then_becomes_a_conversation(
    client, django_capture_on_commit_callbacks
):
    channel = ChannelFactory()
    body = fixture_bytes("x", "dm__text")

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, channel, body)

    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    event = InboundEvent.objects.get()
    assert bytes(event.body) == body
    assert event.status == "processed"
    assert event.event_key == f"{ACCOUNT}:dm:1861000000000000101"
    conversation = Conversation.objects.get()
    assert conversation.channel_type == "x"
    assert conversation.thread_key == "dm:2200000000000000002"
    assert conversation.contact.name == "Casey Customer"
    assert conversation.contact_identity.handle == "casey_customer"
    message = conversation.messages.get()
    assert message.text == "Hi! My order #4411 never arrived."
    assert message.direction == "inbound"
    assert message.platform_message_id == "1861000000000000101"


@pytest.mark.django_db
def test_redelivered_event_adds_nothing(client, django_capture_on_commit_callbacks):
    channel = ChannelFactory()
    body = fixture_bytes("x", "dm__text")
    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, channel, body)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, channel, body)

    assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_same_dm_in_aaa_and_xaa_form_is_one_message(
    client, django_capture_on_commit_callbacks
):
    """The dedupe key is the inner DM id, whichever webhook product delivers it."""
    channel = ChannelFactory()
    aaa = json.loads(fixture_bytes("x", "xaa__dm_received"))["data"]["payload"]
    aaa = {
        "for_user_id": ACCOUNT,
        "direct_message_events": aaa["direct_message_events"],
    }
    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, channel, json.dumps(aaa).encode())
        response = post_signed(client, channel, fixture_bytes("x", "xaa__dm_received"))

    assert response.json() == {"status": "duplicate"}
    assert Message.objects.count() == 1


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
            "DM without sender",
            None,
            "direct_message_events[0].message_create.sender_id: missing",
        ),
        (
            "id of the wrong type",
            b'{"for_user_id": 15, "direct_message_events": []}',
            "for_user_id: expected a string, got an integer",
        ),
        ("no events", b'{"for_user_id": "1500000000000000001"}', "body: no events"),
    ],
)
def test_malformed_body_is_kept_with_its_error_and_answered_400(
    client, _case, body, error
):
    channel = ChannelFactory()
    body = body or fixture_bytes("x", "malformed__dm_without_sender")

    response = post_signed(client, channel, body)

    assert response.status_code == 400
    assert response.json() == {"detail": error}
    event = InboundEvent.objects.get()
    assert event.status == "malformed"
    assert event.error == error
    assert bytes(event.body) == body
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_events_of_an_inactive_channel_are_kept_but_not_processed(
    client, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, channel, fixture_bytes("x", "dm__text"))

    assert response.json() == {"status": "ignored"}
    assert InboundEvent.objects.get().status == "ignored"
    assert Message.objects.count() == 0


# ----------------------------------------------------------------- parsing, pure


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


PARSE_CASES = {
    "dm__text": [
        InboundMessage(
            platform_message_id="1861000000000000101",
            contact=CASEY,
            text="Hi! My order #4411 never arrived.",
            sent_at=ms(1763712000000),
            thread_key="dm:2200000000000000002",
            kind="dm",
        )
    ],
    "dm__media": [
        InboundMessage(
            platform_message_id="1861000000000000102",
            contact=CASEY,
            text="Here is the damaged box https://t.co/abc123",
            sent_at=ms(1763712060000),
            thread_key="dm:2200000000000000002",
            kind="dm",
            attachments=(
                {
                    "kind": "image",
                    "url": "https://ton.twitter.com/1.1/ton/data/dm/1861000000000000102/1861000000000009999/box.jpg",
                },
            ),
        )
    ],
    "dm__echo": [],
    "dm__typing": [],
    "mention__own_post": [],
    "mention__text": [
        InboundMessage(
            platform_message_id="1861000000000000201",
            contact=CASEY,
            text="@pingback_demo my parcel has been stuck in Leeds for a week",
            sent_at=ms(1763712000000),
            thread_key="tweet:1861000000000000201",
            kind="mention",
        )
    ],
    "mention__reply": [
        InboundMessage(
            platform_message_id="1861000000000000202",
            contact=InboundContact(
                external_id="2200000000000000002",
                handle="casey_customer",
                name="Casey Customer",
            ),
            text="@pingback_demo thanks, the tracking number is JD0144",
            sent_at=ms(1763712600000),
            thread_key="tweet:1861000000000000202",
            reply_to_platform_message_id="1861000000000000301",
            kind="mention",
        )
    ],
    "mention__extended": [
        InboundMessage(
            platform_message_id="1861000000000000203",
            contact=InboundContact(
                external_id="2200000000000000003",
                handle="robin_buyer",
                name="Robin Buyer",
            ),
            text=(
                "@pingback_demo I ordered the blue kettle three weeks ago and the "
                "tracking page still says label created, which is not what your site "
                "promised me at checkout. Can someone look into order 55120?"
            ),
            sent_at=ms(1763713200000),
            thread_key="tweet:1861000000000000203",
            kind="mention",
        )
    ],
    "xaa__dm_received": [
        InboundMessage(
            platform_message_id="1861000000000000104",
            contact=CASEY,
            text="Any update on my refund?",
            sent_at=ms(1763712240000),
            thread_key="dm:2200000000000000002",
            kind="dm",
        )
    ],
    "xaa__post_mention": [
        InboundMessage(
            platform_message_id="1861000000000000204",
            contact=InboundContact(
                external_id="2200000000000000004",
                handle="sam_shopper",
                name="Sam Shopper",
                avatar_url="https://pbs.twimg.com/profile_images/sam_normal.png",
            ),
            text="@pingback_demo is the Leeds depot open on Sunday?",
            sent_at=datetime(2025, 11, 21, 8, 30, tzinfo=UTC),
            thread_key="tweet:1861000000000000204",
            kind="mention",
        )
    ],
}

IGNORED = {
    "dm__echo": ("echo of the account's own DM 1861000000000000103",),
    "dm__typing": ("direct_message_indicate_typing_events not handled",),
    "mention__own_post": ("the account's own post 1861000000000000301",),
}


def test_every_x_fixture_has_a_parse_case():
    assert fixture_names("x") == set(PARSE_CASES) | {
        "malformed__dm_without_sender",
        # parsed in test_x_kinds.py
        "mention__without_timestamp_ms",
        "mention__photos",
        "mention__video",
        "mention__extended_gif",
        "mention__quote",
        "tweet_delete__customer",
        "user_event__revoke",
        "xaa__oauth_revoke",
        "xaa__post_mention_quote_photo",
    }


@pytest.mark.parametrize("name", sorted(PARSE_CASES))
def test_x_fixture_parses_to_the_expected_messages(name):
    channel = ChannelFactory.build()

    parsed = get_platform("x").parse(channel, fixture_bytes("x", name))

    assert list(parsed.items) == PARSE_CASES[name]
    assert parsed.ignored == IGNORED.get(name, ())


def test_events_for_another_account_are_ignored():
    channel = ChannelFactory.build(config={"account_id": "999"})

    parsed = get_platform("x").parse(channel, fixture_bytes("x", "dm__text"))

    assert parsed.items == ()
    assert parsed.ignored == (f"event for another account ({ACCOUNT})",)


def test_malformed_fixture_names_the_missing_path():
    with pytest.raises(MalformedPayload, match=r"message_create\.sender_id: missing"):
        get_platform("x").parse(
            ChannelFactory.build(), fixture_bytes("x", "malformed__dm_without_sender")
        )

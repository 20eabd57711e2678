"""Mail providers' inbound webhooks (Mailgun, Postmark) through anymail, with
each channel's own key: signed right → stored and processed like polled mail;
forged → 403 and nothing stored; unreadable → 400 and kept."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from channels_app.models import InboundEvent
from channels_app.services.mailbox import mailbox_poll
from channels_app.tests.email.conftest import eml
from channels_app.tests.platforms.fixtures import FIXTURES
from conversations.models import Conversation, Message
from pingback.tests.test_metrics import TOKEN, scrape, webhooks
from sandbox.platforms.mail.providers import mailgun_signed_fields

pytestmark = pytest.mark.django_db

MAILGUN_KEY = "key-mailgun-signing-0a1b2c3d"
POSTMARK_AUTH = "pingback:postmark-webhook-pass-77"


def provider_fixture(name: str) -> dict:
    return json.loads((FIXTURES / "email" / f"{name}.json").read_text())


def mailgun_signature(key: str, timestamp: str, token: str) -> str:
    return hmac.new(
        key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()


def mailgun_fields(key: str = MAILGUN_KEY, timestamp: int | None = None) -> dict:
    """The fixture's form fields, signed now (or at `timestamp`) with `key`
    and a fresh token, as Mailgun signs each post (a token is taken once)."""
    return mailgun_signed_fields(
        key, provider_fixture("mailgun__inbound_mime"), timestamp=timestamp
    )


def basic_auth(credentials: str) -> dict:
    return {
        "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()
    }


@pytest.fixture
def mailgun_channel(email_channel):
    return email_channel(inbound_provider="mailgun", inbound_webhook_key=MAILGUN_KEY)


@pytest.fixture
def postmark_channel(email_channel):
    return email_channel(inbound_provider="postmark", inbound_webhook_key=POSTMARK_AUTH)


def mailgun_url(channel) -> str:
    return f"/api/v1/webhooks/email/{channel.id}/mailgun/inbound/mime"


def postmark_url(channel) -> str:
    return f"/api/v1/webhooks/email/{channel.id}/postmark/inbound"


def test_independent_signature_matches_the_documented_vector():
    """docs/platforms/email.md, "Provider inbound webhooks" (Mailgun test
    vector), so the helper above is right."""
    assert mailgun_signature("signing-key-example", "1700000000", "abc123") == (
        "a8702087286f6c1a4ddd21c681190f557ed1e8cd701ad774d5e0b2a6219dec5e"
    )


def test_the_channel_shows_the_url_to_give_mailgun(mailgun_channel, settings):
    from channels_app.platforms import get_platform

    settings.PINGBACK_PUBLIC_BASE_URL = "https://inbox.acme.test"

    assert get_platform("email").webhook_url(mailgun_channel) == (
        f"https://inbox.acme.test{mailgun_url(mailgun_channel)}"
    )


def test_a_signed_mailgun_post_becomes_a_conversation(
    client, mailgun_channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(mailgun_url(mailgun_channel), data=mailgun_fields())

    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    event = InboundEvent.objects.get()
    assert (event.event_key, event.status, event.content_type) == (
        "caf7q1-order-4411@mail.customer.test",
        "processed",
        "message/rfc822",
    )
    conversation = Conversation.objects.get()
    assert conversation.subject == "My order #4411 never arrived"
    assert conversation.messages.get().text.startswith("Hello,\n\nI ordered a kettle")


def test_a_redelivered_mailgun_post_is_a_duplicate(
    client, mailgun_channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(mailgun_url(mailgun_channel), data=mailgun_fields())
        response = client.post(mailgun_url(mailgun_channel), data=mailgun_fields())

    assert response.json() == {"status": "duplicate"}
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("_case", "fields"),
    [
        ("forged", lambda: {**mailgun_fields(), "signature": "0" * 64}),
        ("another key", lambda: mailgun_fields(key="key-someone-else")),
        ("stale", lambda: mailgun_fields(timestamp=int(time.time()) - 3600)),
        (
            "unsigned",
            lambda: {
                k: v
                for k, v in mailgun_fields().items()
                if k not in ("signature", "timestamp", "token")
            },
        ),
    ],
)
def test_a_mailgun_post_not_signed_with_the_channels_key_is_403_and_not_stored(
    client, mailgun_channel, _case, fields
):
    response = client.post(mailgun_url(mailgun_channel), data=fields())

    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0


def test_mailguns_parsed_fields_are_reassembled_into_a_message(
    client, mailgun_channel, django_capture_on_commit_callbacks
):
    signed = mailgun_fields()
    fields = {
        "timestamp": signed["timestamp"],
        "token": signed["token"],
        "signature": signed["signature"],
        "recipient": "support@acme.test",
        "sender": "sam@customer.test",
        "from": "Sam Shopper <sam@customer.test>",
        "subject": "Gift wrap?",
        "body-plain": "Can you gift wrap order 55120?",
        "message-headers": json.dumps(
            [
                ["From", "Sam Shopper <sam@customer.test>"],
                ["To", "support@acme.test"],
                ["Subject", "Gift wrap?"],
                ["Date", "Fri, 21 Nov 2025 16:00:00 +0000"],
                ["Message-Id", "<giftwrap-1@mail.customer.test>"],
            ]
        ),
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/webhooks/email/{mailgun_channel.id}/mailgun/inbound",
            data=fields,
        )

    assert response.json() == {"status": "accepted"}
    message = Message.objects.get()
    assert message.platform_message_id == "giftwrap-1@mail.customer.test"
    assert message.text == "Can you gift wrap order 55120?"
    assert message.conversation.contact.name == "Sam Shopper"


def test_a_postmark_post_with_the_channels_basic_auth_becomes_a_conversation(
    client, postmark_channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            postmark_url(postmark_channel),
            data=json.dumps(provider_fixture("postmark__inbound")),
            content_type="application/json",
            **basic_auth(POSTMARK_AUTH),
        )

    assert response.status_code == 200, response.content
    message = Message.objects.get()
    assert message.platform_message_id == "refund-7@mail.customer.test"
    assert message.conversation.subject == "Where is my refund?"
    assert message.conversation.contact_identity.external_id == "robin@customer.test"
    assert message.text == (
        "Hi, I returned the kettle on 3 November. Where is my refund?\n\nRobin"
    )
    assert message.html == (
        "<p>Hi, I returned the kettle on 3 November. Where is my <b>refund</b>?</p>"
        "<p>Robin</p>"
    )
    [label] = message.attachments
    assert (label["filename"], label["size"]) == ("return-label.txt", 19)
    assert label["stored"]


@pytest.mark.parametrize(
    ("_case", "headers"),
    [
        ("missing", {}),
        ("wrong password", basic_auth("pingback:guess")),
    ],
)
def test_a_postmark_post_without_the_channels_basic_auth_is_403(
    client, postmark_channel, _case, headers
):
    response = client.post(
        postmark_url(postmark_channel),
        data=json.dumps(provider_fixture("postmark__inbound")),
        content_type="application/json",
        **headers,
    )

    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0


def test_an_unreadable_payload_is_kept_and_answered_400(client, postmark_channel):
    response = client.post(
        postmark_url(postmark_channel),
        data=b"{not json",
        content_type="application/json",
        **basic_auth(POSTMARK_AUTH),
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "not a postmark inbound payload: JSONDecodeError"
    )
    event = InboundEvent.objects.get()
    assert (event.status, bytes(event.body)) == ("malformed", b"{not json")


def test_a_raw_body_that_is_not_a_message_is_kept_and_answered_400(
    client, mailgun_channel
):
    fields = {**mailgun_fields(), "body-mime": "hello, no headers here"}

    response = client.post(mailgun_url(mailgun_channel), data=fields)

    assert response.status_code == 400
    assert response.json() == {
        "detail": "From: missing (the body is not an e-mail message)"
    }
    assert InboundEvent.objects.get().status == "malformed"


def test_a_post_larger_than_django_accepts_is_413(client, mailgun_channel, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = client.post(mailgun_url(mailgun_channel), data=mailgun_fields())

    assert response.status_code == 413
    assert InboundEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("_case", "path"),
    [
        ("provider the channel does not use", "postmark/inbound"),
        ("unknown provider", "sendmail/inbound"),
        ("no provider", "none/inbound"),
    ],
)
def test_other_providers_get_404(client, mailgun_channel, _case, path):
    response = client.post(
        f"/api/v1/webhooks/email/{mailgun_channel.id}/{path}", data=mailgun_fields()
    )

    assert response.status_code == 404


def test_the_same_mail_by_imap_and_by_webhook_is_one_message(
    client, mailbox, email_channel, django_capture_on_commit_callbacks
):
    channel = email_channel(
        imap=mailbox, inbound_provider="mailgun", inbound_webhook_key=MAILGUN_KEY
    )
    mailbox.deliver(eml("message__plain"))
    with django_capture_on_commit_callbacks(execute=True):
        polled = mailbox_poll(channel_id=channel.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(mailgun_url(channel), data=mailgun_fields())

    assert polled.accepted == 1
    assert response.json() == {"status": "duplicate"}
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_postmark_posts_are_counted_in_the_webhook_metrics(
    client, postmark_channel, settings
):
    settings.PINGBACK_METRICS_TOKEN = TOKEN
    before = scrape(client)

    def post(data: bytes, **headers):
        return client.post(
            postmark_url(postmark_channel),
            data=data,
            content_type="application/json",
            **headers,
        )

    mail = json.dumps(provider_fixture("postmark__inbound")).encode()
    assert post(mail, **basic_auth(POSTMARK_AUTH)).status_code == 200
    assert post(mail, **basic_auth(POSTMARK_AUTH)).json() == {"status": "duplicate"}
    assert post(mail, **basic_auth("pingback:guess")).status_code == 403
    assert post(b"{not json", **basic_auth(POSTMARK_AUTH)).status_code == 400

    after = scrape(client)
    assert {
        outcome: webhooks(after, outcome, "email") - webhooks(before, outcome, "email")
        for outcome in ("accepted", "duplicate", "forged", "malformed", "too_large")
    } == {"accepted": 1, "duplicate": 1, "forged": 1, "malformed": 1, "too_large": 0}

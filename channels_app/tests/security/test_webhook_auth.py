"""Every webhook PingBack receives is authenticated, or refused with 403 and
nothing stored.

The matrix runs every channel type that receives webhooks (X, Telegram,
WhatsApp, Instagram, SMS/Twilio, e-mail via Mailgun, e-mail via Postmark)
through the same cases. Deliveries are signed as each platform signs them,
with the sandbox's signers (`sandbox.platforms.x.payloads.sign`,
`sandbox.platforms.meta.sign`, `sandbox.platforms.sms.payloads.sign`,
`sandbox.platforms.mail.providers`), and posted to the real webhook views.

What "a changed byte" changes is what the platform authenticates: the body
for X, Meta and Twilio, which sign it; for Telegram and Postmark, whose
authentication is a shared secret sent as it is (a header, basic auth), a byte
of that secret; for Mailgun, which signs `timestamp + token` only, a byte of
the token. Mailgun's signature does not cover the message: its timestamp
window and PingBack's memory of each token are what keep a captured signature
from carrying another body.

A replayed delivery: Mailgun's signature is timestamped, and PingBack takes
each token once, so a copy is refused (403), with the same body or another.
The others (Meta, Telegram, Twilio, X, Postmark) sign without a timestamp:
a copy of a delivery is authentic, and is stored once under its dedupe key.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.db import OperationalError

from billing.tests.factories import BusinessFactory
from channels_app import email_webhooks
from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import FIXTURES, fixture_bytes
from conversations.models import Message
from pingback.testing import wait_for
from sandbox.platforms import meta as meta_signer
from sandbox.platforms.instagram.payloads import DEMO_ACCOUNT as INSTAGRAM_ACCOUNT
from sandbox.platforms.mail.providers import (
    mailgun_signed_fields,
    mailgun_token,
    postmark_authorization,
)
from sandbox.platforms.sms import payloads as sms_twilio
from sandbox.platforms.telegram.standin import DEMO_BOT
from sandbox.platforms.x import payloads as x_signer
from sandbox.platforms.x.payloads import DEMO_APP

WHATSAPP_NUMBER_ID = "106540352242922"  # the whatsapp fixtures' number


def header(name: str) -> str:
    """The WSGI name of an HTTP header, as the Django test client takes it."""
    return "HTTP_" + name.upper().replace("-", "_")


def one_byte_changed(value: bytes, old: bytes, new: bytes) -> bytes:
    """`value` with `old` replaced by `new`, which differ in one byte."""
    assert len(old) == len(new)
    assert sum(a != b for a, b in zip(old, new, strict=True)) == 1
    assert value.count(old) == 1, (old, value)
    return value.replace(old, new)


@dataclass(frozen=True)
class Delivery:
    """One webhook POST: the path, raw body, content type and headers."""

    path: str
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def post(self, client):
        return client.post(
            self.path, data=self.body, content_type=self.content_type, **self.headers
        )


@dataclass(frozen=True)
class Kind:
    """A channel type that receives webhooks, and how its platform signs.

    `make(business, secret)` creates a channel whose webhook secret is
    `secret`; `sign(channel, secret)` builds the platform's delivery to
    `channel`, authenticated with `secret`; `unsigned` and `truncated` drop or
    cut its authentication; `changed` changes one byte of what is
    authenticated (see the module docstring); `other_body` is another
    message's delivery with the same authentication (Mailgun only).
    """

    name: str
    make: Callable[..., Channel]
    sign: Callable[[Channel, str], Delivery]
    unsigned: Callable[[Delivery], Delivery]
    truncated: Callable[[Delivery], Delivery]
    changed: Callable[[Delivery], Delivery]
    text: str
    timestamped: bool = False
    other_body: Callable[[Delivery], Delivery] | None = None


def webhook_path(channel: Channel) -> str:
    url = get_platform(channel.type).webhook_url(channel)
    return url.removeprefix(settings.PINGBACK_PUBLIC_BASE_URL)


# ---------------------------------------------------------------- header kinds


def header_kind(
    name: str,
    make: Callable[..., Channel],
    body: Callable[[], bytes],
    auth_header: str,
    auth_value: Callable[[Channel, str, bytes], str],
    changed: Callable[[Delivery], Delivery],
    text: str,
    content_type: str = "application/json",
) -> Kind:
    """A platform that authenticates with one request header."""
    key = header(auth_header)

    def sign(channel: Channel, secret: str) -> Delivery:
        raw = body()
        return Delivery(
            webhook_path(channel),
            raw,
            content_type,
            {key: auth_value(channel, secret, raw)},
        )

    def unsigned(delivery: Delivery) -> Delivery:
        return replace(delivery, headers={})

    def truncated(delivery: Delivery) -> Delivery:
        value = delivery.headers[key]
        return replace(delivery, headers={key: value[: len(value) // 2]})

    return Kind(name, make, sign, unsigned, truncated, changed, text)


def changed_body(old: bytes, new: bytes) -> Callable[[Delivery], Delivery]:
    def change(delivery: Delivery) -> Delivery:
        return replace(delivery, body=one_byte_changed(delivery.body, old, new))

    return change


def changed_header(auth_header: str) -> Callable[[Delivery], Delivery]:
    key = header(auth_header)

    def change(delivery: Delivery) -> Delivery:
        value = delivery.headers[key]
        last = "A" if value[-1] != "A" else "B"
        return replace(delivery, headers={key: value[:-1] + last})

    return change


# X: consumer secret, HMAC-SHA256 of the body, base64.
def make_x(business, secret: str) -> Channel:
    return ChannelFactory(
        business=business, secrets={**DEMO_APP.as_config(), "api_secret": secret}
    )


X = header_kind(
    "x",
    make_x,
    lambda: fixture_bytes("x", "dm__text"),
    x_signer.SIGNATURE_HEADER,
    lambda channel, secret, body: x_signer.sign(body, secret),
    changed_body(b"#4411", b"#4412"),
    "Hi! My order #4411 never arrived.",
)


# Telegram: the secret token given to setWebhook, sent as a header.
def make_telegram(business, secret: str) -> Channel:
    return ChannelFactory(
        business=business,
        type="telegram",
        secrets={"bot_token": DEMO_BOT.token, "webhook_secret": secret},
        config={"bot_id": "7000000001", "bot_username": DEMO_BOT.username},
    )


TELEGRAM_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TELEGRAM = header_kind(
    "telegram",
    make_telegram,
    lambda: fixture_bytes("telegram", "message__text"),
    TELEGRAM_HEADER,
    lambda channel, secret, body: secret,
    changed_header(TELEGRAM_HEADER),
    "Hi! My order #4411 never arrived.",
)


# WhatsApp and Instagram: the Meta app secret, X-Hub-Signature-256 of the body.
def make_whatsapp(business, secret: str | None) -> Channel:
    secrets = {"access_token": "EAAG-example-token", "verify_token": "verify-1234"}
    if secret is not None:
        secrets["app_secret"] = secret
    return ChannelFactory(
        business=business,
        type="whatsapp",
        secrets=secrets,
        config={"phone_number_id": WHATSAPP_NUMBER_ID},
        setup_state="action_required",
    )


def make_instagram(business, secret: str | None) -> Channel:
    secrets = {"access_token": INSTAGRAM_ACCOUNT.access_token, "verify_token": "v"}
    if secret is not None:
        secrets["app_secret"] = secret
    return ChannelFactory(
        business=business,
        type="instagram",
        secrets=secrets,
        config={
            "page_id": INSTAGRAM_ACCOUNT.page_id,
            "instagram_account_id": INSTAGRAM_ACCOUNT.instagram_id,
            "instagram_username": INSTAGRAM_ACCOUNT.username,
            "page_name": INSTAGRAM_ACCOUNT.page_name,
        },
        setup_state="action_required",
    )


META_HEADER = "X-Hub-Signature-256"


def meta_signature(channel: Channel, secret: str, body: bytes) -> str:
    return meta_signer.sign(secret, body)


WHATSAPP = header_kind(
    "whatsapp",
    make_whatsapp,
    lambda: fixture_bytes("whatsapp", "message__text"),
    META_HEADER,
    meta_signature,
    changed_body(b"color?", b"color!"),
    "Does it come in another color?",
)
INSTAGRAM = header_kind(
    "instagram",
    make_instagram,
    lambda: fixture_bytes("instagram", "message__text"),
    META_HEADER,
    meta_signature,
    changed_body(b"kettle", b"kettlE"),
    "Hi! Is the blue kettle back in stock?",
)


# SMS: the Twilio auth token, HMAC-SHA1 of the URL and the form fields.
def make_sms(business, secret: str) -> Channel:
    return ChannelFactory(
        business=business,
        type="sms",
        secrets={"auth_token": secret},
        config={
            "account_sid": sms_twilio.DEMO_ACCOUNT.sid,
            "phone_number": sms_twilio.DEMO_NUMBER,
        },
    )


SMS_FORM = json.loads(fixture_bytes("sms", "message__sms"))
SMS = header_kind(
    "sms",
    make_sms,
    lambda: urlencode(SMS_FORM).encode(),
    sms_twilio.SIGNATURE_HEADER,
    lambda channel, secret, body: sms_twilio.sign(
        secret, get_platform("sms").webhook_url(channel), SMS_FORM
    ),
    changed_body(b"%234411", b"%234412"),
    "Hi, my order #4411 never arrived. Can you check?",
    content_type="application/x-www-form-urlencoded",
)


# ------------------------------------------------------------------ e-mail kinds


def make_email(provider: str) -> Callable[..., Channel]:
    def make(business, secret: str) -> Channel:
        return ChannelFactory(
            business=business,
            type="email",
            config={
                "address": "support@acme.test",
                "from_name": "Acme Support",
                "smtp_host": "smtp.acme.test",
                "smtp_port": 587,
                "smtp_username": "support@acme.test",
                "smtp_security": "starttls",
                "imap_port": 993,
                "imap_security": "ssl",
                "imap_folder": "INBOX",
                "inbound_provider": provider,
            },
            secrets={"smtp_password": "smtp-secret", "inbound_webhook_key": secret},
        )

    return make


MAILGUN_FIELDS = json.loads(
    (FIXTURES / "email" / "mailgun__inbound_mime.json").read_text()
)
MAILGUN_SIGNED = ("timestamp", "token", "signature")
FORM = "application/x-www-form-urlencoded"


def mailgun_form(delivery: Delivery) -> dict[str, str]:
    return dict(parse_qsl(delivery.body.decode(), keep_blank_values=True))


def mailgun_sign(channel: Channel, secret: str) -> Delivery:
    fields = mailgun_signed_fields(secret, MAILGUN_FIELDS)
    return Delivery(webhook_path(channel), urlencode(fields).encode(), FORM)


def mailgun_with(delivery: Delivery, **changes: str | None) -> Delivery:
    fields = {**mailgun_form(delivery), **changes}
    kept = {name: value for name, value in fields.items() if value is not None}
    return replace(delivery, body=urlencode(kept).encode())


def mailgun_changed_token(delivery: Delivery) -> Delivery:
    token = mailgun_form(delivery)["token"]
    last = "a" if token[-1] != "a" else "b"
    return mailgun_with(delivery, token=token[:-1] + last)


def mailgun_other_body(delivery: Delivery) -> Delivery:
    mime = mailgun_form(delivery)["body-mime"]
    other = mime.replace("order-4411@", "order-9999@").replace(
        "never arrived.\n", "was refunded twice.\n"
    )
    assert other != mime
    return mailgun_with(delivery, **{"body-mime": other})


MAILGUN = Kind(
    "email-mailgun",
    make_email("mailgun"),
    mailgun_sign,
    unsigned=lambda d: mailgun_with(d, **dict.fromkeys(MAILGUN_SIGNED)),
    truncated=lambda d: mailgun_with(d, signature=mailgun_form(d)["signature"][:32]),
    changed=mailgun_changed_token,
    text="Hello,\n\nI ordered a kettle two weeks ago (order #4411) and it never "
    "arrived.\nCan you check?\n\nCasey",
    timestamped=True,
    other_body=mailgun_other_body,
)


# Postmark: the webhook URL's user:password, sent as HTTP basic auth.
POSTMARK_BODY = json.dumps(
    json.loads((FIXTURES / "email" / "postmark__inbound.json").read_text())
).encode()
AUTHORIZATION = header("Authorization")


def postmark_sign(channel: Channel, secret: str) -> Delivery:
    return Delivery(
        webhook_path(channel),
        POSTMARK_BODY,
        "application/json",
        {AUTHORIZATION: postmark_authorization(secret)},
    )


def postmark_credentials(delivery: Delivery, change: Callable[[str], str]) -> Delivery:
    encoded = delivery.headers[AUTHORIZATION].removeprefix("Basic ")
    credentials = change(base64.b64decode(encoded).decode())
    return replace(
        delivery, headers={AUTHORIZATION: postmark_authorization(credentials)}
    )


POSTMARK = Kind(
    "email-postmark",
    make_email("postmark"),
    postmark_sign,
    unsigned=lambda d: replace(d, headers={}),
    truncated=lambda d: postmark_credentials(d, lambda c: c[: len(c) // 2]),
    changed=lambda d: postmark_credentials(
        d, lambda c: c[:-1] + ("A" if c[-1] != "A" else "B")
    ),
    text="Hi, I returned the kettle on 3 November. Where is my refund?\n\nRobin",
)

KINDS = [X, TELEGRAM, WHATSAPP, INSTAGRAM, SMS, MAILGUN, POSTMARK]
KIND_IDS = [kind.name for kind in KINDS]


def secret_of(kind: Kind, tenant: str) -> str:
    """Each tenant's channel has its own secret (a `user:password` pair for
    Postmark)."""
    value = f"{kind.name}-{tenant}-secret-0123456789abcdef"
    return f"pingback:{value}" if kind is POSTMARK else value


@dataclass(frozen=True)
class Tenants:
    channel: Channel
    secret: str
    other_secret: str


def two_tenants(kind: Kind) -> Tenants:
    """The channel under attack, and a second business's channel of the same
    type with its own secret."""
    secret, other_secret = secret_of(kind, "acme"), secret_of(kind, "globex")
    channel = kind.make(BusinessFactory(name="Acme"), secret)
    kind.make(BusinessFactory(name="Globex"), other_secret)
    return Tenants(channel, secret, other_secret)


REFUSED_CASES: dict[str, Callable[[Kind, Tenants], Delivery]] = {
    "no signature": lambda k, t: k.unsigned(k.sign(t.channel, t.secret)),
    "wrong secret": lambda k, t: k.sign(t.channel, "wrong-" + t.secret),
    "another tenant's secret": lambda k, t: k.sign(t.channel, t.other_secret),
    "changed byte": lambda k, t: k.changed(k.sign(t.channel, t.secret)),
    "truncated signature": lambda k, t: k.truncated(k.sign(t.channel, t.secret)),
}


# ------------------------------------------------------------------------ matrix


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_a_delivery_signed_with_the_channels_secret_is_stored_and_processed(
    client, kind, django_capture_on_commit_callbacks
):
    # given
    tenants = two_tenants(kind)
    delivery = kind.sign(tenants.channel, tenants.secret)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = delivery.post(client)

    # then
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert (event.channel_id, event.status) == (tenants.channel.id, "processed")
    message = Message.objects.get()
    assert message.conversation.channel_id == tenants.channel.id
    assert message.text == kind.text


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(REFUSED_CASES))
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_a_delivery_not_authenticated_by_the_channels_secret_is_403_and_not_stored(
    client, kind, case, django_capture_on_commit_callbacks
):
    # given
    tenants = two_tenants(kind)
    delivery = REFUSED_CASES[case](kind, tenants)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = delivery.post(client)

    # then
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid signature."}
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind", [kind for kind in KINDS if kind.timestamped], ids=lambda k: k.name
)
def test_a_replayed_timestamped_delivery_is_403_with_any_body(
    client, kind, django_capture_on_commit_callbacks
):
    # given: the platform delivered once, and someone kept a copy
    tenants = two_tenants(kind)
    delivery = kind.sign(tenants.channel, tenants.secret)
    with django_capture_on_commit_callbacks(execute=True):
        first = delivery.post(client)

    # when: the copy is posted again, as it was and carrying another message
    with django_capture_on_commit_callbacks(execute=True):
        same = delivery.post(client)
        other = kind.other_body(delivery).post(client)

    # then
    assert first.status_code == 200
    assert (same.status_code, other.status_code) == (403, 403)
    assert InboundEvent.objects.count() == 1
    assert Message.objects.get().text == kind.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind", [kind for kind in KINDS if not kind.timestamped], ids=lambda k: k.name
)
def test_a_replayed_untimestamped_delivery_is_stored_once(
    client, kind, django_capture_on_commit_callbacks
):
    """These platforms sign without a timestamp, so a copy is authentic: there
    is no replay window, and the dedupe key keeps it to one message."""
    # given
    tenants = two_tenants(kind)
    delivery = kind.sign(tenants.channel, tenants.secret)
    with django_capture_on_commit_callbacks(execute=True):
        first = delivery.post(client)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        again = delivery.post(client)

    # then
    assert (first.status_code, again.status_code) == (200, 200)
    assert InboundEvent.objects.count() == 1
    assert Message.objects.get().text == kind.text


# ------------------------------------------------------- Meta without a secret


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [WHATSAPP, INSTAGRAM], ids=lambda k: k.name)
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_a_meta_channel_without_an_app_secret_refuses_every_delivery(
    client, kind, signed, caplog, django_capture_on_commit_callbacks
):
    # given: a channel stored before app_secret was required
    channel = kind.make(BusinessFactory(), None)
    delivery = kind.sign(channel, "the-real-app-secret-0123456789")
    if not signed:
        delivery = kind.unsigned(delivery)

    # when
    with (
        caplog.at_level(logging.WARNING),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = delivery.post(client)

    # then
    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0
    missing = [r for r in caplog.records if r.getMessage() == "webhook.secret_missing"]
    assert missing
    assert {(r.levelname, r.channel_id, r.platform) for r in missing} == {
        ("ERROR", str(channel.id), kind.name)
    }
    assert "the-real-app-secret" not in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [WHATSAPP, INSTAGRAM], ids=lambda k: k.name)
def test_the_setup_instructions_say_when_the_app_secret_is_missing(
    admin_api, admin_member, kind
):
    # given
    without = kind.make(admin_member.business, None)
    with_secret = kind.make(admin_member.business, "an-app-secret-0123456789")

    # when
    shown_without = admin_api.get(f"/api/v1/channels/{without.id}").json()
    shown_with = admin_api.get(f"/api/v1/channels/{with_secret.id}").json()

    # then
    assert shown_without["config"]["_meta_setup_instructions"][
        "app_secret_missing"
    ] == (
        "PingBack refuses every webhook for this channel (403) until you add "
        "app_secret: Meta app dashboard → App settings → Basic → App secret, then "
        'PATCH the channel with {"config": {"app_secret": "<the app secret>"}}.'
    )
    assert "app_secret_missing" not in shown_with["config"]["_meta_setup_instructions"]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [WHATSAPP, INSTAGRAM], ids=lambda k: k.name)
def test_adding_the_app_secret_lets_signed_deliveries_in(
    admin_api, admin_member, client, kind, sandbox, django_capture_on_commit_callbacks
):
    # given: a channel stored without an app secret, refusing deliveries
    channel = kind.make(admin_member.business, None)
    refused = kind.sign(channel, "app-secret-added-later-0001").post(client)

    # when: the admin adds it
    patched = admin_api.patch(
        f"/api/v1/channels/{channel.id}",
        {"config": {"app_secret": "app-secret-added-later-0001"}},
        format="json",
    )
    with django_capture_on_commit_callbacks(execute=True):
        accepted = kind.sign(channel, "app-secret-added-later-0001").post(client)

    # then
    assert refused.status_code == 403
    assert patched.status_code == 200, patched.json()
    assert accepted.status_code == 200
    assert Message.objects.get().text == kind.text


# ----------------------------------------------------------------- the demo


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_demo_meta_channels_receive_signed_deliveries(
    live_server, sandbox, settings
):
    """`setup_demo` connects the demo WhatsApp and Instagram channels with
    their app secrets, and the sandbox signs what it delivers to them."""
    # given
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url
    call_command("setup_demo", sandbox_url=sandbox.url, stdout=io.StringIO())

    # when: a customer writes on each platform
    sent = {
        channel_type: requests.post(
            f"{sandbox.url}/_sandbox/{channel_type}/customer/message",
            json={"text": f"Hello from {channel_type}"},
            timeout=30,
        ).json()
        for channel_type in ("whatsapp", "instagram")
    }

    # then
    for channel_type, answer in sent.items():
        assert [d["status_code"] for d in answer["deliveries"]] == [200], answer
        channel = Channel.objects.get(type=channel_type)
        assert channel.secrets["app_secret"]
        assert "app_secret_missing" not in json.dumps(
            get_platform(channel_type).public_config_extra(channel, reveal=False)
        )
    texts = wait_for(
        lambda: (
            sorted(
                Message.objects.filter(
                    conversation__channel__type__in=("whatsapp", "instagram")
                ).values_list("text", flat=True)
            )
            or None
        )
    )
    assert texts == ["Hello from instagram", "Hello from whatsapp"]


# ------------------------------------------------------- Mailgun token memory


@pytest.mark.django_db
@pytest.mark.skipif(not settings.REDIS_URL, reason="the memory is shared on Redis")
def test_a_mailgun_token_taken_by_another_process_is_refused(client):
    """The token memory is Redis's, shared by every PingBack process: a token
    another process accepted is refused here."""
    # given: another process accepted a delivery with this token
    tenants = two_tenants(MAILGUN)
    token = mailgun_token()
    fields = mailgun_signed_fields(tenants.secret, MAILGUN_FIELDS, token=token)
    claim = (
        "import time; from channels_app.email_webhooks import _mailgun_token_claim; "
        f"assert _mailgun_token_claim({token!r}, {fields['timestamp']}, time.time())"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", claim],
        cwd=settings.BASE_DIR,
        check=True,
        capture_output=True,
        timeout=60,
    )

    # when
    response = client.post(
        webhook_path(tenants.channel), data=urlencode(fields), content_type=FORM
    )

    # then
    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_mailgun_delivery_that_failed_to_store_may_come_again(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    """A delivery answered 500 (the database failed while storing it) has not
    used up its token: the same delivery, retried, is accepted."""
    # given: storing fails once, as when the database is unreachable
    tenants = two_tenants(MAILGUN)
    delivery = MAILGUN.sign(tenants.channel, tenants.secret)
    real_record = email_webhooks.inbound_event_record

    def fail_once(**kwargs):
        monkeypatch.setattr(email_webhooks, "inbound_event_record", real_record)
        raise OperationalError("the database is unreachable")

    monkeypatch.setattr(email_webhooks, "inbound_event_record", fail_once)
    client.raise_request_exception = False
    failed = delivery.post(client)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        retried = delivery.post(client)

    # then
    assert (failed.status_code, retried.status_code) == (500, 200)
    assert Message.objects.get().text == MAILGUN.text

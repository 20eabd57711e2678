"""SMS through Twilio: form-encoded webhooks signed over the URL and the fields
(X-Twilio-Signature, docs/platforms/sms.md, "Signature"), sends through the
twilio SDK."""

import json
from pathlib import Path
from urllib.parse import urlencode

from django.http import QueryDict

from channels_app.platforms import get_platform
from channels_app.platforms.base import PermanentDeliveryError
from channels_app.tests.platforms.contract.kits.base import (
    Kit,
    SendErrorCase,
    Sending,
    Setup,
    header,
    transient_refusals,
)
from sandbox.platforms.sms import payloads as sms_twilio
from sandbox.platforms.sms.payloads import DEMO_ACCOUNT, DEMO_NUMBER

SIGNATURE = header(sms_twilio.SIGNATURE_HEADER)
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def form(path: Path) -> bytes:
    """A fixture (the form fields as a JSON object) urlencoded, as Twilio
    posts it."""
    return urlencode(json.loads(path.read_text())).encode()


def signer(channel, body: bytes, secret: str) -> dict[str, str]:
    url = get_platform("sms").webhook_url(channel)
    return {SIGNATURE: sms_twilio.sign(secret, url, QueryDict(body).dict())}


def fields_of(name: str, **changes: str | None) -> bytes:
    """A fixture's form with fields changed (None: left out)."""
    fields = json.loads((KIT.fixture(name)).read_text())
    fields.update(changes)
    return urlencode({k: v for k, v in fields.items() if v is not None}).encode()


def incoming_url_set(sandbox, created: dict | None) -> bool:
    """Whether the demo number's incoming URL is set (to the created
    channel's)."""
    url = sandbox.sms.number(DEMO_NUMBER).sms_url
    return url != "" if created is None else url == created["webhook_url"]


KIT = Kit(
    platform="sms",
    channel=lambda: {
        "type": "sms",
        "secrets": {"auth_token": DEMO_ACCOUNT.auth_token},
        "config": {"account_sid": DEMO_ACCOUNT.sid, "phone_number": DEMO_NUMBER},
    },
    load=form,
    signer=signer,
    secret="auth_token",
    forged={"forged": {SIGNATURE: "c2lnbmF0dXJlLW9mLW5vYm9keQ=="}},
    content_type="application/x-www-form-urlencoded",
    acknowledgement=lambda status: ("text/xml", EMPTY_TWIML),
    delivery="message__sms",
    vectors=(
        (
            sms_twilio.sign,
            (
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                {
                    "CallSid": "CA1234567890ABCDE",
                    "Caller": "+12349013030",
                    "Digits": "1234",
                    "From": "+12349013030",
                    "To": "+18005551212",
                },
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
        ),
    ),
    setup=Setup(
        config=DEMO_ACCOUNT.as_config,
        state="ready",
        registered=incoming_url_set,
        refused={
            "a wrong auth token": (
                {**DEMO_ACCOUNT.as_config(), "auth_token": "not-the-token"},
                "auth_token",
                "Authenticate",
            )
        },
        unreachable=(
            "TWILIO_API_BASE_URL",
            "action_required",
            f"Could not look up {DEMO_NUMBER} on Twilio (Twilio unreachable: "
            "ConnectionError). Run setup again, or: In the Twilio Console",
        ),
    ),
    sending=Sending.watching(
        "sms",
        "sends",
        ("sid", "body"),
        errors={
            "invalid number": SendErrorCase(
                {"invalid_number": True},
                PermanentDeliveryError,
                "The customer's number cannot receive SMS: 21211: Invalid 'To' "
                "phone number.",
            ),
            "customer replied STOP": SendErrorCase(
                {"unsubscribed": True},
                PermanentDeliveryError,
                "The customer unsubscribed (STOP): Twilio blocks messages from this "
                "number to them until they text START.",
            ),
            **transient_refusals(
                "Twilio rate limit reached",
                "Twilio error: 20500: Internal Server Error (HTTP 500)",
                {"retry_after": 1.0},
                {"retry_after": None},
            ),
        },
    ),
)

KIT.malformed.update(
    {
        "no From": (fields_of("message__sms", From=None), "From: missing"),
        "NumMedia not a number": (
            fields_of("message__sms", NumMedia="two"),
            "NumMedia: expected a number, got 'two'",
        ),
        "a media URL missing": (
            fields_of("message__mms", MediaUrl1=None),
            "MediaUrl1: missing",
        ),
        "status without MessageSid": (
            fields_of("status__delivered", MessageSid=None, SmsSid=None),
            "MessageSid: missing",
        ),
    }
)

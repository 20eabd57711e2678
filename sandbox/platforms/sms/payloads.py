"""Pure helpers that build and sign Twilio traffic exactly as Twilio does.

No Django: PingBack's tests import this module to produce the form bodies
Twilio POSTs to a webhook and their `X-Twilio-Signature`, and the SMS
stand-in (:mod:`sandbox.platforms.sms.standin`) uses the same helpers when it
acts as Twilio.

References are to headings of docs/platforms/sms.md: "Inbound message webhook"
(the form), "Signature", "Status callbacks" (the form), "Sending" and "Errors
PingBack maps" (REST resources and errors).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
"""Same value on a retry of one webhook delivery (docs/platforms/sms.md,
"Inbound message webhook")."""
USER_AGENT = "TwilioProxy/1.1"
ERRORS_URL = "https://www.twilio.com/docs/errors/"


@dataclass(frozen=True)
class TwilioAccount:
    """A Twilio account: SID (`AC` + 32 hex), auth token and owned numbers."""

    sid: str
    auth_token: str
    friendly_name: str
    numbers: tuple[str, ...]

    def as_config(self, phone_number: str | None = None) -> dict[str, str]:
        """The PingBack SMS channel config for one of the account's numbers."""
        return {
            "account_sid": self.sid,
            "auth_token": self.auth_token,
            "phone_number": phone_number or self.numbers[0],
        }


DEMO_NUMBER = "+15005550006"
"""The demo account's number (Twilio's "valid test number" style)."""
NOT_OWNED_NUMBER = "+15017122661"
"""A well-formed number that belongs to no account in the sandbox."""
DEMO_CUSTOMER_NUMBER = "+15558675310"
"""The customer who texts the demo number."""
DEMO_ACCOUNT = TwilioAccount(
    sid="AC" + "5e" * 16,
    auth_token="sandbox-twilio-auth-token-0001",
    friendly_name="PingBack demo",
    numbers=(DEMO_NUMBER,),
)
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
"""Replies that opt a customer out of a number (Twilio's default handling)."""
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})


def segments(body: str) -> int:
    """How many SMS a GSM-7 text takes: 160 characters fit in one; longer texts
    are split in parts of 153 (the rest carries the joining header)."""
    return 1 if len(body) <= 160 else math.ceil(len(body) / 153)


def new_sid(prefix: str) -> str:
    """A Twilio resource SID: two-letter prefix + 32 hex (`SM…`, `PN…`)."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime | None = None) -> str:
    """Twilio's REST date format, e.g. `Mon, 19 May 2025 14:01:46 +0000`."""
    return format_datetime(moment or datetime.now(UTC))


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The `X-Twilio-Signature` of a form POST to `url` (docs/platforms/sms.md,
    "Signature"): base64 HMAC-SHA1 over the URL followed by the sorted
    name+value pairs, keyed by the auth token. Computed with the twilio SDK's
    own validator."""
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def webhook_headers(auth_token: str, url: str, form: Mapping[str, str]) -> dict:
    """The headers Twilio sends with a signed form POST."""
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(auth_token, url, form),
        IDEMPOTENCY_HEADER: secrets.token_hex(16),
    }


def inbound_message_form(
    *,
    account_sid: str,
    to: str,
    from_: str,
    body: str,
    message_sid: str,
    media: Sequence[tuple[str, str]] = (),
) -> dict[str, str]:
    """The form Twilio POSTs to a number's "A message comes in" URL
    (docs/platforms/sms.md, "Inbound message webhook").

    `media` holds (url, content type) pairs; a message with media is an MMS.
    """
    form = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": message_sid,
        "NumMedia": str(len(media)),
        "ToCity": "SAN FRANCISCO",
        "FromZip": "94105",
        "SmsSid": message_sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "ToZip": "94107",
        "NumSegments": str(segments(body)),
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    for index, (url, content_type) in enumerate(media):
        form[f"MediaContentType{index}"] = content_type
        form[f"MediaUrl{index}"] = url
    return form


def status_callback_form(
    *,
    account_sid: str,
    message_sid: str,
    from_: str,
    to: str,
    status: str,
    error_code: int | None = None,
) -> dict[str, str]:
    """The form Twilio POSTs to a message's `StatusCallback`
    (docs/platforms/sms.md, "Status callbacks")."""
    form = {
        "SmsSid": message_sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": to,
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if error_code is not None:
        form["ErrorCode"] = str(error_code)
    return form


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's REST error body (docs/platforms/sms.md, "Errors PingBack maps")."""
    return {
        "code": code,
        "message": message,
        "more_info": f"{ERRORS_URL}{code}",
        "status": status,
    }

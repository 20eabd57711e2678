"""How Mailgun and Postmark authenticate the inbound e-mail webhooks they post,
for tests and demos that play the provider's side.

- Mailgun (routes `forward()`): the form carries `timestamp` (epoch seconds),
  `token` (a random string, new for every post) and `signature`, the hex
  HMAC-SHA256 of `timestamp + token` keyed by the account's HTTP webhook
  signing key. The message itself is not signed.
  https://documentation.mailgun.com/docs/mailgun/user-manual/events/webhooks/#securing-webhooks
- Postmark (inbound webhook): the `user:password` written in the webhook URL,
  sent as HTTP basic auth. https://postmarkapp.com/developer/webhooks/inbound-webhook
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

# Mailgun's tokens are 50 characters long.
MAILGUN_TOKEN_LENGTH = 50


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    """`signature`: hex HMAC-SHA256 of `timestamp + token`, keyed by the
    webhook signing key."""
    message = f"{timestamp}{token}".encode()
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def mailgun_token() -> str:
    """A fresh random `token`, as Mailgun puts in every post."""
    return secrets.token_hex(MAILGUN_TOKEN_LENGTH // 2)


def mailgun_signed_fields(
    signing_key: str,
    fields: Mapping[str, str],
    *,
    timestamp: int | None = None,
    token: str | None = None,
) -> dict[str, str]:
    """`fields` (the route's form: `body-mime`, `sender`, …) with Mailgun's
    `timestamp` (default: now), `token` (default: a fresh one) and
    `signature` set, as Mailgun posts them."""
    signed = dict(fields)
    signed["timestamp"] = str(int(time.time()) if timestamp is None else timestamp)
    signed["token"] = token or mailgun_token()
    signed["signature"] = mailgun_signature(
        signing_key, signed["timestamp"], signed["token"]
    )
    return signed


def postmark_authorization(credentials: str) -> str:
    """The `Authorization` header for the `user:password` of the webhook
    URL: `Basic <base64(user:password)>`."""
    return "Basic " + base64.b64encode(credentials.encode()).decode()

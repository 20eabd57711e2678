"""What the WhatsApp and Instagram stand-ins share: Meta's webhook signing, the
"app dashboard" step that verifies a callback URL with `hub.challenge`, and
Graph error envelopes (docs/platforms/whatsapp.md, "Verification handshake",
"Signature", "Errors PingBack maps")."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests

from sandbox.core.delivery import get, json_bytes, post
from sandbox.core.http import Response, json_response


def sign(app_secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(app_secret, body)>` (X-Hub-Signature-256)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def graph_error(
    status: int,
    code: int,
    message: str,
    *,
    details: str = "",
    subcode: int | None = None,
) -> Response:
    """A Graph API error envelope, as Meta answers a refused call."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": secrets.token_hex(8),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    return json_response(status, {"error": error})


@dataclass
class Subscription:
    """A callback URL the "dashboard" verified, with the secret that signs
    deliveries to it (None: unsigned)."""

    callback_url: str
    verify_token: str
    app_secret: str | None


def verify_callback(callback_url: str, verify_token: str) -> tuple[bool, str]:
    """Do what Meta's dashboard does when an admin saves a callback URL:
    `GET callback?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` and
    expect the challenge back. Returns (ok, what happened)."""
    challenge = secrets.token_hex(8)
    query = urlencode(
        {
            "hub.mode": "subscribe",
            "hub.verify_token": verify_token,
            "hub.challenge": challenge,
        }
    )
    separator = "&" if "?" in callback_url else "?"
    try:
        response = get(f"{callback_url}{separator}{query}")
    except requests.RequestException as error:
        return False, f"callback unreachable: {error}"
    if response.status_code == 200 and response.text == challenge:
        return True, "verified"
    return False, f"callback answered {response.status_code}: {response.text[:200]}"


def deliver(subscription: Subscription, payload: dict[str, Any]) -> dict[str, Any]:
    """POST a webhook body to the subscription's callback, signed with its app
    secret as Meta does. Returns `{url, status_code, body}`."""
    body = json_bytes(payload)
    headers = {"Content-Type": "application/json"}
    if subscription.app_secret:
        headers["X-Hub-Signature-256"] = sign(subscription.app_secret, body)
    return post(subscription.callback_url, body, headers)

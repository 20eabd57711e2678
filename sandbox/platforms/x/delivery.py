"""The sandbox acting as X towards PingBack: CRC checks and signed deliveries.

- :func:`run_crc` sends the CRC GET of docs/platforms/x.md, "CRC challenge", and
  checks the answer.
- :func:`send_customer_dm` and :func:`send_customer_mention` build an event
  with :mod:`sandbox.platforms.x.payloads`, sign the exact bytes with the
  consumer secret of the app owning each subscribed webhook
  (docs/platforms/x.md, "Signature") and POST them there.

HTTP calls go through :mod:`sandbox.core.delivery`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import requests

from sandbox.core.delivery import WEBHOOK_TIMEOUT_S, post, session
from sandbox.core.standin import ControlError
from sandbox.platforms.x.payloads import (
    DEMO_APP,
    DEMO_CUSTOMER,
    SIGNATURE_HEADER,
    XApp,
    XUser,
    crc_response_token,
    dm_payload,
    iso_timestamp,
    mention_payload,
    mentions_account,
    new_id,
    now_ms,
    sign,
    xaa_dm_received_payload,
    xaa_mention_payload,
)
from sandbox.platforms.x.state import XState

CRC_TIMEOUT_S = 5.0
FORMATS = ("aaa", "xaa")


@dataclass(frozen=True)
class CustomerMessage:
    """What the fake customer sends: who to, who from, what, in which format.

    ``in_reply_to_tweet_id`` is used by mentions only; ``outbound`` (an echo
    of a DM the account sent) by AAA DMs only.
    """

    text: str
    account_id: str = DEMO_APP.account.id
    customer: XUser = DEMO_CUSTOMER
    format: str = "aaa"
    event_id: str | None = None
    in_reply_to_tweet_id: str | None = None
    outbound: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustomerMessage:
        """Parse a ``/_sandbox/x/customer/*`` JSON body; ``ValueError`` if bad."""
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-empty string")
        fmt = data.get("format") or "aaa"
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        try:
            customer = (
                XUser.from_dict(data["customer"]) if data.get("customer") else None
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"customer must be {{id, screen_name, name}}: {exc}"
            ) from exc
        return cls(
            text=text,
            account_id=str(data.get("account_id") or DEMO_APP.account.id),
            customer=customer or DEMO_CUSTOMER,
            format=fmt,
            event_id=_optional_str(data.get("event_id") or data.get("tweet_id")),
            in_reply_to_tweet_id=_optional_str(data.get("in_reply_to_tweet_id")),
            outbound=bool(data.get("outbound", False)),
        )


def _optional_str(value: Any) -> str | None:
    """``str(value)`` unless empty."""
    return str(value) if value not in (None, "") else None


def run_crc(url: str, consumer_secret: str, timeout: float = CRC_TIMEOUT_S) -> bool:
    """GET ``url?crc_token=<random>`` and check ``response_token``
    (docs/platforms/x.md, "CRC challenge")."""
    token = secrets.token_urlsafe(24)
    try:
        with session() as http:
            answer = http.get(url, params={"crc_token": token}, timeout=timeout)
        answer_token = answer.json().get("response_token")
    except (requests.RequestException, ValueError, AttributeError):
        return False
    expected = crc_response_token(token, consumer_secret)
    return answer.status_code == 200 and answer_token == expected


def deliver(
    url: str, body: bytes, consumer_secret: str, timeout: float = WEBHOOK_TIMEOUT_S
) -> dict[str, Any]:
    """POST signed ``body`` to a webhook; ``{"url", "status_code", "body"}``.

    ``status_code`` is ``None`` when the connection failed; ``body`` then
    describes the error.
    """
    headers = {
        SIGNATURE_HEADER: sign(body, consumer_secret),
        "Content-Type": "application/json",
    }
    return post(url, body, headers, timeout)


def deliver_to_subscribers(
    x: XState, account_id: str, payload: dict[str, Any]
) -> list[dict[str, Any]]:
    """Serialize ``payload`` once and deliver it to each subscribed webhook."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return [
        deliver(url, body, app.consumer_secret)
        for url, app in x.delivery_targets(account_id)
    ]


def _account_app(x: XState, account_id: str) -> XApp:
    """The app owning ``account_id``; raise 404 if unknown. An account with
    no subscribed webhook still receives: its app reads what the customer
    sent with ``GET /2/users/:id/mentions`` and ``GET /2/dm_events``."""
    app = x.app_for_account(account_id)
    if app is None:
        raise ControlError(404, f"no registered app for account {account_id}")
    return app


def send_customer_dm(x: XState, message: CustomerMessage) -> dict[str, Any]:
    """Deliver a DM from the customer (or, with ``outbound``, its echo).

    Returns ``{"deliveries": [...], "event_id", "payload"}`` (no deliveries
    when the account has no webhook: its app polls).
    """
    account = _account_app(x, message.account_id).account
    event_id = message.event_id or new_id()
    created_ms = now_ms()
    if message.format == "xaa":
        if message.outbound:
            raise ControlError(400, "outbound echoes exist in AAA format only")
        payload = xaa_dm_received_payload(
            account=account,
            customer=message.customer,
            text=message.text,
            event_id=event_id,
            created_ms=created_ms,
        )
    else:
        payload = dm_payload(
            account=account,
            customer=message.customer,
            text=message.text,
            event_id=event_id,
            created_ms=created_ms,
            outbound=message.outbound,
        )
    x.record_inbound(
        _inbound_record("dm", event_id, account, message, message.text, created_ms)
    )
    deliveries = deliver_to_subscribers(x, account.id, payload)
    return {"deliveries": deliveries, "event_id": event_id, "payload": payload}


def send_customer_mention(x: XState, message: CustomerMessage) -> dict[str, Any]:
    """Deliver a post from the customer that mentions (or replies to) the account.

    ``@<handle> `` is prepended when the text does not mention the account.
    Returns ``{"deliveries": [...], "event_id": <post id>, "payload"}``.
    """
    account = _account_app(x, message.account_id).account
    text = message.text
    if not mentions_account(text, account):
        text = f"@{account.screen_name} {text}"
    tweet_id = message.event_id or new_id()
    created_ms = now_ms()
    parent = message.in_reply_to_tweet_id
    parent_author = (x.tweet_author(parent) or account.id) if parent else None
    if message.format == "xaa":
        payload = xaa_mention_payload(
            account=account,
            author=message.customer,
            text=text,
            post_id=tweet_id,
            in_reply_to_post_id=parent,
            conversation_id=x.conversation_root(parent) if parent else None,
            created_at=iso_timestamp(created_ms),
        )
    else:
        payload = mention_payload(
            account=account,
            author=message.customer,
            text=text,
            tweet_id=tweet_id,
            in_reply_to_status_id=parent,
            in_reply_to_user_id=parent_author,
            created_ms=created_ms,
        )
    x.record_inbound(
        _inbound_record("mention", tweet_id, account, message, text, created_ms)
    )
    deliveries = deliver_to_subscribers(x, account.id, payload)
    return {"deliveries": deliveries, "event_id": tweet_id, "payload": payload}


def _inbound_record(
    kind: str,
    event_id: str,
    account: XUser,
    message: CustomerMessage,
    text: str,
    created_ms: int,
) -> dict[str, Any]:
    """The :attr:`XState.inbound` entry for a customer action."""
    return {
        "kind": kind,
        "event_id": event_id,
        "account_id": account.id,
        "customer": {
            **message.customer.as_public(),
            "avatar_url": message.customer.avatar_url,
        },
        "text": text,
        "in_reply_to_tweet_id": message.in_reply_to_tweet_id,
        "outbound": message.outbound,
        "format": message.format,
        "created_ms": created_ms,
    }

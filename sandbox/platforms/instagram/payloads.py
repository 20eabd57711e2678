"""Pure helpers that build Instagram messaging webhooks as Meta sends them.

Standard library only, no Django: PingBack's tests import this module for the
demo account and for payloads, and the Instagram stand-in
(:mod:`sandbox.platforms.instagram.standin`) uses the same helpers when it acts as Meta.

Source: docs/platforms/instagram.md, "Webhook payload" (Messenger Platform for
Instagram, webhook fields ``messages`` and ``messaging_seen``):
https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook
"""

from __future__ import annotations

import base64
import itertools
import secrets
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

from sandbox.core.records import pick

INSTAGRAM_OBJECT = "instagram"


@dataclass(frozen=True)
class InstagramAccount:
    """A Facebook Page linked to an Instagram professional account, with the
    Page access token and the Meta app secret that signs its webhooks
    (docs/platforms/instagram.md, "API flavour": Messenger API for Instagram)."""

    page_id: str
    page_name: str
    instagram_id: str
    username: str
    access_token: str
    app_secret: str

    def as_config(self) -> dict[str, str]:
        """The PingBack Instagram channel config for this account."""
        return pick(self, "access_token", "page_id", "app_secret")

    def as_public(self) -> dict[str, str]:
        """The account without its token and secret."""
        return pick(self, "page_id", "page_name", "instagram_id", "username")


def sandbox_account(number: int, username: str, page_name: str, **secrets: str):
    """Page and Instagram account ``number`` of the sandbox: Page id
    ``1100000000000<number:02>``, Instagram id ``178414000000000<number:02>``;
    ``secrets`` are its ``access_token`` and ``app_secret``."""
    page_id, instagram_id = f"11{number:013d}", f"178414{number:011d}"
    return InstagramAccount(page_id, page_name, instagram_id, username, **secrets)


DEMO_ACCOUNT = sandbox_account(
    1,
    "pingback_demo",
    "PingBack Demo",
    access_token="EAAGdemoPageAccessToken0123456789",
    app_secret="5f0e1d2c3b4a59687766554433221100",
)
"""The Page, Instagram account, token and app secret the sandbox knows from the
start."""

DEMO_CUSTOMER_ID = "7100000000000002"
"""The Instagram-scoped id (IGSID) of the customer who writes in the demo."""

_COUNTER = itertools.count(1)


def now_ms() -> int:
    """The current time as epoch milliseconds (Meta's `timestamp` unit)."""
    return time.time_ns() // 1_000_000


def new_mid(instagram_id: str) -> str:
    """A fresh message id shaped like Meta's: base64 of
    `ig_message_item:1:IGMessageID:<account id>:<number>`, without padding."""
    number = f"{now_ms()}{next(_COUNTER):06d}{secrets.randbelow(10**6):06d}"
    raw = f"ig_message_item:1:IGMessageID:{instagram_id}:{number}".encode()
    return base64.b64encode(raw).decode().rstrip("=")


def webhook_payload(
    account: InstagramAccount, events: list[dict[str, Any]]
) -> dict[str, Any]:
    """`{"object": "instagram", "entry": [{id, time, messaging: events}]}`."""
    return {
        "object": INSTAGRAM_OBJECT,
        "entry": [{"id": account.instagram_id, "time": now_ms(), "messaging": events}],
    }


def message_event(
    *,
    sender_id: str,
    recipient_id: str,
    mid: str,
    text: str = "",
    attachment_urls: tuple[tuple[str, str], ...] = (),
    reply_to_mid: str | None = None,
    is_echo: bool = False,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """One `messaging[]` item carrying a `message`. `attachment_urls` holds
    (type, CDN url) pairs, e.g. `("image", "https://lookaside.fbsbx.com/…")`."""
    message: dict[str, Any] = {"mid": mid}
    if text:
        message["text"] = text
    if attachment_urls:
        message["attachments"] = [
            {"type": kind, "payload": {"url": url}} for kind, url in attachment_urls
        ]
    if reply_to_mid:
        message["reply_to"] = {"mid": reply_to_mid}
    if is_echo:
        message["is_echo"] = True
    return {
        "sender": {"id": sender_id},
        "recipient": {"id": recipient_id},
        "timestamp": timestamp or now_ms(),
        "message": message,
    }


def read_event(
    *, sender_id: str, recipient_id: str, mid: str, timestamp: int | None = None
) -> dict[str, Any]:
    """One `messaging[]` item of the `messaging_seen` field: the customer read
    our message `mid`."""
    return {
        "sender": {"id": sender_id},
        "recipient": {"id": recipient_id},
        "timestamp": timestamp or now_ms(),
        "read": {"mid": mid},
    }


def demo_png(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG (solid Instagram pink), the photo the demo customer
    sends."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xe1\x30\x6c" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def dashboard_test_event() -> dict[str, Any]:
    """The sample Meta's app dashboard POSTs when an admin clicks "Test" next
    to the `messages` field (Webhooks → Instagram, Messenger Platform flavour
    through a Page): entry id "0", a text "random_text" from sender 12334 to
    recipient 23245, signed like any delivery. PingBack stores it and ignores
    it (an event for another account), and the signature proves the
    dashboard step.

    Source: the sample Meta's "Test" button sends for the Instagram `messages`
    field (Messenger Platform for Instagram, webhooks; the same body is
    quoted across public Instagram integrations' tests)."""
    now = int(time.time())
    return {
        "object": INSTAGRAM_OBJECT,
        "entry": [
            {
                "id": "0",
                "time": now,
                "messaging": [
                    {
                        "sender": {"id": "12334"},
                        "recipient": {"id": "23245"},
                        "timestamp": now * 1000,
                        "message": {"mid": "random_mid", "text": "random_text"},
                    }
                ],
            }
        ],
    }

"""Pure helpers that build and sign X (Twitter) webhook traffic exactly as X does.

Standard library only, no Django: PingBack's tests import this module to
produce the bytes X would POST to a webhook, and the sandbox server
(:mod:`sandbox.server`) uses the same helpers when it acts as X.

References are to headings of docs/platforms/x.md:

- "CRC challenge" and "Signature" (:func:`crc_response_token`, :func:`sign`);
- "Payloads PingBack reads": Account Activity (AAA) payloads
  (:func:`dm_payload`, :func:`mention_payload`) and X Activity API (XAA)
  envelopes (:func:`xaa_dm_received_payload`, :func:`xaa_mention_payload`);
- "Credentials" (:class:`XApp`, :data:`DEMO_APP`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.core.records import pick

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
"""Header carrying the event signature on every webhook POST (docs/platforms/x.md,
"Signature")."""

DEFAULT_AVATAR_URL = "https://pbs.twimg.com/profile_images/default_normal.png"
XAA_TAG = "pingback"
"""The ``tag`` PingBack's XAA subscriptions carry (docs/platforms/x.md, "Webhook
registration and subscriptions")."""

LEGACY_TEXT_LIMIT = 140
"""A v1.1 tweet longer than this is ``truncated`` with an ``extended_tweet``."""

_TWITTER_EPOCH_MS = 1288834974657
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_EMPTY_DM_ENTITIES: dict[str, list[Any]] = {
    "hashtags": [],
    "symbols": [],
    "user_mentions": [],
    "urls": [],
}


# --------------------------------------------------------------------------
# Signatures (docs/platforms/x.md, "CRC challenge", "Signature")
# --------------------------------------------------------------------------


def _hmac_sha256_b64(key: str, msg: bytes) -> str:
    """Return ``"sha256=" + base64(HMAC_SHA256(key, msg))``."""
    digest = hmac.new(key.encode("utf-8"), msg, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def sign(body: bytes, consumer_secret: str) -> str:
    """Return the ``x-twitter-webhooks-signature`` value for a raw body
    (docs/platforms/x.md, "Signature").

    >>> sign(b'{"for_user_id":"2244994945","direct_message_events":[]}',
    ...      "consumer-secret-example")
    'sha256=tpoJmg3Kk0S8hU8HscRwptrpoI9Y5pj9kku2Z/F5KS0='
    """
    return _hmac_sha256_b64(consumer_secret, body)


def crc_response_token(crc_token: str, consumer_secret: str) -> str:
    """Return the ``response_token`` a webhook must answer a CRC GET with
    (docs/platforms/x.md, "CRC challenge").

    >>> crc_response_token("challenge_string", "consumer-secret-example")
    'sha256=SsxOpSGLxgXJx6R1gmfbpaG1lSmax0jR508kjeBxSMY='
    """
    return _hmac_sha256_b64(consumer_secret, crc_token.encode("utf-8"))


# --------------------------------------------------------------------------
# Ids and timestamps
# --------------------------------------------------------------------------


class _SnowflakeClock:
    """Thread-safe generator of strictly increasing snowflake-like ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next_id(self) -> int:
        """Return ``(ms since the Twitter epoch) << 22``, bumped to stay monotonic."""
        candidate = (now_ms() - _TWITTER_EPOCH_MS) << 22
        with self._lock:
            self._last = max(candidate, self._last + 1, 10**18)
            return self._last


_CLOCK = _SnowflakeClock()


def new_id() -> str:
    """Return a fresh 19-digit numeric id string, monotonic across threads."""
    return str(_CLOCK.next_id())


def now_ms() -> int:
    """Return the current time as epoch milliseconds."""
    return time.time_ns() // 1_000_000


def v1_created_at(epoch_ms: int) -> str:
    """Format a v1.1 ``created_at``, e.g. ``"Mon May 19 14:01:46 +0000 2025"``.

    Names are spelled out here so the result never depends on the locale.
    """
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return (
        f"{_WEEKDAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} "
        f"{moment:%d %H:%M:%S} +0000 {moment.year}"
    )


def iso_timestamp(epoch_ms: int | None = None) -> str:
    """Format epoch milliseconds as v2 ISO-8601, e.g. ``2025-05-19T14:01:46.000Z``."""
    moment = datetime.fromtimestamp(
        (now_ms() if epoch_ms is None else epoch_ms) / 1000, tz=UTC
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------
# Users and apps (docs/platforms/x.md, "Credentials")
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class XUser:
    """An X account: a business account we connect, or a customer."""

    id: str
    screen_name: str
    name: str
    avatar_url: str = DEFAULT_AVATAR_URL

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> XUser:
        """Build from ``{"id", "screen_name", "name", ["avatar_url"]}``.

        Raises ``KeyError`` or ``ValueError`` on a missing or non-numeric id.
        """
        user_id = str(data["id"])
        if not user_id.isdigit():
            raise ValueError(f"X user ids are numeric strings, got {user_id!r}")
        return cls(
            id=user_id,
            screen_name=str(data["screen_name"]),
            name=str(data.get("name") or data["screen_name"]),
            avatar_url=str(data.get("avatar_url") or DEFAULT_AVATAR_URL),
        )

    def as_v1(self) -> dict[str, Any]:
        """The v1.1 user object, as in the AAA ``users`` map (docs/platforms/x.md,
        "Payloads PingBack reads")."""
        return {
            "id": self.id,
            "id_str": self.id,
            "name": self.name,
            "screen_name": self.screen_name,
            "profile_image_url_https": self.avatar_url,
            "protected": False,
            "verified": False,
            "followers_count": 42,
            "created_timestamp": "1420070400000",
        }

    def as_v2(self) -> dict[str, Any]:
        """The v2 user object: ``{"id", "name", "username", "profile_image_url"}``."""
        return pick(
            self, "id", "name", username="screen_name", profile_image_url="avatar_url"
        )

    def as_public(self) -> dict[str, str]:
        """``{"id", "screen_name", "name"}``, the shape the sandbox API accepts."""
        return {"id": self.id, "screen_name": self.screen_name, "name": self.name}


@dataclass(frozen=True)
class XApp:
    """An X developer app plus the access token of one business account
    (docs/platforms/x.md, "Credentials").

    ``access_token`` has the X form ``"<account id>-<random>"``.
    """

    consumer_key: str
    consumer_secret: str
    bearer_token: str
    account: XUser
    access_token: str
    access_token_secret: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> XApp:
        """Build from the JSON shape of ``POST /_sandbox/x/apps``.

        ``{"consumer_key", "consumer_secret", "bearer_token", "access_token",
        "access_token_secret", "account": {"id", "screen_name", "name"}}``.
        Raises ``KeyError``/``ValueError``/``TypeError`` when malformed.
        """
        fields = (
            "consumer_key",
            "consumer_secret",
            "bearer_token",
            "access_token",
            "access_token_secret",
        )
        values = {name: data[name] for name in fields}
        for name, value in values.items():
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        return cls(account=XUser.from_dict(data["account"]), **values)

    @property
    def application_id(self) -> str:
        """A stable numeric app id derived from the consumer key."""
        digest = hashlib.sha256(self.consumer_key.encode("utf-8")).digest()
        return str(int.from_bytes(digest[:7], "big"))

    def as_config(self) -> dict[str, str]:
        """The PingBack X channel config for this app and account."""
        names = ("access_token", "access_token_secret", "bearer_token")
        return pick(self, *names, api_key="consumer_key", api_secret="consumer_secret")


def demo_app(name: str, account: XUser) -> XApp:
    """A sandbox app named ``name`` (e.g. ``"demo"``) for ``account``, its
    credentials made from the name: consumer key ``<name>-api-key``, access
    token ``<account id>-<name without dashes>accesstoken``, and so on."""
    secret = "secret-0123456789"
    token = f"{account.id}-{name.replace('-', '')}accesstoken"
    return XApp(
        f"{name}-api-key",
        f"{name}-api-{secret}",
        f"AAAA{name}-bearer-token",
        account,
        token,
        f"{name}-access-{secret}",
    )


DEMO_APP = demo_app(
    "demo", XUser("1500000000000000001", "pingback_demo", "PingBack Demo")
)
"""The app and business account the sandbox knows from the start."""

DEMO_POLLING_APP = demo_app(
    "demo-polling",
    XUser("1500000000000000003", "pingback_polled", "PingBack Demo (polled)"),
)
"""A second app and account the sandbox knows from the start: the demo's X
channel in polling mode (`delivery: polling`) reads it, so no webhook is
registered for it and what its customers write waits to be read."""

DEMO_APPS = (DEMO_APP, DEMO_POLLING_APP)
"""Every app the sandbox knows from the start (and keeps across resets)."""

DEMO_CUSTOMER = XUser(
    id="2200000000000000002", screen_name="casey_customer", name="Casey Customer"
)
"""The customer who writes to :data:`DEMO_APP`'s account in the demo."""


# --------------------------------------------------------------------------
# Account Activity API payloads (docs/platforms/x.md, "Payloads PingBack reads")
# --------------------------------------------------------------------------


def dm_event(
    *,
    sender_id: str,
    recipient_id: str,
    text: str,
    event_id: str | None = None,
    created_ms: int | None = None,
    source_app_id: str | None = None,
    media_url: str | None = None,
) -> dict[str, Any]:
    """One ``direct_message_events[]`` item of type ``message_create``
    (docs/platforms/x.md, "Payloads PingBack reads")."""
    message_data: dict[str, Any] = {
        "text": text,
        "entities": {key: [] for key in _EMPTY_DM_ENTITIES},
    }
    if media_url is not None:
        message_data["attachment"] = {
            "type": "media",
            "media": {
                "id_str": new_id(),
                "media_url_https": media_url,
                "type": "photo",
            },
        }
    message_create: dict[str, Any] = {
        "target": {"recipient_id": recipient_id},
        "sender_id": sender_id,
    }
    if source_app_id is not None:
        message_create["source_app_id"] = source_app_id
    message_create["message_data"] = message_data
    return {
        "type": "message_create",
        "id": event_id or new_id(),
        "created_timestamp": str(now_ms() if created_ms is None else created_ms),
        "message_create": message_create,
    }


def dm_payload(
    *,
    account: XUser,
    customer: XUser,
    text: str,
    event_id: str | None = None,
    created_ms: int | None = None,
    outbound: bool = False,
    source_app_id: str | None = None,
    media_url: str | None = None,
) -> dict[str, Any]:
    """An AAA DM delivery for ``account`` (docs/platforms/x.md, "Payloads
    PingBack reads").

    Shape: ``{"for_user_id", "direct_message_events": [event], "users": {id:
    v1 user}}`` plus ``"apps"`` when ``source_app_id`` is given. By default the
    customer wrote to the account; ``outbound=True`` builds the echo of a DM
    the account sent to the customer (docs/platforms/x.md, "Echoes and dedupe").
    """
    sender, recipient = (account, customer) if outbound else (customer, account)
    payload: dict[str, Any] = {
        "for_user_id": account.id,
        "direct_message_events": [
            dm_event(
                sender_id=sender.id,
                recipient_id=recipient.id,
                text=text,
                event_id=event_id,
                created_ms=created_ms,
                source_app_id=source_app_id,
                media_url=media_url,
            )
        ],
    }
    if source_app_id is not None:
        payload["apps"] = {
            source_app_id: {
                "id": source_app_id,
                "name": "PingBack",
                "url": "https://pingback.example",
            }
        }
    payload["users"] = {account.id: account.as_v1(), customer.id: customer.as_v1()}
    return payload


def _mention_spans(text: str, user: XUser) -> list[tuple[int, int]]:
    """``(start, end)`` of every ``@screen_name`` of ``user`` in ``text``.

    ``start`` is the index of ``@``; matching is case-insensitive and stops at
    a word boundary, like X's own entity parser.
    """
    pattern = re.compile(rf"@{re.escape(user.screen_name)}(?!\w)", re.IGNORECASE)
    return [match.span() for match in pattern.finditer(text)]


def mentions_account(text: str, account: XUser) -> bool:
    """True when ``text`` contains ``@<account.screen_name>`` as a whole handle."""
    return bool(_mention_spans(text, account))


def _v1_entities(text: str, mentioned: XUser) -> dict[str, Any]:
    """v1.1 tweet ``entities`` for ``text``, mentioning ``mentioned`` if present."""
    return {
        "hashtags": [],
        "urls": [],
        "symbols": [],
        "user_mentions": [
            {
                "id_str": mentioned.id,
                "id": int(mentioned.id),
                "screen_name": mentioned.screen_name,
                "name": mentioned.name,
                "indices": [start, end],
            }
            for start, end in _mention_spans(text, mentioned)
        ],
    }


def v1_tweet(
    *,
    account: XUser,
    author: XUser,
    text: str,
    tweet_id: str,
    in_reply_to_status_id: str | None,
    in_reply_to_user_id: str | None,
    created_ms: int,
) -> dict[str, Any]:
    """A v1.1 tweet object as found in ``tweet_create_events``
    (docs/platforms/x.md, "Payloads PingBack reads").

    ``account`` is the business account whose mentions get entities. Text
    over 140 characters is cut to 140 (ending in ``…``) with
    ``truncated: true``, and the full text goes to ``extended_tweet``.
    """
    truncated = len(text) > LEGACY_TEXT_LIMIT
    short_text = text[: LEGACY_TEXT_LIMIT - 1] + "…" if truncated else text
    reply_name = account.screen_name if in_reply_to_user_id == account.id else None
    tweet: dict[str, Any] = {
        "created_at": v1_created_at(created_ms),
        "id": int(tweet_id),
        "id_str": tweet_id,
        "text": short_text,
        "source": '<a href="https://x.com" rel="nofollow">X Web App</a>',
        "truncated": truncated,
        "in_reply_to_status_id": _int_or_none(in_reply_to_status_id),
        "in_reply_to_status_id_str": in_reply_to_status_id,
        "in_reply_to_user_id": _int_or_none(in_reply_to_user_id),
        "in_reply_to_user_id_str": in_reply_to_user_id,
        "in_reply_to_screen_name": reply_name,
        "user": author.as_v1(),
        "is_quote_status": False,
        "entities": _v1_entities(short_text, account),
    }
    if truncated:
        tweet["extended_tweet"] = {
            "full_text": text,
            "display_text_range": [0, len(text)],
            "entities": _v1_entities(text, account),
        }
    tweet["timestamp_ms"] = str(created_ms)
    return tweet


def _int_or_none(value: str | None) -> int | None:
    """``int(value)`` for a numeric id string, else ``None``."""
    return int(value) if value is not None and value.isdigit() else None


def mention_payload(
    *,
    account: XUser,
    author: XUser,
    text: str,
    tweet_id: str | None = None,
    in_reply_to_status_id: str | None = None,
    in_reply_to_user_id: str | None = None,
    created_ms: int | None = None,
) -> dict[str, Any]:
    """An AAA mention/reply delivery for ``account`` (docs/platforms/x.md,
    "Payloads PingBack reads").

    Shape: ``{"for_user_id", "user_has_blocked": "false",
    "tweet_create_events": [v1.1 tweet]}`` (see :func:`v1_tweet`).
    """
    tweet = v1_tweet(
        account=account,
        author=author,
        text=text,
        tweet_id=tweet_id or new_id(),
        in_reply_to_status_id=in_reply_to_status_id,
        in_reply_to_user_id=in_reply_to_user_id,
        created_ms=now_ms() if created_ms is None else created_ms,
    )
    return {
        "for_user_id": account.id,
        "user_has_blocked": "false",
        "tweet_create_events": [tweet],
    }


# --------------------------------------------------------------------------
# X Activity API envelopes (docs/platforms/x.md, "Webhook registration and
# subscriptions", "Payloads PingBack reads")
# --------------------------------------------------------------------------


def _xaa_envelope(
    account: XUser, event_type: str, payload: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """``{"data": {"event_uuid", "filter", "event_type", "tag", "payload", …}}``."""
    data: dict[str, Any] = {
        "event_uuid": str(uuid.uuid4()),
        "filter": {"user_id": account.id},
        "event_type": event_type,
        "tag": XAA_TAG,
        "payload": payload,
    }
    data.update(extra)
    return {"data": data}


def xaa_dm_received_payload(
    *,
    account: XUser,
    customer: XUser,
    text: str,
    event_id: str | None = None,
    created_ms: int | None = None,
) -> dict[str, Any]:
    """An XAA ``dm.received`` envelope: the customer wrote to ``account``.

    ``data.payload`` holds ``direct_message_events`` (same event as AAA) and
    ``users`` as ``{id: {"data": v2 user}}`` (docs/platforms/x.md, "Payloads
    PingBack reads").
    """
    event = dm_event(
        sender_id=customer.id,
        recipient_id=account.id,
        text=text,
        event_id=event_id,
        created_ms=created_ms,
    )
    users = {user.id: {"data": user.as_v2()} for user in (account, customer)}
    return _xaa_envelope(
        account,
        "dm.received",
        {"direct_message_events": [event], "users": users},
    )


def v2_post(
    *,
    account: XUser,
    author: XUser,
    text: str,
    post_id: str,
    conversation_id: str | None,
    in_reply_to_post_id: str | None,
    created_at: str,
) -> dict[str, Any]:
    """A v2 post object mentioning ``account`` where ``@handle`` occurs
    (docs/platforms/x.md, "Payloads PingBack reads")."""
    mentions = [
        {"start": start, "end": end, "username": account.screen_name, "id": account.id}
        for start, end in _mention_spans(text, account)
    ]
    post: dict[str, Any] = {
        "id": post_id,
        "text": text,
        "author_id": author.id,
        "conversation_id": conversation_id or post_id,
        "created_at": created_at,
        "edit_history_tweet_ids": [post_id],
        "entities": {"mentions": mentions},
    }
    if in_reply_to_post_id is not None:
        post["referenced_tweets"] = [{"type": "replied_to", "id": in_reply_to_post_id}]
    return post


def xaa_mention_payload(
    *,
    account: XUser,
    author: XUser,
    text: str,
    post_id: str | None = None,
    conversation_id: str | None = None,
    in_reply_to_post_id: str | None = None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """An XAA ``post.mention.create`` envelope (docs/platforms/x.md, "Payloads
    PingBack reads").

    ``data.payload`` is a v2 post (see :func:`v2_post`); the author is in
    ``data.includes.users``.
    """
    post = v2_post(
        account=account,
        author=author,
        text=text,
        post_id=post_id or new_id(),
        conversation_id=conversation_id,
        in_reply_to_post_id=in_reply_to_post_id,
        created_at=created_at or iso_timestamp(),
    )
    return _xaa_envelope(
        account,
        "post.mention.create",
        post,
        includes={"users": [author.as_v2()]},
    )

"""In-memory state of the X sandbox, safe to use from several threads.

Everything the fake X remembers lives in :class:`XState`: registered apps,
webhooks, AAA subscriptions, what PingBack sent (DMs and posts), what the
fake customer sent, and the switchable failure modes. Each public method
takes the lock itself; no lock is ever held during network I/O.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from sandbox.core.modes import COUNT, FLAG, SECONDS, Modes
from sandbox.core.records import clear_all
from sandbox.platforms.x.payloads import DEMO_APPS, XApp, iso_timestamp, new_id

DEFAULT_MODES: dict[str, Any] = {
    "credits_depleted": False,
    "rate_limit_next": 0,
    # Seconds from a 429 to the end of its rate-limit window (x-rate-limit-reset).
    "rate_limit_reset_in": 1,
    "server_error_next": 0,
    "crc_check": True,
    "webhook_limit": 1,
    # Seconds a DM send waits, after X has recorded the DM, before answering:
    # a sender killed meanwhile never learns that X accepted it.
    "dm_answer_delay": 0.0,
    # Reads of GET /2/users/:id/mentions and GET /2/dm_events allowed per
    # user per window, and the window in seconds (x-rate-limit-limit and
    # x-rate-limit-reset; X's 15-minute windows).
    "read_limit": 15,
    "read_window": 900,
    # Seconds those reads wait before answering (two overlapping polls).
    "read_delay": 0.0,
}
"""Modes settable with ``POST /_sandbox/x/mode`` and their defaults."""

MODE_CHECKS = {
    "credits_depleted": FLAG,
    "crc_check": FLAG,
    "rate_limit_next": COUNT,
    "rate_limit_reset_in": COUNT,
    "server_error_next": COUNT,
    "webhook_limit": COUNT,
    "read_limit": COUNT,
    "read_window": COUNT,
    "dm_answer_delay": SECONDS,
    "read_delay": SECONDS,
}

CREDITS_DEPLETED = "credits_depleted"


class XApiError(Exception):
    """A refused request; ``message`` is X's code, e.g. ``DuplicateUrlFailed``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class XState:
    """Apps, webhooks, subscriptions, sends and modes of the fake X.

    The lists ``sent_dms``, ``tweets`` and ``inbound`` are public for tests to
    read; shapes:

    - ``sent_dms``: ``{"dm_event_id", "dm_conversation_id", "sender_id",
      "participant_id", "text", "attachments", "received_at"}``, each
      attachment ``{"media_id", "media_type", "media_category", "size",
      "sha256"}`` of the uploaded file;
    - ``tweets``: ``{"id", "author_id", "text", "in_reply_to_tweet_id",
      "received_at"}``;
    - ``inbound`` (what the fake customer sent): ``{"kind": "dm"|"mention",
      "event_id", "account_id", "customer", "text", "in_reply_to_tweet_id",
      "outbound", "created_ms", "sent_at"}`` (``created_ms``: the event's
      time in its payload, epoch milliseconds).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.apps: dict[str, XApp] = {app.consumer_key: app for app in DEMO_APPS}
        self.webhooks: list[dict[str, Any]] = []
        self.subscriptions: list[dict[str, str]] = []
        self.sent_dms: list[dict[str, Any]] = []
        self.tweets: list[dict[str, Any]] = []
        self.inbound: list[dict[str, Any]] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.modes = Modes(DEFAULT_MODES, MODE_CHECKS)
        # (endpoint, user id) -> [window end (epoch seconds), requests made]
        self.read_windows: dict[tuple[str, str], list[int]] = {}

    # ------------------------------------------------------------------ apps

    def register_app(self, app: XApp) -> XApp:
        """Register (or replace, by consumer key) an app and its account."""
        with self.lock:
            self.apps[app.consumer_key] = app
        return app

    def app_list(self) -> list[XApp]:
        """All registered apps, oldest first."""
        with self.lock:
            return list(self.apps.values())

    def app_for_account(self, account_id: str) -> XApp | None:
        """The most recently registered app whose account is ``account_id``."""
        with self.lock:
            matches = [a for a in self.apps.values() if a.account.id == account_id]
        return matches[-1] if matches else None

    # ----------------------------------------------------------------- modes

    def set_modes(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a checked subset of :data:`DEFAULT_MODES`; return all modes."""
        return self.modes.set(changes)

    def get_modes(self) -> dict[str, Any]:
        """A copy of the current modes."""
        return self.modes.get()

    def take_failure(self) -> str | None:
        """Consume one forced failure for an X API call, if any is due.

        Order: ``server_error_next`` (503), ``rate_limit_next`` (429), then
        ``credits_depleted`` (402, not consumed).
        """
        failure = self.modes.take_failure()
        if failure is None and self.modes["credits_depleted"]:
            return CREDITS_DEPLETED
        return failure

    def take_read(self, endpoint: str, user_id: str) -> tuple[int, int, int]:
        """Count one read of ``endpoint`` by ``user_id`` in its rate-limit
        window; return ``(limit, remaining, reset)`` as X's
        ``x-rate-limit-*`` headers give them (``reset`` in epoch seconds).
        ``remaining`` is -1 when the window was already used up: the read
        is refused with 429 and not counted."""
        now = int(time.time())
        with self.lock:
            limit, window = self.modes["read_limit"], self.modes["read_window"]
            record = self.read_windows.get((endpoint, user_id))
            if record is None or record[0] <= now:
                record = [now + window, 0]
                self.read_windows[(endpoint, user_id)] = record
            if record[1] >= limit:
                return limit, -1, record[0]
            record[1] += 1
            return limit, limit - record[1], record[0]

    # -------------------------------------------------------------- webhooks

    def check_new_webhook(self, consumer_key: str, url: str) -> None:
        """Raise :class:`XApiError` if the app may not register ``url``
        (docs/platforms/x.md, "Webhook registration and subscriptions")."""
        with self.lock:
            own = [w for w in self.webhooks if w["consumer_key"] == consumer_key]
            if any(w["url"] == url for w in own):
                raise XApiError("DuplicateUrlFailed")
            if len(own) >= self.modes["webhook_limit"]:
                raise XApiError("WebhookLimitExceeded")

    def add_webhook(self, consumer_key: str, url: str) -> dict[str, Any]:
        """Register a webhook after re-checking the limits; return its record."""
        with self.lock:
            self.check_new_webhook(consumer_key, url)
            webhook = {
                "id": new_id(),
                "url": url,
                "valid": True,
                "created_at": iso_timestamp(),
                "consumer_key": consumer_key,
            }
            self.webhooks.append(webhook)
            return dict(webhook)

    def webhooks_for(self, consumer_key: str) -> list[dict[str, Any]]:
        """The app's webhooks as X lists them (no ``consumer_key``)."""
        with self.lock:
            return [
                _public_webhook(w)
                for w in self.webhooks
                if w["consumer_key"] == consumer_key
            ]

    def find_webhook(self, webhook_id: str, consumer_key: str) -> dict[str, Any] | None:
        """The app's webhook with this id, or ``None``."""
        with self.lock:
            for webhook in self.webhooks:
                if webhook["id"] == webhook_id and webhook["consumer_key"] == (
                    consumer_key
                ):
                    return dict(webhook)
        return None

    def mark_webhook_valid(self, webhook_id: str, valid: bool) -> None:
        """Record the outcome of a re-run CRC."""
        with self.lock:
            for webhook in self.webhooks:
                if webhook["id"] == webhook_id:
                    webhook["valid"] = valid

    def delete_webhook(self, webhook_id: str, consumer_key: str) -> bool:
        """Delete the app's webhook and its subscriptions; False if unknown."""
        with self.lock:
            if self.find_webhook(webhook_id, consumer_key) is None:
                return False
            self.webhooks[:] = [w for w in self.webhooks if w["id"] != webhook_id]
            self.subscriptions[:] = [
                s for s in self.subscriptions if s["webhook_id"] != webhook_id
            ]
            return True

    # --------------------------------------------------------- subscriptions

    def subscribe(self, webhook_id: str, consumer_key: str, user_id: str) -> None:
        """Subscribe an account to the app's webhook (AAA v2, docs/platforms/x.md,
        "Webhook registration and subscriptions").

        Raises :class:`XApiError` ``WebhookIdInvalid`` or
        ``DuplicateSubscriptionFailed``.
        """
        with self.lock:
            if self.find_webhook(webhook_id, consumer_key) is None:
                raise XApiError("WebhookIdInvalid")
            if self.is_subscribed(webhook_id, user_id):
                raise XApiError("DuplicateSubscriptionFailed")
            self.subscriptions.append({"webhook_id": webhook_id, "user_id": user_id})

    def is_subscribed(self, webhook_id: str, user_id: str) -> bool:
        """True when ``user_id`` is subscribed to ``webhook_id``."""
        with self.lock:
            return {"webhook_id": webhook_id, "user_id": user_id} in self.subscriptions

    def subscribers(self, webhook_id: str) -> list[str]:
        """User ids subscribed to a webhook."""
        with self.lock:
            return [
                s["user_id"]
                for s in self.subscriptions
                if s["webhook_id"] == webhook_id
            ]

    def unsubscribe(self, webhook_id: str, user_id: str) -> None:
        """Remove a subscription (no error when it did not exist)."""
        with self.lock:
            self.subscriptions[:] = [
                s
                for s in self.subscriptions
                if (s["webhook_id"], s["user_id"]) != (webhook_id, user_id)
            ]

    def delivery_targets(self, account_id: str) -> list[tuple[str, XApp]]:
        """``(url, owning app)`` of every webhook ``account_id`` is subscribed to."""
        with self.lock:
            hooks = {w["id"]: w for w in self.webhooks}
            targets = []
            for sub in self.subscriptions:
                hook = hooks.get(sub["webhook_id"])
                if sub["user_id"] == account_id and hook is not None:
                    app = self.apps.get(hook["consumer_key"])
                    if app is not None:
                        targets.append((hook["url"], app))
            return targets

    # ----------------------------------------------------------------- sends

    def record_dm(
        self,
        *,
        sender_id: str,
        participant_id: str | None,
        dm_conversation_id: str,
        text: str,
        attachments: list[Any] | None = None,
    ) -> dict[str, Any]:
        """Store a DM PingBack sent; return the record (with a new event id)."""
        record = {
            "dm_event_id": new_id(),
            "dm_conversation_id": dm_conversation_id,
            "sender_id": sender_id,
            "participant_id": participant_id,
            "text": text,
            "attachments": attachments or [],
            "received_at": time.time(),
        }
        with self.lock:
            self.sent_dms.append(record)
        return dict(record)

    def record_tweet(
        self, *, author_id: str, text: str, in_reply_to_tweet_id: str | None
    ) -> dict[str, Any]:
        """Store a post PingBack created; return the record (with a new id)."""
        record = {
            "id": new_id(),
            "author_id": author_id,
            "text": text,
            "in_reply_to_tweet_id": in_reply_to_tweet_id,
            "received_at": time.time(),
        }
        with self.lock:
            self.tweets.append(record)
        return dict(record)

    def put_media(self, path: str, content: bytes, content_type: str) -> None:
        """Serve ``content`` at ``path`` (the path of X's media URL, e.g.
        ``/1.1/ton/data/dm/<dm id>/<media id>/<name>.jpg`` or
        ``/media/<name>.jpg``) until the next reset."""
        with self.lock:
            self.media[path] = (content, content_type)

    def media_file(self, path: str) -> tuple[bytes, str] | None:
        """``(content, content_type)`` put at ``path``, if any."""
        with self.lock:
            return self.media.get(path)

    def start_upload(
        self, *, owner_id: str, media_type: str, total_bytes: int, category: str
    ) -> dict[str, Any]:
        """Open a chunked media upload (``POST /2/media/upload/initialize``);
        return its record ``{"id", "media_key", "owner_id", "media_type",
        "media_category", "total_bytes", "segments", "finalized"}``."""
        media_id = new_id()
        record = {
            "id": media_id,
            "media_key": f"3_{media_id}",
            "owner_id": owner_id,
            "media_type": media_type,
            "media_category": category,
            "total_bytes": total_bytes,
            "segments": {},
            "finalized": False,
        }
        with self.lock:
            self.uploads[media_id] = record
        return dict(record)

    def append_upload(
        self, media_id: str, owner_id: str, index: int, chunk: bytes
    ) -> bool:
        """Store segment ``index`` of an open upload of ``owner_id``; False
        when there is no such open upload."""
        with self.lock:
            record = self.uploads.get(media_id)
            if record is None or record["owner_id"] != owner_id:
                return False
            if record["finalized"]:
                return False
            record["segments"][index] = chunk
            return True

    def finalize_upload(self, media_id: str, owner_id: str) -> dict[str, Any] | str:
        """Join the segments of an upload; return its record (with
        ``content``) or the reason X would refuse it."""
        with self.lock:
            record = self.uploads.get(media_id)
            if record is None or record["owner_id"] != owner_id:
                return f"Media id {media_id} not found."
            segments = record["segments"]
            content = b"".join(segments[i] for i in sorted(segments))
            if len(content) != record["total_bytes"]:
                return (
                    f"Segments total {len(content)} bytes; "
                    f"total_bytes was {record['total_bytes']}."
                )
            record["content"] = content
            record["finalized"] = True
            return dict(record)

    def uploaded(self, media_id: str, owner_id: str) -> dict[str, Any] | None:
        """A finalized upload of ``owner_id``, if any."""
        with self.lock:
            record = self.uploads.get(media_id)
            if record is None or record["owner_id"] != owner_id:
                return None
            return dict(record) if record["finalized"] else None

    def record_inbound(self, record: dict[str, Any]) -> None:
        """Store what the fake customer sent (see the class docstring)."""
        with self.lock:
            self.inbound.append({**record, "sent_at": time.time()})

    def tweet_author(self, tweet_id: str) -> str | None:
        """Author id of a post PingBack or the fake customer created."""
        with self.lock:
            for tweet in self.tweets:
                if tweet["id"] == tweet_id:
                    return tweet["author_id"]
            for event in self.inbound:
                if event["kind"] == "mention" and event["event_id"] == tweet_id:
                    return event["customer"]["id"]
        return None

    def conversation_root(self, tweet_id: str) -> str:
        """Follow known reply links up from ``tweet_id`` to the first post."""
        with self.lock:
            parents = {t["id"]: t["in_reply_to_tweet_id"] for t in self.tweets}
            parents.update(
                (e["event_id"], e.get("in_reply_to_tweet_id"))
                for e in self.inbound
                if e["kind"] == "mention"
            )
        current, seen = tweet_id, set()
        while parents.get(current) and current not in seen:
            seen.add(current)
            current = parents[current]
        return current

    # ---------------------------------------------------------- housekeeping

    def reset(self) -> None:
        """Clear webhooks, subscriptions, sends and modes; keep the apps."""
        with self.lock:
            clear_all(self.webhooks, self.subscriptions, self.sent_dms, self.tweets)
            clear_all(self.inbound, self.media, self.uploads, self.read_windows)
            self.modes.reset()

    def snapshot(self) -> dict[str, Any]:
        """Everything but secrets, as ``GET /_sandbox/x/state`` returns it."""
        with self.lock:
            return copy.deepcopy(
                {
                    "apps": [
                        {
                            "consumer_key": a.consumer_key,
                            "account": a.account.as_public(),
                        }
                        for a in self.apps.values()
                    ],
                    "webhooks": self.webhooks,
                    "subscriptions": self.subscriptions,
                    "sent_dms": self.sent_dms,
                    "tweets": self.tweets,
                    "inbound": self.inbound,
                    "modes": self.modes.get(),
                }
            )


def _public_webhook(webhook: dict[str, Any]) -> dict[str, Any]:
    """A webhook record without the sandbox-internal ``consumer_key``."""
    return {key: value for key, value in webhook.items() if key != "consumer_key"}

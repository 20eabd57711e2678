"""In-memory state of the WhatsApp stand-in, safe to use from several threads.

:class:`WhatsAppState` holds the business numbers it knows, the media it
issued (customers' files and PingBack's uploads), what PingBack sent, what
customers sent, each customer's last message time (the 24-hour window), the
webhook subscriptions set up in the "Meta dashboard", the deliveries made to
them and the failure modes. Each public method takes the lock; no lock is held
during network I/O.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from sandbox.core.modes import COUNT, SECONDS, Modes, one_of
from sandbox.core.records import pick
from sandbox.platforms.meta import Subscription
from sandbox.platforms.whatsapp.payloads import DEMO_NUMBER, BusinessNumber

WINDOW_SECONDS = 24 * 3600
"""How long after a customer's last message free-form messages are allowed."""

DEFAULT_MODES: dict[str, Any] = {
    "rate_limit_next": 0,
    "server_error_next": 0,
    "auto_statuses": [],
    "status_delay": 0.2,
    "window_errors": "response",
}
"""Modes settable with `POST /_sandbox/whatsapp/mode` and their defaults:

- `rate_limit_next`, `server_error_next`: how many coming sends fail with
  130429 (429) or 131000 (500);
- `auto_statuses`: statuses (`sent`, `delivered`, `read`) emitted by webhook
  `status_delay` seconds after each accepted send;
- `window_errors`: how a free-form send outside the 24-hour window fails:
  `response` (a 400 with 131047) or `status` (accepted, then a `failed`
  status with 131047), as Meta does both (docs/platforms/whatsapp.md, "The
  24-hour customer service window").
"""

AUTO_STATUSES = ("sent", "delivered", "read")
MODE_CHECKS = {
    "rate_limit_next": COUNT,
    "server_error_next": COUNT,
    "auto_statuses": (
        lambda value: (
            isinstance(value, list) and all(status in AUTO_STATUSES for status in value)
        ),
        "must be a list of sent, delivered, read",
    ),
    "status_delay": SECONDS,
    "window_errors": one_of(("response", "status"), "must be response or status"),
}


@dataclass(frozen=True)
class StoredMedia:
    """A file the stand-in holds under `media_id`, owned by one number:
    a customer's (`origin` customer) or one PingBack uploaded."""

    media_id: str
    phone_number_id: str
    content: bytes
    mime_type: str
    filename: str
    origin: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def as_public(self) -> dict[str, Any]:
        names = ("phone_number_id", "mime_type", "filename", "sha256", "origin")
        return {**pick(self, *names, id="media_id"), "file_size": len(self.content)}


class WhatsAppState:
    """Numbers, media, sends, customer messages, windows, subscriptions and
    modes of the fake Cloud API.

    Public lists for tests to read (copies via :meth:`snapshot`):

    - `sends`: `{wamid, phone_number_id, to, type, text, media_id, filename,
      template: {name, language, parameters}|None, context_message_id,
      payload, window_error, received_at}`;
    - `inbound`: `{message_id, phone_number_id, wa_id, name, type, text,
      media_id, sent_at}`;
    - `deliveries`: `{kind, url, status_code, body}` for each webhook POST.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.numbers: dict[str, BusinessNumber] = {
            DEMO_NUMBER.phone_number_id: DEMO_NUMBER
        }
        self.media: dict[str, StoredMedia] = {}
        self.sends: list[dict[str, Any]] = []
        self.inbound: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.subscriptions: dict[str, Subscription] = {}
        self.last_customer_message: dict[tuple[str, str], float] = {}
        self.modes = Modes(DEFAULT_MODES, MODE_CHECKS)

    # --------------------------------------------------------------- numbers

    def register_number(self, number: BusinessNumber) -> None:
        """Add (or replace, by phone number id) a business number."""
        with self.lock:
            self.numbers[number.phone_number_id] = number

    def number(self, phone_number_id: str) -> BusinessNumber | None:
        with self.lock:
            return self.numbers.get(phone_number_id)

    def knows_token(self, token: str) -> bool:
        """Whether `token` is the access token of any registered number."""
        with self.lock:
            return any(n.access_token == token for n in self.numbers.values())

    # ----------------------------------------------------------------- media

    def add_media(self, media: StoredMedia) -> None:
        with self.lock:
            self.media[media.media_id] = media

    def media_item(self, media_id: str) -> StoredMedia | None:
        with self.lock:
            return self.media.get(media_id)

    # ------------------------------------------------------ customers, window

    def record_inbound(self, record: dict[str, Any]) -> None:
        """Store what a customer sent; it opens (restarts) their window."""
        with self.lock:
            self.inbound.append(record)
            key = (record["phone_number_id"], record["wa_id"])
            self.last_customer_message[key] = record["sent_at"]

    def set_last_customer_message(
        self, phone_number_id: str, wa_id: str, at: float
    ) -> None:
        """Pretend the customer last wrote at `at` (epoch seconds)."""
        with self.lock:
            self.last_customer_message[(phone_number_id, wa_id)] = at

    def window_open(self, phone_number_id: str, wa_id: str) -> bool:
        """Whether the customer wrote to the number in the last 24 hours."""
        with self.lock:
            last = self.last_customer_message.get((phone_number_id, wa_id))
        return last is not None and time.time() - last < WINDOW_SECONDS

    # ----------------------------------------------------------------- sends

    def record_send(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.sends.append(record)

    def find_send(self, wamid: str) -> dict[str, Any] | None:
        with self.lock:
            for record in self.sends:
                if record["wamid"] == wamid:
                    return copy.deepcopy(record)
        return None

    # ------------------------------------------------------- subscriptions

    def subscribe(self, phone_number_id: str, subscription: Subscription) -> None:
        """The app's callback for the number's events (one per number)."""
        with self.lock:
            self.subscriptions[phone_number_id] = subscription

    def subscription(self, phone_number_id: str) -> Subscription | None:
        with self.lock:
            return self.subscriptions.get(phone_number_id)

    def record_delivery(self, kind: str, result: dict[str, Any]) -> None:
        with self.lock:
            self.deliveries.append({"kind": kind, **result})

    # ------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """Everything as JSON, without tokens, app secrets or file bytes."""
        with self.lock:
            return {
                "numbers": [n.as_public() for n in self.numbers.values()],
                "subscriptions": [
                    {
                        "phone_number_id": phone_number_id,
                        "callback_url": s.callback_url,
                    }
                    for phone_number_id, s in self.subscriptions.items()
                ],
                "media": [m.as_public() for m in self.media.values()],
                "sends": copy.deepcopy(self.sends),
                "inbound": copy.deepcopy(self.inbound),
                "windows": [
                    {"phone_number_id": pid, "wa_id": wa_id, "last_message_at": at}
                    for (pid, wa_id), at in self.last_customer_message.items()
                ],
                "deliveries": copy.deepcopy(self.deliveries),
                "modes": self.modes.get(),
            }

    def reset(self) -> None:
        """Forget media, sends, customers, windows, subscriptions, deliveries
        and modes; keep the registered numbers."""
        with self.lock:
            self.media.clear()
            self.sends.clear()
            self.inbound.clear()
            self.deliveries.clear()
            self.subscriptions.clear()
            self.last_customer_message.clear()
            self.modes.reset()

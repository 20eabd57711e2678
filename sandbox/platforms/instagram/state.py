"""In-memory state of the Instagram stand-in, safe to use from several threads.

:class:`InstagramState` holds the registered Pages (with their Instagram
accounts, tokens and app secrets), the customers who may be written to, what
PingBack sent, the dashboard subscriptions (callback URL + verify token + app
secret) and Page subscriptions, customer media served at
``/_media/instagram/<asset id>``, the deliveries made, and the failure modes.
Each public method takes the lock itself; no lock is held during network I/O.
"""

from __future__ import annotations

import copy
import secrets
import threading
from typing import Any

from sandbox.core.modes import COUNT, FLAG, Modes, one_of
from sandbox.platforms.instagram.payloads import (
    DEMO_ACCOUNT,
    DEMO_CUSTOMER_ID,
    InstagramAccount,
)
from sandbox.platforms.meta import Subscription

WINDOWS = ("open", "human_agent", "closed")
"""Messaging window modes: ``open`` (inside 24 h), ``human_agent`` (past 24 h:
only sends tagged HUMAN_AGENT go through), ``closed`` (past 7 days)."""

DEFAULT_MODES: dict[str, Any] = {
    "rate_limit_next": 0,
    "server_error_next": 0,
    "window": "open",
    "echo": True,
}
"""Modes settable with ``POST /_sandbox/instagram/mode`` and their defaults:
the next N sends answer a rate limit or a server error; the messaging window;
whether each send is echoed back as an ``is_echo`` webhook."""

MODE_CHECKS = {
    "rate_limit_next": COUNT,
    "server_error_next": COUNT,
    "window": one_of(WINDOWS, f"must be one of {WINDOWS}"),
    "echo": FLAG,
}


class InstagramState:
    """Everything the Instagram stand-in remembers. The demo account and its
    customer are registered at construction and survive :meth:`reset`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._accounts: dict[str, InstagramAccount] = {}
        self._customers: dict[str, set[str]] = {}
        self.modes = Modes(DEFAULT_MODES, MODE_CHECKS)
        self._reset_unlocked()
        self.register(DEMO_ACCOUNT, customers=(DEMO_CUSTOMER_ID,))

    def _reset_unlocked(self) -> None:
        self.modes.reset()
        self.sends: list[dict[str, Any]] = []
        self.page_subscriptions: dict[str, list[str]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.media: dict[str, tuple[bytes, str]] = {}
        self.inbound: list[dict[str, Any]] = []
        self.echoes: list[dict[str, Any]] = []

    def reset(self) -> None:
        """Forget sends, subscriptions, media, deliveries and modes."""
        with self._lock:
            self._reset_unlocked()

    # -------------------------------------------------------------- accounts

    def register(
        self, account: InstagramAccount, customers: tuple[str, ...] = ()
    ) -> None:
        """Register a Page and its Instagram account, and customers who have
        written to it (the only recipients a send may name)."""
        with self._lock:
            self._accounts[account.page_id] = account
            self._customers.setdefault(account.page_id, set()).update(customers)

    def account(self, page_id: str) -> InstagramAccount | None:
        """The account of a registered Page id."""
        with self._lock:
            return self._accounts.get(page_id)

    def account_for_token(self, token: str) -> InstagramAccount | None:
        """The account whose Page access token is ``token`` (constant-time)."""
        with self._lock:
            accounts = list(self._accounts.values())
        for account in accounts:
            if secrets.compare_digest(account.access_token, token):
                return account
        return None

    def add_customer(self, page_id: str, customer_id: str) -> None:
        """Remember that ``customer_id`` wrote to the Page's account."""
        with self._lock:
            self._customers.setdefault(page_id, set()).add(customer_id)

    def knows_customer(self, page_id: str, customer_id: str) -> bool:
        """Whether ``customer_id`` may be written to from the Page."""
        with self._lock:
            return customer_id in self._customers.get(page_id, set())

    # ---------------------------------------------------------- subscriptions

    def subscribe_page(self, page_id: str, fields: list[str]) -> None:
        """Record ``POST /{page_id}/subscribed_apps``."""
        with self._lock:
            self.page_subscriptions[page_id] = fields

    def unsubscribe_page(self, page_id: str) -> None:
        """Record ``DELETE /{page_id}/subscribed_apps``."""
        with self._lock:
            self.page_subscriptions.pop(page_id, None)

    def is_page_subscribed(self, page_id: str) -> bool:
        """Whether the app is subscribed to the Page's webhooks."""
        with self._lock:
            return page_id in self.page_subscriptions

    def add_subscription(self, subscription: Subscription) -> None:
        """Keep a callback the dashboard verified (one per callback URL)."""
        with self._lock:
            self.subscriptions[subscription.callback_url] = subscription

    def subscription_list(self) -> list[Subscription]:
        """The verified callbacks."""
        with self._lock:
            return list(self.subscriptions.values())

    # ------------------------------------------------------- records and media

    def record_send(self, send: dict[str, Any]) -> None:
        """Record a message PingBack sent."""
        with self._lock:
            self.sends.append(send)

    def last_send_to(self, page_id: str, customer_id: str) -> dict[str, Any] | None:
        """The newest send from the Page to the customer."""
        with self._lock:
            for send in reversed(self.sends):
                if send["page_id"] == page_id and send["recipient_id"] == customer_id:
                    return dict(send)
        return None

    def record_inbound(self, record: dict[str, Any]) -> None:
        """Record a customer action delivered to the callbacks."""
        with self._lock:
            self.inbound.append(record)

    def record_echo(self, record: dict[str, Any]) -> None:
        """Record the delivery of an echo of one of PingBack's sends."""
        with self._lock:
            self.echoes.append(record)

    def add_media(self, content: bytes, content_type: str) -> str:
        """Store a customer's file; return its asset id."""
        asset_id = secrets.token_hex(12)
        with self._lock:
            self.media[asset_id] = (content, content_type)
        return asset_id

    def get_media(self, asset_id: str) -> tuple[bytes, str] | None:
        """A stored customer file and its content type."""
        with self._lock:
            return self.media.get(asset_id)

    def snapshot(self) -> dict[str, Any]:
        """Accounts, subscriptions, sends, deliveries and modes; no tokens or
        secrets."""
        with self._lock:
            return copy.deepcopy(
                {
                    "accounts": [a.as_public() for a in self._accounts.values()],
                    "page_subscriptions": self.page_subscriptions,
                    "subscriptions": [
                        {"callback_url": s.callback_url, "signed": bool(s.app_secret)}
                        for s in self.subscriptions.values()
                    ],
                    "sends": self.sends,
                    "inbound": self.inbound,
                    "echoes": self.echoes,
                    "modes": self.modes.get(),
                }
            )

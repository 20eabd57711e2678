"""What the Telegram stand-in remembers: bots, webhooks, chats, files, sends.

Standard library only. :class:`TelegramState` is shared by the Bot API
handlers (:mod:`sandbox.platforms.telegram.api`) and the customer side
(:mod:`sandbox.platforms.telegram.customer`); every public method takes the lock itself,
and no lock is held during network I/O. References are to
docs/platforms/telegram.md.
"""

from __future__ import annotations

import copy
import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sandbox.core.modes import COUNT, FLAG, RATE_LIMITED, Modes
from sandbox.core.records import clear_all, pick

TOKEN_FORMAT = re.compile(r"\d+:[A-Za-z0-9_-]+")
"""A well-formed bot token; Telegram answers 404 for others, 401 for unknown
well-formed ones (python-telegram-bot's notes in ``request/_baserequest.py``)."""

DEFAULT_MODES: dict[str, Any] = {
    "flood_next": 0,
    "flood_retry_after": 3,
    "server_error_next": 0,
    "blocked_by_user": False,
    "failing_method": "",
}
"""Modes set with ``POST /_sandbox/telegram/mode``: the next ``flood_next``
sends or file fetches get 429 with ``retry_after`` = ``flood_retry_after``
seconds, the next ``server_error_next`` get 500, and while
``blocked_by_user`` every send gets 403 "bot was blocked by the user".
``failing_method`` (e.g. ``sendDocument``) limits these to one method
(``setWebhook`` fails only when named so)."""

MODE_CHECKS = {
    "flood_next": COUNT,
    "flood_retry_after": COUNT,
    "server_error_next": COUNT,
    "blocked_by_user": FLAG,
    "failing_method": (
        lambda value: isinstance(value, str),
        "must be a method name or ''",
    ),
}

BLOCKED = "blocked"


@dataclass(frozen=True)
class TelegramBot:
    """A bot as @BotFather creates it: its token is ``<bot id>:<secret>``."""

    token: str
    username: str
    first_name: str

    @property
    def id(self) -> int:
        """The bot's user id, the token's first part."""
        return int(self.token.split(":", 1)[0])

    def as_user(self) -> dict[str, Any]:
        """The ``getMe`` User object (Bot API, User)."""
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


@dataclass(frozen=True)
class TelegramCustomer:
    """A person writing to a bot; their private chat's id is their user id."""

    id: int
    first_name: str
    last_name: str = ""
    username: str = ""
    language_code: str = "en"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TelegramCustomer:
        """Build from ``{"id", "first_name", ["last_name"], ["username"]}``;
        ``ValueError`` when the id is not a positive integer or the first name
        is missing."""
        user_id = data.get("id")
        if isinstance(user_id, str) and user_id.isdigit():
            user_id = int(user_id)
        if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
            raise ValueError("customer.id must be a positive integer")
        first_name = data.get("first_name")
        if not isinstance(first_name, str) or not first_name:
            raise ValueError("customer.first_name must be a non-empty string")
        return cls(
            id=user_id,
            first_name=first_name,
            last_name=str(data.get("last_name") or ""),
            username=str(data.get("username") or ""),
        )

    def as_user(self) -> dict[str, Any]:
        """The Message ``from`` User object."""
        user: dict[str, Any] = {
            "id": self.id,
            "is_bot": False,
            "first_name": self.first_name,
        }
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        user["language_code"] = self.language_code
        return user

    def as_chat(self) -> dict[str, Any]:
        """The Message ``chat`` object of the private chat with this person."""
        chat: dict[str, Any] = {"id": self.id, "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        chat["type"] = "private"
        return chat

    def as_public(self) -> dict[str, Any]:
        """``{"id", "first_name", "last_name", "username"}``."""
        return pick(self, "id", "first_name", "last_name", "username")


@dataclass(frozen=True)
class TelegramGroup:
    """A group or supergroup the bot is in (Bot API, Chat): its id is
    negative, and the bot may post in it once it is a member."""

    id: int
    title: str
    type: str = "supergroup"

    def as_chat(self) -> dict[str, Any]:
        """The Message ``chat`` object of the group."""
        return {"id": self.id, "title": self.title, "type": self.type}


@dataclass(frozen=True)
class StoredFile:
    """A file Telegram holds for a bot: ``file_path`` is what ``getFile``
    answers and what the download URL ends with."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    bot_token: str

    def as_photo_size(self, width: int, height: int) -> dict[str, Any]:
        """A PhotoSize object for this file (one size of a photo)."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "width": width,
            "height": height,
        }

    def as_file(self) -> dict[str, Any]:
        """The ``getFile`` File object."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


class TelegramState:
    """Bots, webhooks, chats, files, sends, customer messages and modes.

    ``sent`` (what bots sent through the API) and ``inbound`` (what customers
    sent) are public for tests; see :meth:`record_send` and
    :meth:`record_inbound` for their shapes.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.bots: dict[str, TelegramBot] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.chats: dict[str, dict[int, TelegramCustomer | TelegramGroup]] = {}
        self.files: dict[str, StoredFile] = {}
        self.messages: dict[tuple[str, int, int], dict[str, Any]] = {}
        self.updates: dict[tuple[str, int], dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []
        self.inbound: list[dict[str, Any]] = []
        self.modes = Modes(DEFAULT_MODES, MODE_CHECKS, rate_limit="flood_next")
        # Ids keep growing across resets, as Telegram's do.
        self._update_ids = itertools.count(700_000_001)
        self._message_ids: dict[tuple[str, int], int] = {}
        self._file_numbers = itertools.count(1)

    def reset(self) -> None:
        """Forget webhooks, chats, files, sends and modes; keep the bots."""
        with self.lock:
            clear_all(self.webhooks, self.chats, self.files, self.messages)
            clear_all(self.updates, self.sent, self.inbound)
            self.modes.reset()

    # ------------------------------------------------------------------ bots

    def register_bot(self, bot: TelegramBot) -> TelegramBot:
        """Register (or replace, by token) a bot."""
        if not TOKEN_FORMAT.fullmatch(bot.token):
            raise ValueError(
                f"a bot token looks like 123456:ABC-DEF, not {bot.token!r}"
            )
        with self.lock:
            self.bots[bot.token] = bot
        return bot

    def bot(self, token: str) -> TelegramBot | None:
        """The bot with this token, if registered."""
        with self.lock:
            return self.bots.get(token)

    def bot_named(self, username: str) -> TelegramBot | None:
        """The bot with this username (without ``@``), if registered."""
        with self.lock:
            for bot in self.bots.values():
                if bot.username.lower() == username.lower().lstrip("@"):
                    return bot
        return None

    # -------------------------------------------------------------- webhooks

    def set_webhook(
        self, token: str, url: str, secret_token: str, allowed_updates: list[str]
    ) -> None:
        """Record ``setWebhook``; an empty ``url`` removes the webhook."""
        with self.lock:
            if not url:
                self.webhooks.pop(token, None)
                return
            self.webhooks[token] = {
                "url": url,
                "secret_token": secret_token,
                "allowed_updates": allowed_updates,
                "set_at": time.time(),
                "last_error_date": None,
                "last_error_message": "",
            }

    def delete_webhook(self, token: str) -> bool:
        """Remove the bot's webhook; whether there was one."""
        with self.lock:
            return self.webhooks.pop(token, None) is not None

    def webhook(self, token: str) -> dict[str, Any] | None:
        """A copy of the bot's webhook registration, secret included."""
        with self.lock:
            found = self.webhooks.get(token)
            return dict(found) if found else None

    def record_delivery_error(self, token: str, message: str) -> None:
        """Remember a failed delivery, as ``getWebhookInfo`` reports it."""
        with self.lock:
            found = self.webhooks.get(token)
            if found is not None:
                found["last_error_date"] = int(time.time())
                found["last_error_message"] = message

    # ----------------------------------------------------------------- chats

    def open_chat(self, token: str, customer: TelegramCustomer) -> None:
        """The customer started a private chat with the bot, which may now
        message them (Telegram answers "chat not found" otherwise)."""
        with self.lock:
            self.chats.setdefault(token, {})[customer.id] = customer

    def open_group(self, token: str, group: TelegramGroup) -> None:
        """The bot was added to ``group``: it may now post there."""
        with self.lock:
            self.chats.setdefault(token, {})[group.id] = group

    def chat(self, token: str, chat_id: int) -> TelegramCustomer | TelegramGroup | None:
        """The customer of the bot's private chat ``chat_id``, or the group
        of that id, if open."""
        with self.lock:
            return self.chats.get(token, {}).get(chat_id)

    def next_update_id(self) -> int:
        """A fresh ``update_id`` (they grow one by one)."""
        with self.lock:
            return next(self._update_ids)

    def next_message_id(self, token: str, chat_id: int) -> int:
        """The next ``message_id`` of a chat; ids count up per chat."""
        with self.lock:
            key = (token, chat_id)
            self._message_ids[key] = self._message_ids.get(key, 0) + 1
            return self._message_ids[key]

    def remember_message(self, token: str, message: dict[str, Any]) -> None:
        """Keep a customer's message so it can be edited later."""
        with self.lock:
            key = (token, message["chat"]["id"], message["message_id"])
            self.messages[key] = copy.deepcopy(message)

    def message(
        self, token: str, chat_id: int, message_id: int
    ) -> dict[str, Any] | None:
        """A copy of a customer's message, if known."""
        with self.lock:
            found = self.messages.get((token, chat_id, message_id))
            return copy.deepcopy(found) if found else None

    def last_message_id(self, token: str, chat_id: int) -> int | None:
        """The customer's newest message in the chat, if any."""
        with self.lock:
            ids = [m for t, c, m in self.messages if (t, c) == (token, chat_id)]
        return max(ids) if ids else None

    def remember_update(self, token: str, update: dict[str, Any]) -> None:
        """Keep an Update so it can be redelivered unchanged."""
        with self.lock:
            self.updates[(token, update["update_id"])] = copy.deepcopy(update)

    def update(self, token: str, update_id: int) -> dict[str, Any] | None:
        """A copy of an Update sent before, if known."""
        with self.lock:
            found = self.updates.get((token, update_id))
            return copy.deepcopy(found) if found else None

    # ----------------------------------------------------------------- files

    def store_file(
        self, token: str, folder: str, extension: str, content: bytes
    ) -> StoredFile:
        """Keep a file for the bot under ``<folder>/file_<n>.<extension>``."""
        with self.lock:
            number = next(self._file_numbers)
        stored = StoredFile(
            file_id="BQACAgIAAxkBAAI" + secrets.token_urlsafe(36),
            file_unique_id="AgAD" + secrets.token_urlsafe(9),
            file_path=f"{folder}/file_{number}.{extension}",
            content=content,
            bot_token=token,
        )
        with self.lock:
            self.files[stored.file_id] = stored
        return stored

    def file(self, token: str, file_id: str) -> StoredFile | None:
        """A file of this bot by ``file_id`` (file ids are per bot)."""
        with self.lock:
            found = self.files.get(file_id)
        return found if found is not None and found.bot_token == token else None

    def file_at(self, token: str, file_path: str) -> StoredFile | None:
        """A file of this bot by ``file_path`` (the download URL's end)."""
        with self.lock:
            for stored in self.files.values():
                if stored.bot_token == token and stored.file_path == file_path:
                    return stored
        return None

    # ----------------------------------------------------------------- modes

    def take_failure(self, method: str, *, is_send: bool) -> tuple[str, int] | None:
        """The forced failure for this send or file fetch, if any:
        ``(kind, retry_after)``; counting modes are used up one by one."""
        only = self.modes["failing_method"]
        if only and only.lower() != method.lower():
            return None
        failure = self.modes.take_failure()
        if failure == RATE_LIMITED:
            return failure, self.modes["flood_retry_after"]
        if failure is not None:
            return failure, 0
        if is_send and self.modes["blocked_by_user"]:
            return BLOCKED, 0
        return None

    # --------------------------------------------------------------- records

    def record_send(self, record: dict[str, Any]) -> None:
        """Keep what a bot sent: ``{"method", "bot", "chat_id", "message_id",
        "text", "caption", "file_name", "file_size", "content_type",
        "sent_at"}`` (file keys for sendPhoto / sendDocument only)."""
        with self.lock:
            self.sent.append(record)

    def record_inbound(self, record: dict[str, Any]) -> None:
        """Keep what a customer sent: ``{"kind", "bot", "customer",
        "update_id", "message_id", "text", "delivery", "sent_at"}``."""
        with self.lock:
            self.inbound.append(record)

    def snapshot(self) -> dict[str, Any]:
        """Bots, webhooks, sends, customer messages and modes, without tokens
        or secrets."""
        with self.lock:
            names = {token: bot.username for token, bot in self.bots.items()}
            return {
                "bots": [
                    {
                        "id": bot.id,
                        "username": bot.username,
                        "first_name": bot.first_name,
                    }
                    for bot in self.bots.values()
                ],
                "webhooks": [
                    {
                        "bot": names.get(token, ""),
                        "url": hook["url"],
                        "allowed_updates": list(hook["allowed_updates"]),
                        "has_secret_token": bool(hook["secret_token"]),
                        "last_error_message": hook["last_error_message"],
                    }
                    for token, hook in self.webhooks.items()
                ],
                "sent": copy.deepcopy(self.sent),
                "inbound": copy.deepcopy(self.inbound),
                "modes": self.modes.get(),
            }

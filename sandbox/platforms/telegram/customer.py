"""The Telegram stand-in acting for a customer: Updates built and delivered as
Telegram does (docs/platforms/telegram.md, "Webhook setup and secret token",
"Updates PingBack reads").

:func:`send_customer_message` builds the Update for what the customer does
(text, photo, document, voice, location, or an edit of an earlier message),
stores the customer's files so ``getFile`` and downloads serve them, and POSTs
the Update as JSON to the bot's webhook with the
``X-Telegram-Bot-Api-Secret-Token`` header. :func:`redeliver` POSTs an Update
sent before again, unchanged, as Telegram does after a failed delivery.
"""

from __future__ import annotations

import base64
import binascii
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

from sandbox.core.delivery import json_bytes, post
from sandbox.core.standin import ControlError
from sandbox.platforms.telegram.api import Upload
from sandbox.platforms.telegram.state import (
    StoredFile,
    TelegramBot,
    TelegramCustomer,
    TelegramState,
)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
KINDS = ("text", "photo", "document", "voice", "location", "edit")


def sample_png(width: int = 64, height: int = 48) -> bytes:
    """A small blue PNG, the photo a customer sends when none is given."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)

    row = b"\x00" + b"\x1d\x9b\xf0" * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


SAMPLE_FILES = {
    "photo": Upload("photo.png", "image/png", sample_png()),
    "document": Upload(
        "receipt-4411.txt", "text/plain", b"Order 4411\nPaid: 42.00 EUR\n"
    ),
    "voice": Upload("voice.oga", "audio/ogg", b"OggS\x00\x02" + bytes(58)),
}
"""What the customer sends when a photo, document or voice note comes
without a file."""


@dataclass(frozen=True)
class CustomerMessage:
    """What the customer does.

    ``kind`` is one of :data:`KINDS`; ``text`` is the text, the caption of a
    file, or an edit's new text; ``file`` the file of a photo, document or
    voice note (a sample when absent); ``message_id`` the message an edit
    changes (default: the customer's newest); ``reply_to_message_id`` the
    message quoted.
    """

    kind: str
    text: str = ""
    customer: TelegramCustomer | None = None
    bot_username: str = ""
    file: Upload | None = None
    latitude: float = 0.0
    longitude: float = 0.0
    message_id: int | None = None
    reply_to_message_id: int | None = None

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], file: Upload | None = None
    ) -> CustomerMessage:
        """Parse a ``/_sandbox/telegram/customer/message`` body (JSON, or the
        demo page's form fields); ``ValueError`` when it is not usable.

        ``{"kind", "text", "customer": {"id", "first_name", …}, "bot",
        "file": {"name", "content_type", "content_base64"}, "latitude",
        "longitude", "message_id", "reply_to_message_id"}``; ``kind`` defaults
        to ``text``.
        """
        kind = str(data.get("kind") or "text")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        text = data.get("text") or ""
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        if kind in ("text", "edit") and not text.strip():
            raise ValueError(f"a {kind} needs a non-empty text")
        customer = data.get("customer")
        if file is None and isinstance(data.get("file"), dict):
            file = _file_from_json(data["file"])
        return cls(
            kind=kind,
            text=text,
            customer=TelegramCustomer.from_dict(customer) if customer else None,
            bot_username=str(data.get("bot") or ""),
            file=file,
            latitude=_number(data, "latitude", kind == "location"),
            longitude=_number(data, "longitude", kind == "location"),
            message_id=_optional_int(data, "message_id"),
            reply_to_message_id=_optional_int(data, "reply_to_message_id"),
        )


def _file_from_json(data: dict[str, Any]) -> Upload:
    try:
        content = base64.b64decode(str(data["content_base64"]), validate=True)
    except (KeyError, binascii.Error) as exc:
        raise ValueError("file.content_base64 must be base64") from exc
    return Upload(
        filename=str(data.get("name") or "file"),
        content_type=str(data.get("content_type") or "application/octet-stream"),
        content=content,
    )


def _number(data: dict[str, Any], key: str, required: bool) -> float:
    value = data.get(key)
    if value in (None, ""):
        if required:
            raise ValueError(f"a location needs {key}")
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{key} must be a number") from exc


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{key} must be an integer") from exc


# --------------------------------------------------------------------------
# Building Updates (Bot API: Update, Message)
# --------------------------------------------------------------------------


def _store(
    state: TelegramState, bot: TelegramBot, folder: str, upload: Upload
) -> StoredFile:
    extension = upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else "bin"
    return state.store_file(bot.token, folder, extension, upload.content)


def _content(
    state: TelegramState, bot: TelegramBot, action: CustomerMessage
) -> dict[str, Any]:
    """The Message fields carrying what the customer sent."""
    if action.kind == "text":
        fields: dict[str, Any] = {"text": action.text}
        if action.text.startswith("/"):
            command = action.text.split()[0]
            fields["entities"] = [
                {"offset": 0, "length": len(command), "type": "bot_command"}
            ]
        return fields
    if action.kind == "location":
        return {
            "location": {"latitude": action.latitude, "longitude": action.longitude}
        }
    upload = action.file or SAMPLE_FILES[action.kind]
    if action.kind == "photo":
        # Telegram keeps photos as JPEG in several sizes, smallest first.
        full = state.store_file(bot.token, "photos", "jpg", upload.content)
        thumbnail = state.store_file(bot.token, "photos", "jpg", upload.content[:256])
        fields = {
            "photo": [
                thumbnail.as_photo_size(90, 67),
                full.as_photo_size(1280, 960),
            ]
        }
    elif action.kind == "voice":
        stored = _store(state, bot, "voice", upload)
        fields = {
            "voice": {
                "duration": 3,
                "mime_type": "audio/ogg",
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(upload.content),
            }
        }
    else:
        stored = _store(state, bot, "documents", upload)
        fields = {
            "document": {
                "file_name": upload.filename,
                "mime_type": upload.content_type,
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(upload.content),
            }
        }
    if action.text:
        fields["caption"] = action.text
    return fields


def _new_message(
    state: TelegramState,
    bot: TelegramBot,
    customer: TelegramCustomer,
    action: CustomerMessage,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": state.next_message_id(bot.token, customer.id),
        "from": customer.as_user(),
        "chat": customer.as_chat(),
        "date": int(time.time()),
    }
    if action.reply_to_message_id is not None:
        quoted = state.message(bot.token, customer.id, action.reply_to_message_id)
        message["reply_to_message"] = quoted or {
            "message_id": action.reply_to_message_id,
            "from": bot.as_user(),
            "chat": customer.as_chat(),
            "date": int(time.time()),
        }
    message.update(_content(state, bot, action))
    return message


def _edited_message(
    state: TelegramState,
    bot: TelegramBot,
    customer: TelegramCustomer,
    action: CustomerMessage,
) -> dict[str, Any]:
    message_id = action.message_id or state.last_message_id(bot.token, customer.id)
    original = state.message(bot.token, customer.id, message_id) if message_id else None
    if original is None:
        raise ControlError(404, "there is no customer message to edit")
    if "text" in original:
        field = "text"
    elif {"photo", "document", "voice"} & set(original):
        field = "caption"
    else:
        raise ControlError(400, f"message {message_id} has no text or caption to edit")
    original.pop("entities", None)
    original[field] = action.text
    original["edit_date"] = int(time.time())
    return original


# --------------------------------------------------------------------------
# Delivering
# --------------------------------------------------------------------------


def deliver(
    state: TelegramState, bot: TelegramBot, update: dict[str, Any]
) -> dict[str, Any]:
    """POST ``update`` to the bot's webhook with its secret token header;
    ``{"url", "status_code", "body"}`` (``status_code`` None when the
    connection failed, ``body`` then says why).

    Raises :class:`ControlError` 409 when the bot has no webhook.
    """
    hook = state.webhook(bot.token)
    if hook is None:
        raise ControlError(
            409, f"@{bot.username} has no webhook: call setWebhook first"
        )
    kind = next(key for key in update if key != "update_id")
    if hook["allowed_updates"] and kind not in hook["allowed_updates"]:
        return {
            "url": hook["url"],
            "status_code": None,
            "body": f"not delivered: {kind} is not in allowed_updates",
        }
    headers = {"Content-Type": "application/json"}
    if hook["secret_token"]:
        headers[SECRET_HEADER] = hook["secret_token"]
    result = post(hook["url"], json_bytes(update), headers)
    if result["status_code"] is None:
        state.record_delivery_error(bot.token, result["body"])
    elif result["status_code"] >= 400:
        state.record_delivery_error(
            bot.token, f"Wrong response from the webhook: {result['status_code']}"
        )
    return result


def send_customer_message(
    state: TelegramState,
    bot: TelegramBot,
    customer: TelegramCustomer,
    action: CustomerMessage,
) -> dict[str, Any]:
    """Build the Update for ``action`` and deliver it to the bot's webhook.

    Returns ``{"update_id", "chat_id", "message_id", "update", "delivery"}``;
    raises :class:`ControlError` (409 without a webhook, 404 for an
    edit of an unknown message).
    """
    if state.webhook(bot.token) is None:
        raise ControlError(
            409, f"@{bot.username} has no webhook: call setWebhook first"
        )
    state.open_chat(bot.token, customer)
    if action.kind == "edit":
        message = _edited_message(state, bot, customer, action)
        kind = "edited_message"
    else:
        message = _new_message(state, bot, customer, action)
        kind = "message"
    state.remember_message(bot.token, message)
    update = {"update_id": state.next_update_id(), kind: message}
    state.remember_update(bot.token, update)
    delivery = deliver(state, bot, update)
    state.record_inbound(
        {
            "kind": action.kind,
            "bot": bot.username,
            "customer": customer.as_public(),
            "update_id": update["update_id"],
            "message_id": message["message_id"],
            "text": action.text,
            "delivery": delivery,
            "sent_at": time.time(),
        }
    )
    return {
        "update_id": update["update_id"],
        "chat_id": customer.id,
        "message_id": message["message_id"],
        "update": update,
        "delivery": delivery,
    }


def redeliver(state: TelegramState, bot: TelegramBot, update_id: int) -> dict[str, Any]:
    """Deliver a stored Update again, byte for byte the same JSON.

    Returns ``{"update_id", "update", "delivery"}``; raises
    :class:`ControlError` 404 for an unknown ``update_id``.
    """
    update = state.update(bot.token, update_id)
    if update is None:
        raise ControlError(404, f"no update {update_id} for @{bot.username}")
    return {
        "update_id": update_id,
        "update": update,
        "delivery": deliver(state, bot, update),
    }

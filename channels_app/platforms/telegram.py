"""Telegram bots: private chats with the business's bot, and the groups,
supergroups and channels it belongs to.

Inbound: one Update per webhook POST, verified by the secret token PingBack gave
`setWebhook`.
    https://core.telegram.org/bots/api#setwebhook
    https://core.telegram.org/bots/api#update
    https://core.telegram.org/bots/api#message
Outbound: `sendMessage`, `sendPhoto`, `sendDocument`; inbound media through
`getFile` and the file download URL; all through python-telegram-bot 22.8.
    https://core.telegram.org/bots/api#sendmessage
    https://core.telegram.org/bots/api#getfile
Details and quirks: docs/platforms/telegram.md.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import mimetypes
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.http import HttpRequest
from rest_framework import serializers
from telegram import Bot
from telegram import Message as TelegramMessage
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from channels_app.platforms.base import (
    AttachmentsAdded,
    ContactOptOut,
    CredentialsRejected,
    DeliveryError,
    FetchedMedia,
    IdentityMoved,
    InboundContact,
    InboundItem,
    InboundMessage,
    MalformedPayload,
    MessageEdit,
    OutboundAttachment,
    OutboundMessage,
    ParsedWebhook,
    PermanentDeliveryError,
    Platform,
    Reaction,
    SecretMissing,
    SendResult,
    SetupResult,
    SignatureInvalid,
    TransientDeliveryError,
)
from channels_app.platforms.capabilities import TELEGRAM, channel_type_capabilities
from channels_app.platforms.clients import ThreadClients
from channels_app.platforms.payload import JsonValue

if TYPE_CHECKING:
    from channels_app.models import Channel

logger = logging.getLogger(__name__)

T = TypeVar("T")
# One Bot API call of a reply, e.g. `sendMessage` for its text.
SendStep = Callable[[Bot], Awaitable[TelegramMessage]]

# ---------------------------------------------------------------------- constants

# X-Telegram-Bot-Api-Secret-Token, as Django's request.META names it.
SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"
WEBHOOK_SECRET = "webhook_secret"  # key in the channel's encrypted secrets
UPDATE_MESSAGE = "message"
UPDATE_EDITED_MESSAGE = "edited_message"
UPDATE_CHANNEL_POST = "channel_post"
UPDATE_EDITED_CHANNEL_POST = "edited_channel_post"
UPDATE_MY_CHAT_MEMBER = "my_chat_member"
UPDATE_MESSAGE_REACTION = "message_reaction"
# Update kinds holding a Message: new ones, and edits.
NEW_MESSAGE_UPDATES = frozenset({UPDATE_MESSAGE, UPDATE_CHANNEL_POST})
EDIT_UPDATES = frozenset({UPDATE_EDITED_MESSAGE, UPDATE_EDITED_CHANNEL_POST})
# Update kinds PingBack asks for (`setWebhook allowed_updates`) and handles.
HANDLED_UPDATES = (
    UPDATE_MESSAGE,
    UPDATE_EDITED_MESSAGE,
    UPDATE_CHANNEL_POST,
    UPDATE_EDITED_CHANNEL_POST,
    UPDATE_MY_CHAT_MEMBER,
    UPDATE_MESSAGE_REACTION,
)
# Learned config field: the update kinds the webhook was registered for.
WEBHOOK_UPDATES = "webhook_updates"
PRIVATE_CHAT = "private"
CHANNEL_CHAT = "channel"
CHAT_THREAD = "chat"
BLOCKED_REASON = "they blocked the bot on Telegram"
UNBLOCKED_REASON = "they unblocked the bot on Telegram"
# ChatMember `status` values (Bot API, ChatMember).
MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})
GONE_STATUSES = frozenset({"left", "kicked"})
MAX_TEXT_LENGTH = TELEGRAM.max_text_length  # sendMessage `text` (capabilities table)
MAX_CAPTION_LENGTH = 1024  # sendPhoto / sendDocument `caption`
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # sendPhoto; larger images go as documents
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile: bots download up to 20 MB
# Image types Telegram shows as photos; other images are sent as documents.
PHOTO_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
BLOCKED_BY_USER = "bot was blocked by the user"

# Message fields holding a file → (attachment kind, content type when Telegram
# gives no `mime_type`). Source: Bot API, Message.document/audio/video/...
FILE_FIELDS = {
    "document": ("document", "application/octet-stream"),
    "audio": ("audio", "audio/mpeg"),
    "video": ("video", "video/mp4"),
    "video_note": ("video", "video/mp4"),
    "voice": ("voice", "audio/ogg"),
}

# Service messages: what happened to a group (members joined or left, title,
# photo, pins, upgrades, video chats, topics), not something a person wrote.
# Source: Bot API, Message (its service-message fields, e.g.
# `delete_chat_photo`: "Service message: the chat photo was deleted"). They
# are ignored with their kind as the reason; the group's new title reaches
# its contact with the group's next message.
SERVICE_FIELDS = (
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "proximity_alert_triggered",
    "boost_added",
    "chat_background_set",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
    "write_access_allowed",
)

# Message fields that say who, where and how a message was sent, not what it
# holds: the first other field names an unsupported message's kind.
ENVELOPE_FIELDS = frozenset(
    {
        "message_id",
        "message_thread_id",
        "from",
        "sender_chat",
        "sender_boost_count",
        "sender_business_bot",
        "date",
        "business_connection_id",
        "chat",
        "forward_origin",
        "is_topic_message",
        "is_automatic_forward",
        "reply_to_message",
        "external_reply",
        "quote",
        "reply_to_story",
        "via_bot",
        "edit_date",
        "has_protected_content",
        "is_from_offline",
        "media_group_id",
        "author_signature",
        "text",
        "entities",
        "link_preview_options",
        "effect_id",
        "caption",
        "caption_entities",
        "show_caption_above_media",
        "has_media_spoiler",
        "reply_markup",
    }
)

# ------------------------------------------------------------------------- config


class TelegramConfigSerializer(serializers.Serializer):
    """Config of a Telegram channel. Source: @BotFather's `/newbot` answer.

    `bot_token`: the token @BotFather gave the bot (`<bot id>:<secret>`).
    """

    bot_token = serializers.RegexField(
        r"^\d+:[A-Za-z0-9_-]+$",
        max_length=200,
        error_messages={"invalid": "Expected a bot token like 123456:ABC-DEF..."},
        help_text="The token @BotFather gave the bot (/newbot or /token), "
        "like 123456:ABC-DEF...",
    )


# ------------------------------------------------------------------ parse helpers


def _from_epoch(value: JsonValue) -> datetime:
    """Telegram's `date` / `edit_date`: epoch seconds, UTC."""
    return datetime.fromtimestamp(value.int(), tz=UTC)


def _number(value: JsonValue) -> float:
    """A JSON number (a location's `latitude`, `longitude`)."""
    if isinstance(value.value, bool) or not isinstance(value.value, int | float):
        raise MalformedPayload(f"{value.path}: expected a number")
    return float(value.value)


def _text(value: JsonValue | None) -> str:
    return value.str() if value is not None else ""


def _contact(sender: JsonValue) -> InboundContact:
    """The customer from `Message.from` (a User): id, username, full name."""
    names = (_text(sender.get("first_name")), _text(sender.get("last_name")))
    return InboundContact(
        external_id=str(sender["id"].int()),
        handle=_text(sender.get("username")),
        name=" ".join(name for name in names if name),
    )


def _file(kind: str, media: JsonValue, content_type: str) -> dict[str, Any]:
    """An attachment descriptor for a file Telegram holds (`ref` = `file_id`)."""
    descriptor: dict[str, Any] = {"kind": kind, "ref": media["file_id"].str()}
    if media.get("file_name") is not None:
        descriptor["filename"] = media["file_name"].str()
    descriptor["content_type"] = _text(media.get("mime_type")) or content_type
    if media.get("file_size") is not None:
        descriptor["size"] = media["file_size"].int()
    return descriptor


def _flag(value: JsonValue, key: str) -> bool:
    """An optional boolean field (`is_bot`, `is_animated`), false when absent."""
    found = value.get(key)
    return found is not None and found.value is True


def _sticker_type(sticker: JsonValue) -> str:
    """Stickers are WebP images, animated TGS files or WebM videos."""
    if _flag(sticker, "is_animated"):
        return "application/x-tgsticker"
    if _flag(sticker, "is_video"):
        return "video/webm"
    return "image/webp"


def _location(message: JsonValue) -> dict[str, Any] | None:
    """A shared location or venue (Message.location / Message.venue)."""
    venue = message.get("venue")
    point = venue["location"] if venue is not None else message.get("location")
    if point is None:
        return None
    descriptor: dict[str, Any] = {
        "kind": "location",
        "latitude": _number(point["latitude"]),
        "longitude": _number(point["longitude"]),
    }
    if venue is not None:
        descriptor["name"] = venue["title"].str()
        descriptor["address"] = venue["address"].str()
    return descriptor


def _shared_contact(contact: JsonValue) -> dict[str, Any]:
    """A shared phone contact (Message.contact): no file, name and number."""
    names = (contact["first_name"].str(), _text(contact.get("last_name")))
    return {
        "kind": "contact",
        "name": " ".join(name for name in names if name),
        "phone_number": contact["phone_number"].str(),
    }


def _attachments(message: JsonValue) -> tuple[dict[str, Any], ...]:
    """The media of a Message as attachment descriptors (see `InboundMessage`).

    A photo comes in several sizes, smallest first: the last one is kept. An
    animation (GIF or silent video) also fills `document` for older clients:
    it is kept once, as a video.
    """
    found: list[dict[str, Any]] = []
    photo = message.get("photo")
    if photo is not None:
        sizes = photo.list()
        if not sizes:
            raise MalformedPayload(f"{photo.path}: expected at least one size")
        found.append(_file("image", sizes[-1], "image/jpeg"))
    animation = message.get("animation")
    if animation is not None:
        found.append(_file("video", animation, "video/mp4"))
    for field, (kind, content_type) in FILE_FIELDS.items():
        media = message.get(field)
        if media is not None and not (field == "document" and animation):
            found.append(_file(kind, media, content_type))
    sticker = message.get("sticker")
    if sticker is not None:
        found.append(_file("sticker", sticker, _sticker_type(sticker)))
    location = _location(message)
    if location is not None:
        found.append(location)
    contact = message.get("contact")
    if contact is not None:
        found.append(_shared_contact(contact))
    return tuple(found)


def _message_id(chat_id: int, message_id: int) -> str:
    """`<chat id>:<message_id>`: message ids are only unique within a chat."""
    return f"{chat_id}:{message_id}"


def _album_id(chat_id: int, media_group_id: str) -> str:
    """`<chat id>:album:<media_group_id>`: the one message an album becomes
    (`media_group_id` is unique within its chat)."""
    return f"{chat_id}:album:{media_group_id}"


def _chat_contact(chat: JsonValue) -> InboundContact:
    """A group, supergroup or channel as the conversation's contact: its id
    (negative), title and public username, if any."""
    return InboundContact(
        external_id=str(chat["id"].int()),
        handle=_text(chat.get("username")),
        name=_text(chat.get("title")),
    )


def _sender(message: JsonValue) -> dict[str, str] | str:
    """Who wrote a group message, as `details["sender"]`; a str is the reason
    to ignore it (another bot's message).

    An anonymous group admin or a linked channel's automatic forward speaks
    as a chat (`sender_chat`; `from` is then a placeholder bot): that chat is
    the sender.
    """
    chat = message.get("sender_chat")
    if chat is not None:
        contact = _chat_contact(chat)
    else:
        user = message["from"]
        if _flag(user, "is_bot"):
            return f"message from the bot {user['id'].int()}"
        contact = _contact(user)
    return {
        "external_id": contact.external_id,
        "name": contact.name,
        "handle": contact.handle,
    }


def _service_kind(message: JsonValue) -> str:
    """The service message's kind (`new_chat_members`, ...), "" for others."""
    return next((field for field in SERVICE_FIELDS if field in message), "")


def _content_kind(message: JsonValue) -> str:
    """What an unrenderable message holds, named by its Bot API field
    (`dice`, `game`, `invoice`, `story`, ...), with spaces."""
    field = next((k for k in message.keys() if k not in ENVELOPE_FIELDS), "")
    return field.replace("_", " ") if field else "unknown kind"


def _group_moved(message: JsonValue, chat_id: int) -> IdentityMoved | None:
    """A group upgraded to a supergroup gets a new chat id: the service
    message `migrate_to_chat_id` (in the old group) or `migrate_from_chat_id`
    (in the new one) moves the group's identity and conversation to it.
    Either one does it; the other then changes nothing."""
    to_id = message.get("migrate_to_chat_id")
    from_id = message.get("migrate_from_chat_id")
    if to_id is not None:
        old, new = chat_id, to_id.int()
    elif from_id is not None:
        old, new = from_id.int(), chat_id
    else:
        return None
    return IdentityMoved(
        old_external_id=str(old),
        new_external_id=str(new),
        occurred_at=_from_epoch(message["date"]),
        old_thread_key=f"{CHAT_THREAD}:{old}",
        new_thread_key=f"{CHAT_THREAD}:{new}",
    )


def _forwarded_from(message: JsonValue) -> dict[str, str] | None:
    """`details["context"]` of a forwarded message: who it was forwarded
    from (`forward_origin`, a MessageOrigin: a user, a hidden user, a chat
    or a channel post, with its public link when the channel has a
    username)."""
    origin = message.get("forward_origin")
    if origin is None:
        return None
    kind = origin["type"].str()
    url = ""
    if kind == "user":
        name = _contact(origin["sender_user"]).name
    elif kind == "hidden_user":
        name = origin["sender_user_name"].str()
    elif kind == "chat":
        name = _text(origin["sender_chat"].get("title"))
    elif kind == "channel":
        channel = origin["chat"]
        name = _text(channel.get("title"))
        username = _text(channel.get("username"))
        if username:
            url = f"https://t.me/{username}/{origin['message_id'].int()}"
    else:
        name = ""
    return {"label": "Forwarded from", "text": name or kind, "url": url}


def _poll_text(poll: JsonValue) -> str:
    """A poll as text: `Poll: <question>` (or `Quiz:`), then one option a
    line; a quiz's correct options, when Telegram tells them
    (`correct_option_ids`, or the older `correct_option_id`), are marked.
    Source: Bot API, Poll."""
    quiz = _text(poll.get("type")) == "quiz"
    correct: set[int] = set()
    if poll.get("correct_option_ids") is not None:
        correct = {index.int() for index in poll["correct_option_ids"].list()}
    elif poll.get("correct_option_id") is not None:
        correct = {poll["correct_option_id"].int()}
    lines = [f"{'Quiz' if quiz else 'Poll'}: {poll['question'].str()}"]
    for index, option in enumerate(poll["options"].list()):
        mark = " (correct answer)" if index in correct else ""
        lines.append(f"- {option['text'].str()}{mark}")
    if _flag(poll, "allows_multiple_answers"):
        lines.append("(several answers allowed)")
    return "\n".join(lines)


def _contact_text(attachments: tuple[dict[str, Any], ...]) -> str:
    """`Contact: <name>, <phone>` for a shared contact, else ""."""
    for attachment in attachments:
        if attachment["kind"] == "contact":
            name = attachment["name"]
            return f"Contact: {name}, {attachment['phone_number']}"
    return ""


def _parse_message(
    kind: str, message: JsonValue, update: Any
) -> tuple[InboundItem, ...] | str:
    """Parse a Message update (`message`, `edited_message`, `channel_post`,
    `edited_channel_post`); a str is the reason to ignore it.

    A private chat is a conversation with its person; a group, supergroup or
    channel is one conversation with the chat as its contact, each message
    naming its writer in `details["sender"]` (channels: none). Bots' messages
    and service messages are ignored; a message with nothing PingBack can
    render is an `unsupported` one, with the update in `details["raw"]`.
    Every part of an album is the album's one message (`AttachmentsAdded`).
    Source: Bot API, Update; Message (`media_group_id`, `sender_chat`,
    `forward_origin`, `sticker`, `poll`, `contact`); Chat; MessageOrigin;
    Poll; Sticker.
    """
    chat = message["chat"]
    chat_id = chat["id"].int()
    chat_type = chat["type"].str()
    details: dict[str, Any] = {}
    if chat_type == PRIVATE_CHAT:
        user = message["from"]
        if _flag(user, "is_bot"):
            return f"message from the bot {user['id'].int()}"
        contact = _contact(user)
    else:
        contact = _chat_contact(chat)
        if chat_type != CHANNEL_CHAT:
            sender = _sender(message)
            if isinstance(sender, str):
                return sender
            details["sender"] = sender
    album = message.get("media_group_id")
    platform_id = (
        _album_id(chat_id, album.str())
        if album is not None
        else _message_id(chat_id, message["message_id"].int())
    )
    text = _text(message.get("text")) or _text(message.get("caption"))
    if kind in EDIT_UPDATES:
        if not text:
            return f"edit of message {platform_id} without text"
        return (
            MessageEdit(
                platform_message_id=platform_id,
                text=text,
                edited_at=_from_epoch(message["edit_date"]),
            ),
        )
    moved = _group_moved(message, chat_id)
    if moved is not None:
        return (moved,)
    service = _service_kind(message)
    if service:
        return f"service message {service} in {chat_type} chat {chat_id}"
    caption = text
    attachments = _attachments(message)
    poll = message.get("poll")
    if poll is not None:
        text = _poll_text(poll)
    sticker = message.get("sticker")
    if sticker is not None and sticker.get("emoji") is not None:
        # What the sticker stands for, readable where its file (often an
        # animation browsers cannot play) is not: the thread, the preview.
        text = sticker["emoji"].str()
    text = text or _contact_text(attachments)
    forwarded = _forwarded_from(message)
    if forwarded:
        details["context"] = [forwarded]
    message_kind = "message"
    if not text and not attachments:
        message_kind = "unsupported"
        text = f"Unsupported message: {_content_kind(message)}"
        details["raw"] = update
    replied = message.get("reply_to_message")
    items: list[InboundItem] = [
        InboundMessage(
            platform_message_id=platform_id,
            contact=contact,
            text=text,
            sent_at=_from_epoch(message["date"]),
            thread_key=f"{CHAT_THREAD}:{chat_id}",
            reply_to_platform_message_id=(
                _message_id(chat_id, replied["message_id"].int()) if replied else None
            ),
            kind=message_kind,
            attachments=attachments,
            details=details,
        )
    ]
    if album is not None:
        items.append(
            AttachmentsAdded(
                platform_message_id=platform_id,
                attachments=attachments,
                caption=caption,
            )
        )
    return tuple(items)


def _parse_reaction(update: JsonValue) -> tuple[InboundItem, ...] | str:
    """A person changed their reactions to a message, theirs or the bot's
    (`message_reaction`, MessageReactionUpdated): the last emoji of
    `new_reaction` is their reaction, none removes it (PingBack keeps one
    reaction per customer and message); a paid reaction shows as a star. A
    change to custom emoji only, which PingBack cannot draw, is ignored.
    Source: Bot API, Update.message_reaction; MessageReactionUpdated;
    ReactionType."""
    chat_id = update["chat"]["id"].int()
    platform_id = _message_id(chat_id, update["message_id"].int())
    emoji = ""
    custom = False
    for reaction in update["new_reaction"].list():
        kind = reaction["type"].str()
        if kind == "emoji":
            emoji = reaction["emoji"].str()
        elif kind == "paid":
            emoji = "\u2b50"
        else:
            custom = True
    if custom and not emoji:
        return f"custom emoji reaction to message {platform_id}"
    return (
        Reaction(
            platform_message_id=platform_id,
            emoji=emoji,
            reacted_at=_from_epoch(update["date"]),
        ),
    )


def _parse_member_update(update: JsonValue) -> tuple[InboundItem, ...] | str:
    """The bot's own membership changed (`my_chat_member`, ChatMemberUpdated).

    In a private chat Telegram sends it only when the person blocks
    (`kicked`) or unblocks (`member`) the bot: they opt out or back in. In a
    group or channel, the bot removed (`left`, `kicked`) or forbidden to
    post (`restricted` without `can_send_messages`) opts the group out, so
    replies there fail at once; added back, it opts in again.
    Source: Bot API, Update.my_chat_member; ChatMemberUpdated; ChatMember.
    """
    chat = update["chat"]
    chat_id = chat["id"].int()
    chat_type = chat["type"].str()
    member = update["new_chat_member"]
    status = member["status"].str()
    occurred_at = _from_epoch(update["date"])
    external_id = str(chat_id)
    if chat_type == PRIVATE_CHAT:
        if status == "kicked":
            opted_out, reason = True, BLOCKED_REASON
        elif status in MEMBER_STATUSES:
            opted_out, reason = False, UNBLOCKED_REASON
        else:
            return f"bot status {status} in private chat {chat_id}"
    else:
        place = "channel" if chat_type == CHANNEL_CHAT else "group"
        if status in GONE_STATUSES or (
            status == "restricted" and not _flag(member, "is_member")
        ):
            opted_out, reason = True, f"the bot was removed from the {place}"
        elif status == "restricted" and not _flag(member, "can_send_messages"):
            opted_out, reason = True, f"the bot may not post in the {place}"
        else:
            opted_out, reason = False, f"the bot can post in the {place} again"
    return (
        ContactOptOut(
            external_id=external_id,
            opted_out=opted_out,
            reason=reason,
            occurred_at=occurred_at,
        ),
    )


# ----------------------------------------------------------------------- platform


class TelegramPlatform(Platform):
    """A Telegram bot's private chats, groups and channels (Bot API
    webhooks)."""

    channel_type = "telegram"
    config_serializer = TelegramConfigSerializer
    secret_fields = frozenset({"bot_token"})
    learned_fields = frozenset({"bot_id", "bot_username", WEBHOOK_UPDATES})
    receives_webhooks = True

    def check_credentials(
        self, public: dict[str, Any], secrets: dict[str, str]
    ) -> None:
        """Ask Telegram who the token belongs to (`getMe`). Raises
        `CredentialsRejected` on `bot_token` when Telegram refuses the token
        (401, or 404 for a malformed one); an unreachable Telegram is not a
        refusal."""
        try:
            TelegramApi(secrets["bot_token"]).me()
        except TokenRejected as error:
            raise CredentialsRejected(
                "bot_token", f"Telegram refused the token: {error.detail}"
            ) from error
        except DeliveryError:
            return  # Unreachable or failing: setup reports it.

    def verify(self, channel: Channel, request: HttpRequest) -> None:
        """Check `X-Telegram-Bot-Api-Secret-Token` against the secret given to
        `setWebhook` (docs/platforms/telegram.md, "Webhook setup and secret
        token"). Raises `SecretMissing` when the channel has none yet,
        `SignatureInvalid` when it is missing or wrong."""
        expected = channel.secrets.get(WEBHOOK_SECRET)
        if not expected:
            logger.error(
                "webhook.secret_missing",
                extra={"channel_id": str(channel.id), "platform": "telegram"},
            )
            raise SecretMissing("the channel has no webhook secret: run its setup")
        received = request.META.get(SECRET_HEADER, "")
        if not received:
            raise SignatureInvalid("X-Telegram-Bot-Api-Secret-Token header missing")
        if not hmac.compare_digest(received.encode(), expected.encode()):
            raise SignatureInvalid("X-Telegram-Bot-Api-Secret-Token does not match")

    def parse(self, channel: Channel, body: bytes) -> ParsedWebhook:
        """Parse one Update. The dedupe key is `update:<update_id>`. Messages
        and channel posts, their edits, reactions, and the bot's own
        membership (`my_chat_member`: blocked, unblocked, removed from a
        group) are handled; other update kinds, bots' messages and service messages are
        ignored with a reason. Raises `MalformedPayload`."""
        root = JsonValue.parse(body)
        event_key = f"update:{root['update_id'].int()}"
        kinds = [key for key in root.keys() if key != "update_id"]
        if not kinds:
            raise MalformedPayload("body: no update besides update_id")
        kind = kinds[0]
        if kind == UPDATE_MY_CHAT_MEMBER:
            found = _parse_member_update(root[kind])
        elif kind == UPDATE_MESSAGE_REACTION:
            found = _parse_reaction(root[kind])
        elif kind in NEW_MESSAGE_UPDATES or kind in EDIT_UPDATES:
            found = _parse_message(kind, root[kind], root.value)
        else:
            found = f"update kind {kind} not handled"
        if isinstance(found, str):
            return ParsedWebhook(event_key=event_key, ignored=(found,))
        return ParsedWebhook(event_key=event_key, items=found)

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """Send the text (`sendMessage`) and files (`sendPhoto` for photos,
        `sendDocument` otherwise, uploaded) to the customer's chat. The text is
        the first file's caption when it fits, else it goes first. Returns the
        last sent message as `<chat id>:<message_id>`. Raises
        `TransientDeliveryError` / `PermanentDeliveryError`."""
        chat_id = _chat_id(message)
        text = message.text
        refusal = channel_type_capabilities("telegram").text_refusal(
            len(text), subject="one"
        )
        if refusal:
            raise PermanentDeliveryError(refusal)
        files = message.attachments
        as_caption = bool(files) and len(text) <= MAX_CAPTION_LENGTH
        parts: list[tuple[str, SendStep]] = []
        if text and not as_caption:
            parts.append(("the text", _text_part(chat_id, text)))
        for index, attachment in enumerate(files):
            caption = text if as_caption and index == 0 else ""
            parts.append(
                (attachment.filename, _file_part(chat_id, attachment, caption))
            )
        if not parts:
            raise PermanentDeliveryError("There is nothing to send.")
        sent = TelegramApi(channel.secrets["bot_token"]).send_parts(parts)
        return SendResult(_message_id(sent.chat_id, sent.message_id))

    def fetch_media(
        self, channel: Channel, attachment: dict[str, Any]
    ) -> FetchedMedia | None:
        """Download a file the customer sent: `getFile(ref)`, then the file URL.
        None for attachments without a `ref` (locations, contacts). Files over
        20 MB cannot be downloaded by bots (`PermanentDeliveryError`)."""
        file_id = attachment.get("ref")
        if not file_id:
            return None
        size = attachment.get("size") or 0
        if size > MAX_DOWNLOAD_BYTES:
            raise PermanentDeliveryError(
                f"Telegram lets bots download files up to "
                f"{MAX_DOWNLOAD_BYTES // 2**20} MB; this one is "
                f"{size / 2**20:.1f} MB."
            )
        api = TelegramApi(channel.secrets["bot_token"])
        content, name = api.download(file_id)
        filename = attachment.get("filename") or name
        content_type = (
            attachment.get("content_type")
            or mimetypes.guess_type(filename)[0]
            or "application/octet-stream"
        )
        return FetchedMedia(content, content_type=content_type, filename=filename)

    def setup_name(self, config: dict[str, Any]) -> str:
        """The bot's "@<bot_username>" (getMe's `username`)."""
        username = config.get("bot_username")
        return f"@{username}" if username else ""

    def setup_outdated(self, channel: Channel) -> bool:
        """A ready channel whose webhook was registered for other update kinds
        than `HANDLED_UPDATES` (the learned `webhook_updates`; channels set
        up before it was recorded have none): setup must run again."""
        registered = channel.config.get(WEBHOOK_UPDATES)
        return channel.setup_state == "ready" and registered != list(HANDLED_UPDATES)

    def on_create(self, channel: Channel) -> SetupResult:
        """Learn the bot (`getMe`: `bot_id`, `bot_username`), then register the
        webhook (`setWebhook`) with a random secret token, kept across setups,
        for the update kinds in `HANDLED_UPDATES` (recorded as the learned
        `webhook_updates`). Name: "@<bot username>".

        Source: Telegram Bot API, getMe (User.username) and setWebhook."""
        api = TelegramApi(channel.secrets["bot_token"])
        try:
            bot_id, username = api.me()
        except DeliveryError as error:
            return SetupResult(
                state="failed",
                message=f"Checking the bot token failed: {_setup_problem(error)}. "
                "Fix it and re-run setup.",
            )
        learned = {"bot_id": bot_id, "bot_username": username}
        name = self.setup_name(learned)
        done = f"Connected as @{username} (bot id {bot_id})."
        url = self.webhook_url(channel)
        secret = channel.secrets.get(WEBHOOK_SECRET) or token_urlsafe(32)
        try:
            api.set_webhook(url, secret)
        except DeliveryError as error:
            return SetupResult(
                state="failed",
                message=f"{done} Registering the webhook {url} failed: "
                f"{_setup_problem(error)}. Fix it and re-run setup.",
                config=learned,
                name=name,
            )
        learned[WEBHOOK_UPDATES] = list(HANDLED_UPDATES)
        return SetupResult(
            state="ready",
            message=f"{done} Webhook registered at {url} with a secret token: "
            "private chats with the bot, and the groups it is in (all their "
            "messages once privacy mode is off in @BotFather), will arrive.",
            config=learned,
            secrets={WEBHOOK_SECRET: secret},
            name=name,
        )

    def on_delete(self, channel: Channel) -> None:
        """Remove the bot's webhook (`deleteWebhook`), best effort."""
        try:
            TelegramApi(channel.secrets["bot_token"]).delete_webhook()
        except DeliveryError as error:
            logger.warning(
                "telegram.webhook_delete_failed",
                extra={"channel_id": str(channel.id), "reason": error.reason},
            )


def _setup_problem(error: DeliveryError) -> str:
    if isinstance(error, TransientDeliveryError):
        return f"Telegram could not be reached ({error.detail})"
    return f"Telegram refused it: {error.detail}"


def _chat_id(message: OutboundMessage) -> str:
    """The chat to answer: from the `chat:<id>` thread, else the contact's id
    (in a private chat, the chat id is the user's id)."""
    kind, _, chat_id = message.thread_key.partition(":")
    if kind == CHAT_THREAD and chat_id:
        return chat_id
    if message.recipient_external_id:
        return message.recipient_external_id
    raise PermanentDeliveryError("There is no Telegram chat to send to.")


def _text_part(chat_id: str, text: str) -> SendStep:
    async def send(bot: Bot) -> TelegramMessage:
        return await bot.send_message(chat_id=chat_id, text=text)

    return send


def _file_part(chat_id: str, attachment: OutboundAttachment, caption: str) -> SendStep:
    """Upload one file: as a photo when Telegram can show it as one."""
    as_photo = (
        attachment.content_type in PHOTO_CONTENT_TYPES
        and attachment.size <= MAX_PHOTO_BYTES
    )

    async def send(bot: Bot) -> TelegramMessage:
        with attachment.open() as content:
            if as_photo:
                return await bot.send_photo(
                    chat_id=chat_id,
                    photo=content,
                    filename=attachment.filename,
                    caption=caption or None,
                )
            return await bot.send_document(
                chat_id=chat_id,
                document=content,
                filename=attachment.filename,
                caption=caption or None,
            )

    return send


# --------------------------------------------------------------------- SDK client


def _bot(token: str, request: HTTPXRequest) -> Bot:
    """A python-telegram-bot client on `TELEGRAM_API_BASE_URL`
    (docs/platforms/telegram.md, "python-telegram-bot 22.8"), without the
    `getMe` that `Bot.initialize` would add."""
    host = settings.TELEGRAM_API_BASE_URL
    return Bot(
        token,
        base_url=f"{host}/bot",
        base_file_url=f"{host}/file/bot",
        request=request,
        get_updates_request=request,
    )


def _request(timeout: float) -> HTTPXRequest:
    """The SDK's HTTP client (an httpx `AsyncClient`), every timeout `timeout`
    seconds."""
    return HTTPXRequest(
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        pool_timeout=timeout,
        media_write_timeout=timeout,
    )


async def _request_started(timeout: float) -> HTTPXRequest:
    request = _request(timeout)
    await request.initialize()
    return request


class _BotLoop:
    """An event loop one thread keeps, and the Bot API HTTP client made on it.

    python-telegram-bot is async only, and an httpx `AsyncClient`'s pooled
    connections belong to the event loop that opened them. So a thread keeps
    an `asyncio.Runner` (a loop of its own, not set as the thread's current
    loop) and an `HTTPXRequest` used on that loop only: the thread's calls run
    one after the other on it and reuse its connection (keep-alive) instead
    of a new loop, HTTP client, TCP connection and, in production, TLS
    handshake per call. A `Bot` is still made per call (it holds nothing but
    the token and URLs)."""

    def __init__(self, timeout: float) -> None:
        self.runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        try:
            self.request = self.runner.run(_request_started(timeout))
        except BaseException:
            self.runner.close()
            raise

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on this loop until it is done; raises what it
        raises. Raises `RuntimeError` when called inside a running loop."""
        return self.runner.run(coroutine)

    def close(self) -> None:
        """Close the HTTP client, then the loop."""
        try:
            self.runner.run(self.request.shutdown())
        finally:
            self.runner.close()


# Per thread and per (TELEGRAM_API_BASE_URL, PLATFORM_API_TIMEOUT).
_bot_loops: ThreadClients[tuple[str, float], _BotLoop] = ThreadClients(
    lambda key: _BotLoop(key[1]), _BotLoop.close
)


class TokenRejected(PermanentDeliveryError):
    """Telegram refused the bot token (401 when revoked, 404 when malformed;
    python-telegram-bot raises `InvalidToken` for both, without the status)."""


def _retry_after_seconds(error: RetryAfter) -> float:
    value = error.retry_after  # int seconds, or a timedelta with PTB_TIMEDELTA
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _delivery_error(
    error: TelegramError, token: str, subject: str = "the message"
) -> DeliveryError:
    """Classify a python-telegram-bot error (docs/platforms/telegram.md, "Errors
    PingBack maps" and "python-telegram-bot 22.8"); `subject` names what
    Telegram refused. BadRequest and TimedOut subclass NetworkError, so they are
    tested first. The token is scrubbed from the text, which may quote a URL."""
    detail = error.message.replace(token, "<bot token>")
    if isinstance(error, RetryAfter):
        wait = _retry_after_seconds(error)
        return TransientDeliveryError(
            f"Telegram flood control: retry in {wait:g} seconds",
            status_code=429,
            retry_after=wait,
            rate_limited=True,
            detail=detail,
        )
    if isinstance(error, InvalidToken):
        reason = f"Telegram rejected the bot token: {detail}"
        alert = f"{reason}. Update bot_token with the token @BotFather shows."
        return TokenRejected(reason, channel_alert=alert, detail=detail)
    if isinstance(error, Forbidden):
        if BLOCKED_BY_USER in detail:
            reason = (
                "The customer blocked the bot on Telegram, so it cannot message "
                f"them until they unblock it ({detail})."
            )
        else:
            reason = f"Telegram refused {subject}: {detail}"
        return PermanentDeliveryError(reason, status_code=403, detail=detail)
    if isinstance(error, BadRequest):
        return PermanentDeliveryError(
            f"Telegram refused {subject}: {detail}", status_code=400, detail=detail
        )
    if isinstance(error, TimedOut):
        return TransientDeliveryError("Telegram did not answer in time", detail=detail)
    if isinstance(error, NetworkError):
        return TransientDeliveryError(
            f"Telegram is unavailable: {detail}", detail=detail
        )
    return PermanentDeliveryError(f"Telegram error: {detail}", detail=detail)


class TelegramApi:
    """The Bot API calls PingBack makes for one bot, through python-telegram-bot.

    The SDK is async only: each method runs its calls on the calling
    thread's kept event loop with that loop's HTTP client (`_BotLoop`, per
    thread and per `TELEGRAM_API_BASE_URL` and `PLATFORM_API_TIMEOUT`) and a
    `Bot` for the token, so a delivery thread's calls reuse its connection.
    Like `asyncio.run`, a method cannot be called from a running event loop.
    Every method raises `TransientDeliveryError` or `PermanentDeliveryError`.
    """

    def __init__(self, token: str) -> None:
        self.token = token

    def _run(
        self,
        calls: Callable[[Bot], Coroutine[Any, Any, T]],
        subject: str = "the request",
    ) -> T:
        loop = _bot_loops.get(
            (settings.TELEGRAM_API_BASE_URL, settings.PLATFORM_API_TIMEOUT)
        )
        try:
            return loop.run(calls(_bot(self.token, loop.request)))
        except TelegramError as error:
            raise _delivery_error(error, self.token, subject) from error

    def me(self) -> tuple[str, str]:
        """`getMe` → (bot id, username)."""

        async def get_me(bot: Bot) -> tuple[str, str]:
            user = await bot.get_me()
            return str(user.id), user.username or ""

        return self._run(get_me)

    def set_webhook(self, url: str, secret_token: str) -> None:
        """`setWebhook` for the updates PingBack handles."""

        async def set_webhook(bot: Bot) -> None:
            await bot.set_webhook(
                url=url,
                secret_token=secret_token,
                allowed_updates=list(HANDLED_UPDATES),
            )

        self._run(set_webhook)

    def delete_webhook(self) -> None:
        """`deleteWebhook`."""

        async def delete_webhook(bot: Bot) -> None:
            await bot.delete_webhook()

        self._run(delete_webhook)

    def download(self, file_id: str) -> tuple[bytes, str]:
        """`getFile`, then the download → (bytes, the file's name on Telegram,
        e.g. `file_12.jpg`)."""

        async def download(bot: Bot) -> tuple[bytes, str]:
            found = await bot.get_file(file_id)
            content = await found.download_as_bytearray()
            # The SDK turns `file_path` into the download URL, token included.
            path = unquote(urlsplit(found.file_path or "").path)
            return bytes(content), path.rsplit("/", 1)[-1]

        return self._run(download, "the file download")

    def send_parts(self, parts: list[tuple[str, SendStep]]) -> TelegramMessage:
        """Send named parts in order; return the last sent Message.

        When a part fails after earlier ones went out, the error is permanent
        whatever its kind: retrying would send those parts twice.
        """

        async def send_all(bot: Bot) -> TelegramMessage:
            done: list[str] = []
            sent = None
            for name, part in parts:
                try:
                    sent = await part(bot)
                except TelegramError as error:
                    if not done:
                        raise
                    failure = _delivery_error(error, self.token, "the message")
                    raise _partial_failure(failure, done) from error
                done.append(name)
            return sent

        return self._run(send_all, "the message")


def _partial_failure(error: DeliveryError, done: list[str]) -> PermanentDeliveryError:
    sent = ", ".join(done)
    return PermanentDeliveryError(
        f"{error.reason}. Already sent: {sent}; not retried, so nothing is sent twice.",
        status_code=error.status_code,
        detail=error.detail,
    )

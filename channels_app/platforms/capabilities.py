"""What each channel type can carry: one table, read by the platform modules'
send-time checks, by `post_reply` before anything is queued, by the reply box
(live counter, file checks in the browser) and by the channels API
(`capabilities` on each channel).

`CAPABILITIES[channel_type]` is the platform's own limit; `capabilities_for`
gives the effective limits for one conversation (X: a DM or a reply to a post;
files never larger than PingBack stores, `settings.MEDIA_MAX_BYTES`).

This module imports nothing from the platform modules, so they can import it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    from conversations.models import Conversation

MB = 2**20


@dataclass(frozen=True)
class ChannelCapabilities:
    """What one channel type (or one X thread kind) can carry.

    label: the platform's name in sentences ("Telegram").
    text_noun: what a reply is called there, plural ("Telegram messages",
        "Replies to posts on X"), for refusals such as "Telegram messages are
        limited to 4,096 characters; this reply has 4,120."
    max_text_length: characters (Unicode code points, Python `len`) of text in
        one reply.
    max_file_bytes: bytes of one attached file.
    max_files: files in one reply (0 when the channel carries none).
    supports_files: whether a reply may carry files at all.
    supports_templates: whether a reply may be an approved template message.
    """

    label: str
    text_noun: str
    max_text_length: int
    max_file_bytes: int
    max_files: int
    supports_files: bool
    supports_templates: bool = False

    def text_refusal(self, length: int, *, subject: str = "reply") -> str | None:
        """None when `length` characters fit; else the sentence refusing them,
        in the channel's words: "Telegram messages are limited to 4,096
        characters; this reply has 4,120." (`subject` names what is refused)."""
        if length <= self.max_text_length:
            return None
        return (
            f"{self.text_noun} are limited to {self.max_text_length:,} characters; "
            f"this {subject} has {length:,}."
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape the API and the reply box use: every field but
        `label` and `text_noun`."""
        return {
            "max_text_length": self.max_text_length,
            "max_file_bytes": self.max_file_bytes,
            "max_files": self.max_files,
            "supports_files": self.supports_files,
            "supports_templates": self.supports_templates,
        }


TELEGRAM = ChannelCapabilities(
    label="Telegram",
    text_noun=gettext_lazy("Telegram messages"),
    max_text_length=4096,
    max_file_bytes=50 * MB,
    max_files=10,
    supports_files=True,
)
"""Telegram Bot API reference, `sendMessage`: "text: Text of the message to be
sent, 1-4096 characters after entities parsing". Bot API, "Sending files":
bots upload files (`sendDocument`, `sendPhoto`) of up to 50 MB. Ten files: a
media group (`sendMediaGroup`) holds 2-10 items, and PingBack's own cap per
reply (`MAX_FILES_PER_REPLY`)."""

WHATSAPP = ChannelCapabilities(
    label="WhatsApp",
    text_noun=gettext_lazy("WhatsApp messages"),
    max_text_length=4096,
    max_file_bytes=16 * MB,
    max_files=10,
    supports_files=True,
    supports_templates=True,
)
"""WhatsApp Cloud API, "Messages" reference, text object: "body: maximum 4096
characters". Cloud API "Supported media types": audio, video and stickers up
to 16 MB, images 5 MB, documents 100 MB; 16 MB is the general one (an image
over 5 MB is refused by Meta at send time, with its reason on the message).
Templates: "Message templates" (the only way to write outside the 24-hour
customer service window)."""

INSTAGRAM = ChannelCapabilities(
    label="Instagram",
    text_noun=gettext_lazy("Instagram messages"),
    max_text_length=1000,
    max_file_bytes=8 * MB,
    max_files=10,
    supports_files=True,
)
"""Instagram Messaging API (Messenger Platform, "Send API" for Instagram):
text "must be UTF-8 and less than 1000 characters"; "Attachment types":
images (PNG, JPEG, GIF) up to 8 MB, video and audio up to 25 MB; 8 MB is the
strictest general one (`instagram.MAX_MEDIA_BYTES` keeps the per-kind
limits, with no documents at all)."""

X_DM = ChannelCapabilities(
    label="X",
    text_noun=gettext_lazy("Direct messages on X"),
    max_text_length=10_000,
    max_file_bytes=512 * MB,
    max_files=1,
    supports_files=True,
)
"""X API v2, "Manage Direct Messages" (`POST /2/dm_conversations/with/:id/messages`):
text up to 10,000 characters and one media attachment (`attachments[0].media_id`).
X "Media best practices": videos up to 512 MB (the largest kind; photos 5 MB
and GIFs 15 MB are checked when sending, `channels_app.platforms.x`)."""

X_POST = ChannelCapabilities(
    label="X",
    text_noun=gettext_lazy("Replies to posts on X"),
    max_text_length=280,
    max_file_bytes=5 * MB,
    max_files=0,
    supports_files=False,
)
"""X API v2, "Manage Posts" (`POST /2/tweets`) and "Counting characters": a
post has at most 280 (weighted) characters. PingBack sends no files in replies
to posts yet."""

SMS = ChannelCapabilities(
    label="SMS",
    text_noun=gettext_lazy("SMS messages"),
    max_text_length=1600,
    max_file_bytes=5 * MB,
    max_files=10,
    supports_files=True,
)
"""Twilio Messaging API, "Message resource": "Body: The text content of the
outgoing message. Can be up to 1,600 characters in length." Twilio "Accepted
content types for media" (MMS): at most 10 `MediaUrl`s and 5 MB per message."""

EMAIL = ChannelCapabilities(
    label="Email",
    text_noun=gettext_lazy("Emails"),
    max_text_length=100_000,
    max_file_bytes=10 * MB,
    max_files=10,
    supports_files=True,
)
"""RFC 5322 sets no length on a body; 100,000 characters keeps a reply a
readable mail. 10 MB per file: mail servers commonly refuse messages over
25 MB (RFC 1870 `SIZE`), and base64 grows attachments by a third."""

WEB_WIDGET = ChannelCapabilities(
    label=gettext_lazy("Web widget"),
    text_noun=gettext_lazy("Web widget messages"),
    max_text_length=5000,
    max_file_bytes=25 * MB,
    max_files=10,
    supports_files=True,
)
"""PingBack's own widget (docs/platforms/widget.md): messages of at most
5,000 characters both ways (the visitor's are refused past it); files as
large as PingBack stores (`MEDIA_MAX_BYTES`, 25 MB by default)."""

CAPABILITIES: dict[str, ChannelCapabilities] = {
    "telegram": TELEGRAM,
    "whatsapp": WHATSAPP,
    "instagram": INSTAGRAM,
    "x": X_DM,
    "sms": SMS,
    "email": EMAIL,
    "webchat": WEB_WIDGET,
    "widget": WEB_WIDGET,
}
"""Channel type → its capabilities (for X, those of a DM; see
`x_capabilities`)."""

LONGEST_REPLY = max(row.max_text_length for row in CAPABILITIES.values())
"""The longest text any channel takes: what the reply API reads at most before
checking the conversation's own limit."""

X_THREADS: dict[str, ChannelCapabilities] = {"dm": X_DM, "tweet": X_POST}
"""X thread kind (the part of `thread_key` before `:`) → capabilities."""


def channel_type_capabilities(channel_type: str) -> ChannelCapabilities:
    """The table's row for `channel_type`, read at call time (so the send
    checks and `post_reply` follow the table). Raises `KeyError` for an
    unknown type."""
    return CAPABILITIES[channel_type]


def x_capabilities(thread_key: str) -> ChannelCapabilities:
    """An X conversation's capabilities by its thread kind: `tweet:...` threads
    are answered with a post (280 characters), `dm:...` (and anything else)
    with a direct message."""
    kind, _, _ = thread_key.partition(":")
    return X_THREADS.get(kind, CAPABILITIES["x"])


def effective(capabilities: ChannelCapabilities) -> ChannelCapabilities:
    """`capabilities` within what PingBack itself stores: files at most
    `settings.MEDIA_MAX_BYTES`, at most `MAX_FILES_PER_REPLY` files."""
    from conversations.services.attachments import MAX_FILES_PER_REPLY

    return dataclasses.replace(
        capabilities,
        max_file_bytes=min(capabilities.max_file_bytes, settings.MEDIA_MAX_BYTES),
        max_files=min(capabilities.max_files, MAX_FILES_PER_REPLY)
        if capabilities.supports_files
        else 0,
    )


def capabilities_for(conversation: Conversation) -> ChannelCapabilities:
    """The effective limits for a reply in `conversation`: its channel type's
    row (X: by thread kind, `x_capabilities`), files capped by `effective`."""
    channel_type = conversation.channel_type
    if channel_type == "x":
        row = x_capabilities(conversation.thread_key)
    else:
        row = channel_type_capabilities(channel_type)
    return effective(row)


def channel_capabilities(channel_type: str) -> ChannelCapabilities:
    """The effective limits of a channel type as the channels API shows them
    (X: those of a DM; replies to posts are limited to 280 characters)."""
    return effective(channel_type_capabilities(channel_type))

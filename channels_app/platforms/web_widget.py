"""The web chat widget: PingBack's own channel (docs/platforms/widget.md).

There is no outside platform. A site embeds `static/widget/pingback-widget.js`
with one script tag naming the channel; the script talks to PingBack over a
websocket (`/ws/widget/<channel id>/`, `channels_app.widget.consumers`):

- Inbound: each visitor message carries a client-generated UUID. The consumer
  stores it through the same path as a webhook (`inbound_event_record`) as a JSON
  body this module parses; the UUID is the event key and the message's platform
  id, so a message resent after a reconnect is stored once.
- Outbound: `send` pushes the agent's reply to the visitor's channel-layer group
  (`visitor_group`), which every open widget of that visitor joins.
- Setup: nothing to register; `on_create` gives the embed snippet.
- Identified visitors: a site that knows its visitor passes its user id, an
  HMAC of it under the channel's `identity_secret`, and the name, e-mail
  address and phone number to give the contact (`identify` frame,
  `channels_app.widget.services.visitor_identify`).

Frames the widget receives for a message (`message_frame`, and
`channels_app.widget.selectors.message_payload` for stored ones):
    {"id": int, "client_id": str | null, "direction": "inbound" | "outbound",
     "text": str, "sent_at": ISO 8601, "attachments": [{"kind", "name", "url"}],
     "rating"?: {"token": str, "score": int | null}}
`rating` marks a customer satisfaction question (docs/satisfaction.md): the
widget shows a 1 to 5 rating under it and answers with a `rating` frame.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.http.request import is_same_domain
from django.templatetags.static import static
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework import serializers

from channels_app.platforms.base import (
    InboundContact,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    ParsedWebhook,
    PermanentDeliveryError,
    Platform,
    SendResult,
    SetupResult,
    TransientDeliveryError,
)
from channels_app.platforms.capabilities import WEB_WIDGET
from channels_app.platforms.payload import JsonValue

if TYPE_CHECKING:
    from channels_app.models import Channel

# ---------------------------------------------------------------------- constants

SCRIPT_PATH = "widget/pingback-widget.js"
VISITOR_THREAD = "visitor"
MAX_MESSAGE_LENGTH = WEB_WIDGET.max_text_length  # the capabilities table
MAX_ALLOWED_DOMAINS = 50
# The channel-layer message type the widget consumer handles (`widget_message`).
WIDGET_MESSAGE_EVENT = "widget.message"
DEFAULT_PORTS = {"http": 80, "https": 443}
# `shop.example.com`, `.example.com` (the domain and its subdomains), `localhost`,
# each with an optional `:port`.
_DOMAIN = re.compile(
    r"^\.?(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*(:\d{1,5})?$"
)

# ------------------------------------------------------------------------- config


class AllowedDomainField(serializers.CharField):
    """A site allowed to embed the widget: a host name, optionally with a port,
    lower-cased. A full origin (`https://shop.example.com`) is reduced to its
    host and port; a leading dot (`.example.com`) also allows every subdomain."""

    default_error_messages = {
        "domain": "Enter a domain such as shop.example.com, optionally with a port "
        "(shop.example.com:8443).",
    }

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip().lower()
        if "://" in value:
            value = urlsplit(value).netloc
        value = value.rstrip("/")
        if not _DOMAIN.match(value):
            self.fail("domain")
        return value


class WebWidgetConfigSerializer(serializers.Serializer):
    """Widget settings; all optional.

    `allowed_domains`: the sites that may embed the widget (an empty list means
    none may); `welcome_message`: the first bubble a visitor sees;
    `brand_color`: `#rrggbb` for the launcher and the header; `logo_url`: an
    image shown in the launcher and the header; `identity_secret` (stored
    encrypted, shown masked): the key the website's server signs its
    visitors' identifiers with (HMAC-SHA256, `PingBackWidget.identify`), at
    least 32 characters; without it no identification is accepted.
    """

    allowed_domains = serializers.ListField(
        child=AllowedDomainField(max_length=255),
        required=False,
        max_length=MAX_ALLOWED_DOMAINS,
        help_text="The sites that may embed the widget (shop.example.com; "
        ".example.com for its subdomains too); none: no site may.",
    )
    welcome_message = serializers.CharField(
        max_length=1000,
        required=False,
        help_text="The first bubble a visitor sees.",
    )
    brand_color = serializers.RegexField(
        r"^#[0-9a-fA-F]{6}$",
        required=False,
        help_text="#rrggbb, for the launcher and the header.",
    )
    logo_url = serializers.URLField(
        required=False, help_text="An image shown in the launcher and the header."
    )
    identity_secret = serializers.CharField(
        min_length=32,
        max_length=200,
        required=False,
        trim_whitespace=True,
        help_text="The key your site's server signs visitors' identifiers with "
        "(HMAC-SHA256), at least 32 characters; without it no identification "
        "is accepted.",
    )

    def validate_allowed_domains(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


# ---------------------------------------------------------------------- helpers


def origin_allowed(origin: str | None, allowed_domains: list[str]) -> bool:
    """Whether a page at `origin` (the `Origin` header, e.g.
    `https://shop.example.com`) may use the widget: its host name matches an
    allowed domain (`.example.com` matches the domain and its subdomains) and,
    when the entry names a port, so does the origin's (default 80 / 443).
    A missing or opaque (`null`) origin is never allowed."""
    if not origin:
        return False
    try:
        parsed = urlsplit(origin)
        host, port = parsed.hostname, parsed.port or DEFAULT_PORTS.get(parsed.scheme)
    except ValueError:
        return False
    if not host:
        return False
    for entry in allowed_domains:
        pattern, _, entry_port = entry.partition(":")
        if is_same_domain(host, pattern) and entry_port in ("", str(port)):
            return True
    return False


def visitor_group(channel_id: object, visitor_id: str) -> str:
    """The channel-layer group of one visitor's open widgets on one channel."""
    return f"widget.{channel_id}.{visitor_id}"


def visitor_thread_key(visitor_id: str) -> str:
    """The thread key of a visitor's conversation (one per visitor and channel)."""
    return f"{VISITOR_THREAD}:{visitor_id}"


def visitor_name(visitor_id: str) -> str:
    """How an anonymous visitor is named in the inbox."""
    return f"Visitor {visitor_id[:8]}"


def script_url() -> str:
    """The widget script's public URL."""
    return settings.PINGBACK_PUBLIC_BASE_URL + static(SCRIPT_PATH)


def embed_snippet(channel: Channel) -> str:
    """The one script tag a site pastes into its pages to show the widget, as
    plain text (templates escape it when they show it)."""
    return (
        f'<script src="{escape(script_url())}" '
        f'data-pingback-channel="{channel.id}" async></script>'
    )


def visitor_message_body(
    *, visitor_id: str, message_id: str, text: str, sent_at: datetime
) -> dict[str, str]:
    """The JSON body stored for one visitor message (what `parse` reads)."""
    return {
        "visitor_id": visitor_id,
        "message_id": message_id,
        "text": text,
        "sent_at": sent_at.isoformat(),
    }


def _uuid(value: JsonValue) -> str:
    try:
        return str(uuid.UUID(value.str()))
    except ValueError as error:
        raise MalformedPayload(f"{value.path}: expected a UUID") from error


def _datetime(value: JsonValue) -> datetime:
    try:
        moment = datetime.fromisoformat(value.str())
    except ValueError as error:
        raise MalformedPayload(f"{value.path}: expected an ISO 8601 time") from error
    if moment.tzinfo is None:
        raise MalformedPayload(f"{value.path}: expected a time zone")
    return moment


def message_frame(message: OutboundMessage, sent_at: datetime) -> dict[str, Any]:
    """The widget's view of an agent reply (see the module docstring)."""
    return {
        "id": message.message_id,
        "client_id": None,
        "direction": "outbound",
        "text": message.text,
        "sent_at": sent_at.isoformat(),
        "attachments": [
            {"kind": item.kind, "name": item.filename, "url": item.public_url}
            for item in message.attachments
        ],
    }


# ---------------------------------------------------------------------- platform


class WebWidgetPlatform(Platform):
    """The `webchat` and `widget` channel types (the same widget)."""

    channel_type = "webchat"
    config_serializer = WebWidgetConfigSerializer
    secret_fields = frozenset({"identity_secret"})

    def parse(self, channel: Channel, body: bytes) -> ParsedWebhook:
        """One visitor message, as the widget consumer stores it
        (`visitor_message_body`); the message UUID is the event key."""
        root = JsonValue.parse(body)
        visitor_id = _uuid(root["visitor_id"])
        message_id = _uuid(root["message_id"])
        text = root["text"].str()
        if len(text) > MAX_MESSAGE_LENGTH:
            raise MalformedPayload(f"text: longer than {MAX_MESSAGE_LENGTH}")
        message = InboundMessage(
            platform_message_id=message_id,
            contact=InboundContact(
                external_id=visitor_id, name=visitor_name(visitor_id)
            ),
            text=text,
            sent_at=_datetime(root["sent_at"]),
            thread_key=visitor_thread_key(visitor_id),
        )
        return ParsedWebhook(event_key=message_id, items=(message,))

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """Push the reply to the visitor's open widgets. A visitor with none
        open sees it in their history when they come back. Raises
        `TransientDeliveryError` when the channel layer (Redis) cannot take it."""
        if not message.recipient_external_id:
            raise PermanentDeliveryError("The visitor of this conversation is unknown.")
        group = visitor_group(channel.id, message.recipient_external_id)
        frame = message_frame(message, timezone.now())
        from satisfaction.selectors import widget_rating

        rating = widget_rating(message.message_id)
        if rating is not None:  # a satisfaction question: inline rating
            frame["rating"] = rating
        event = {"type": WIDGET_MESSAGE_EVENT, "message": frame}
        try:
            async_to_sync(_channel_layer().group_send)(group, event)
        except (ChannelFull, RedisError, OSError) as error:
            raise TransientDeliveryError(
                f"The live connection service is unavailable: {error}"
            ) from error
        return SendResult(platform_message_id=f"reply-{message.message_id}")

    def setup_name(self, config: dict[str, Any]) -> str:
        """The first site allowed to embed the widget, as given in
        `allowed_domains` (e.g. "shop.example.com")."""
        domains = config.get("allowed_domains") or []
        return str(domains[0]) if domains else ""

    def on_create(self, channel: Channel) -> SetupResult:
        """Nothing to register: the result carries the embed snippet and says
        which sites may embed it. Name: the first allowed site (its host, as
        given in `allowed_domains`)."""
        domains = channel.config.get("allowed_domains") or []
        where = (
            f"Sites allowed to embed it: {', '.join(domains)}."
            if domains
            else "No site may embed it yet: add your site's domain to the allowed "
            "domains."
        )
        return SetupResult(
            state="ready",
            message=f"Paste this into your site's pages, before </body>: "
            f"{embed_snippet(channel)} {where}",
            name=self.setup_name(channel.config),
        )

    def public_config_extra(self, channel: Channel, *, reveal: bool) -> dict[str, Any]:
        """`_embed_snippet`: the script tag to paste."""
        return {"_embed_snippet": embed_snippet(channel)}


def _channel_layer() -> BaseChannelLayer:
    """The configured channel layer (Redis when `REDIS_URL` is set)."""
    layer = get_channel_layer()
    if layer is None:
        raise PermanentDeliveryError("No channel layer is configured (CHANNEL_LAYERS).")
    return layer

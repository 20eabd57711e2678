"""WhatsApp Cloud API: customers' WhatsApp messages to a business phone number.

Inbound: webhooks of the WhatsApp Business Account `messages` field (customer
messages and delivery statuses of our sends), verified with Meta's handshake and
`X-Hub-Signature-256`.
    https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
    https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
Outbound: `POST /{phone_number_id}/messages` (text, media by uploaded id,
templates) and `POST /{phone_number_id}/media`, over the Graph API.
    https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
    https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
Errors: https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
Handshake, signature and the Graph client are shared with Instagram
(`channels_app.platforms.meta`). Details and quirks: docs/platforms/whatsapp.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.conf import settings
from rest_framework import serializers

from channels_app.platforms.base import (
    CredentialsRejected,
    DeliveryError,
    DeliveryStatus,
    FetchedMedia,
    IdentityMoved,
    InboundContact,
    InboundItem,
    InboundMessage,
    MalformedPayload,
    MessageTemplate,
    OutboundAttachment,
    OutboundMessage,
    ParsedWebhook,
    PermanentDeliveryError,
    Platform,
    Reaction,
    SendResult,
    SetupResult,
)
from channels_app.platforms.capabilities import WHATSAPP, channel_type_capabilities
from channels_app.platforms.media_fetch import media_download
from channels_app.platforms.meta import (
    CREDENTIAL_CODES,
    GraphClient,
    GraphError,
    graph_delivery_error,
    meta_handshake,
    meta_receiving_message,
    meta_setup_instructions,
    meta_setup_result,
    meta_verify,
)
from channels_app.platforms.payload import JsonValue
from pingback.egress import bearer_credentials

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from channels_app.models import Channel

# ---------------------------------------------------------------------- constants

WEBHOOK_OBJECT = "whatsapp_business_account"
MESSAGES_FIELD = "messages"
THREAD = "wa"
MESSAGING_PRODUCT = "whatsapp"
PHONE_NUMBER_FIELDS = "display_phone_number,verified_name"
# Message types whose content is a media object `{id, mime_type, sha256, ...}`.
MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
RECEIPT_STATUSES = frozenset({"sent", "delivered", "read", "failed"})
# `played`: the customer played a voice message for the first time, which
# PingBack counts as read (its delivery statuses stop at `read`).
STATUS_ALIASES = {"played": "read"}
# `system` types saying the customer's WhatsApp id changed to `system.wa_id`
# (`new_wa_id` in older API versions). Source: Cloud API, webhooks > messages
# > system.
NUMBER_CHANGED_TYPES = frozenset({"user_changed_number", "customer_changed_number"})
INTERACTIVE_REPLIES = ("button_reply", "list_reply")
MAX_TEXT_LENGTH = WHATSAPP.max_text_length  # the capabilities table
MAX_CAPTION_LENGTH = 1024
# Meta's hosts a media URL from `GET /{media_id}` may be on, the only ones
# (with the Graph API host) the access token is sent to when downloading it
# (host patterns of `pingback.egress`; Cloud API "Download media").
MEDIA_CREDENTIAL_HOSTS = (
    "graph.facebook.com",
    "*.fbsbx.com",
    "*.fbcdn.net",
    "*.whatsapp.net",
)
# Media WhatsApp plays inline, by type; other files are sent as documents.
# Source: Cloud API reference, "Supported media types".
INLINE_MEDIA_TYPES = {
    "image": frozenset({"image/jpeg", "image/png"}),
    "video": frozenset({"video/mp4", "video/3gpp"}),
    "audio": frozenset(
        {"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}
    ),
}
CAPTIONED_TYPES = frozenset({"image", "video", "document"})

# Graph error codes with a meaning of their own (docs/platforms/whatsapp.md,
# "Errors PingBack maps").
WINDOW_CLOSED_CODE = 131047
UNDELIVERABLE_CODE = 131026
UNKNOWN_OBJECT_CODE = 100
WINDOW_CLOSED = (
    "The 24-hour customer service window is closed: the customer last wrote more "
    "than 24 hours ago, so WhatsApp only accepts an approved template message. "
    "Send a template to write to them again."
)
UNDELIVERABLE = (
    "WhatsApp could not deliver to this number: it may not be on WhatsApp, or "
    "the customer's app may be out of date."
)
ERROR_ADVICE = {WINDOW_CLOSED_CODE: WINDOW_CLOSED, UNDELIVERABLE_CODE: UNDELIVERABLE}

# ------------------------------------------------------------------------- config


class WhatsAppConfigSerializer(serializers.Serializer):
    """Config of a WhatsApp channel. Source: Meta app dashboard, WhatsApp → API
    Setup, and App settings → Basic.

    `phone_number_id` is the business number's id (the send path);
    `access_token` a long-lived system-user token with
    `whatsapp_business_messaging`; `verify_token` a string the admin chooses and
    pastes in the webhook configuration (Meta echoes it in the handshake);
    `app_secret` the app's secret (App settings → Basic), which signs
    webhooks: required, since PingBack refuses every webhook it cannot verify
    (a channel stored before it was required refuses them until one is added).
    """

    phone_number_id = serializers.RegexField(
        r"^\d+$",
        max_length=64,
        help_text="The business number's id (Meta app dashboard, WhatsApp → "
        "API Setup), not the phone number itself.",
    )
    access_token = serializers.CharField(
        max_length=1000,
        help_text="A long-lived system-user token with the "
        "whatsapp_business_messaging permission.",
    )
    verify_token = serializers.CharField(
        max_length=200,
        help_text="A string you choose; paste the same one as the Verify token "
        "in the app's webhook configuration.",
    )
    app_secret = serializers.CharField(
        max_length=200,
        help_text="The Meta app's secret (App settings → Basic): it signs the "
        "webhooks, which are refused without it.",
    )


# ------------------------------------------------------------------ parse helpers


def _from_epoch_seconds(value: JsonValue) -> datetime:
    """WhatsApp's `timestamp`: epoch seconds as a string."""
    return datetime.fromtimestamp(int(value.digits()), tz=UTC)


def _optional_str(holder: JsonValue, key: str) -> str:
    """`holder[key]` as a string, or "" when absent; MalformedPayload when it
    is there but not a string."""
    value = holder.get(key)
    return value.str() if value is not None else ""


def _number(value: JsonValue) -> float:
    """A JSON number (a location's latitude or longitude)."""
    if isinstance(value.value, bool) or not isinstance(value.value, int | float):
        raise MalformedPayload(f"{value.path}: expected a number")
    return float(value.value)


def _error_text(error: JsonValue) -> str:
    """`131047: Re-engagement message — <details>`, with PingBack's advice for
    the codes agents can act on. Source: `errors[]` of statuses and messages
    (`code`, `title`, `message`, `error_data.details`)."""
    code = error["code"].int()
    title = _optional_str(error, "title") or _optional_str(error, "message")
    data = error.get("error_data")
    details = _optional_str(data, "details") if data is not None else ""
    text = f"{code}: {title}"
    if details and details != title:
        text = f"{text} — {details}"
    advice = ERROR_ADVICE.get(code)
    return f"{text} {advice}" if advice else text


def _media_attachment(kind: str, media: JsonValue) -> tuple[dict[str, Any], str]:
    """An attachment descriptor for a media message, and its caption (the
    message's text). `ref` is the media id `fetch_media` downloads. Source:
    `messages[].image|video|audio|document|sticker`."""
    attachment: dict[str, Any] = {
        "kind": kind,
        "ref": media["id"].str(),
        "content_type": media["mime_type"].str(),
    }
    filename = _optional_str(media, "filename")
    if filename:
        attachment["filename"] = filename
    return attachment, _optional_str(media, "caption")


def _location_attachment(location: JsonValue) -> dict[str, Any]:
    """A location descriptor. Source: `messages[].location` `{latitude,
    longitude, name?, address?}`."""
    attachment: dict[str, Any] = {
        "kind": "location",
        "latitude": _number(location["latitude"]),
        "longitude": _number(location["longitude"]),
    }
    for key in ("name", "address"):
        text = _optional_str(location, key)
        if text:
            attachment[key] = text
    return attachment


def _unsupported(
    message: JsonValue, wa_id: str, names: dict[str, str], what: str
) -> InboundMessage:
    """A message PingBack cannot render, kept and shown all the same: its text
    names `what`, `details["raw"]` is the `messages[]` item as received; it
    continues the conversation of the message it answers (`context.id`)."""
    context = message.get("context")
    reply_to = _optional_str(context, "id") if context is not None else ""
    return InboundMessage(
        platform_message_id=message["id"].str(),
        contact=InboundContact(external_id=wa_id, name=names.get(wa_id, "")),
        text=f"Unsupported message: {what}",
        sent_at=_from_epoch_seconds(message["timestamp"]),
        thread_key=f"{THREAD}:{wa_id}",
        reply_to_platform_message_id=reply_to or None,
        kind="unsupported",
        details={"raw": message.value},
    )


def _unsupported_what(message: JsonValue, kind: str) -> str:
    """What an `unsupported` (or `unknown`) message is: the type Meta names in
    `unsupported.type` (newer API versions), else the `title` of its first
    error (`errors[0]`, "Message type unknown"), else the type itself."""
    detail = message.get("unsupported")
    if detail is not None and "type" in detail:
        return detail["type"].str()
    errors = message.get("errors")
    if errors is not None and errors.list():
        error = errors[0]
        title = _optional_str(error, "title") or _optional_str(error, "message")
        if title:
            return title
    return kind


def _interactive(interactive: JsonValue) -> tuple[str, dict[str, Any], list[dict]]:
    """A tapped reply button or list row: (text = its title, the `reply`
    detail {type, id, title}, context entries: a list row's description).
    Source: Cloud API, webhooks > messages > interactive
    (`interactive.type` button_reply | list_reply, `{id, title,
    description?}`)."""
    kind = interactive["type"].str()
    chosen = interactive[kind]
    title = chosen["title"].str()
    reply = {"type": kind, "id": chosen["id"].str(), "title": title}
    context = []
    description = _optional_str(chosen, "description")
    if description:
        context.append({"label": "Chosen from a list", "text": description})
    return title, reply, context


def _contact_card(card: JsonValue) -> dict[str, Any]:
    """A shared contact card as a `contact` attachment: `name`
    (`name.formatted_name`, else first and last names), `phones` and
    `emails` (lists of strings, as given). Source: Cloud API, webhooks >
    messages > contacts (`contacts[].name`, `phones[].phone`,
    `emails[].email`; any may be left out by the customer's phone)."""
    name = card.get("name")
    shown = ""
    if name is not None:
        shown = _optional_str(name, "formatted_name") or " ".join(
            part
            for part in (
                _optional_str(name, "first_name"),
                _optional_str(name, "last_name"),
            )
            if part
        )
    phones_value = card.get("phones")
    emails_value = card.get("emails")
    phones = [
        _optional_str(phone, "phone")
        for phone in (phones_value.list() if phones_value is not None else ())
    ]
    emails = [
        _optional_str(email, "email")
        for email in (emails_value.list() if emails_value is not None else ())
    ]
    return {
        "kind": "contact",
        "name": shown or "Unnamed contact",
        "phones": [phone for phone in phones if phone],
        "emails": [email for email in emails if email],
    }


def _contacts_text(cards: list[dict[str, Any]]) -> str:
    """`Contact card: Ada Lovelace, +1 555 0100` (cards joined by `; `)."""
    shown = [
        ", ".join([card["name"], *card["phones"], *card["emails"]]) for card in cards
    ]
    label = "Contact card" if len(cards) == 1 else "Contact cards"
    return f"{label}: {'; '.join(shown)}"


def _decimal(value: JsonValue) -> Decimal:
    """A JSON number as a Decimal (prices: `7.99`, not 7.9900000000000002)."""
    _number(value)
    try:
        return Decimal(str(value.value))
    except InvalidOperation as error:  # pragma: no cover - _number checked it
        raise MalformedPayload(f"{value.path}: expected a number") from error


def _order_text(order: JsonValue) -> str:
    """The customer's order as text: their note, then one line per item
    (`2 x di9ozbzfi4 at 7.99 USD`) and the total per currency. Source: Cloud
    API, webhooks > messages > order (`catalog_id`, `text`,
    `product_items[] {product_retailer_id, quantity, item_price,
    currency}`)."""
    lines = []
    note = _optional_str(order, "text")
    if note:
        lines.append(note)
    lines.append(f"Order from catalog {order['catalog_id'].str()}:")
    totals: dict[str, Decimal] = {}
    for item in order["product_items"].list():
        quantity = item["quantity"].int()
        price = _decimal(item["item_price"])
        currency = item["currency"].str()
        product = item["product_retailer_id"].str()
        lines.append(f"{quantity} x {product} at {price} {currency}")
        totals[currency] = totals.get(currency, Decimal(0)) + quantity * price
    for currency, total in totals.items():
        lines.append(f"Total: {total} {currency}")
    return "\n".join(lines)


def _referral_context(referral: JsonValue) -> dict[str, str]:
    """The click-to-WhatsApp ad the conversation came from: label "From an
    ad", the ad's headline and body, its `source_url`. Source: Cloud API,
    webhooks > messages (`referral {source_url, source_id, source_type,
    headline, body, media_type, ...}`)."""
    parts = [_optional_str(referral, "headline"), _optional_str(referral, "body")]
    return {
        "label": "From an ad",
        "text": " — ".join(part for part in parts if part),
        "url": _optional_str(referral, "source_url"),
    }


def _message_context(message: JsonValue) -> tuple[str, list[dict[str, str]]]:
    """The id of the message it replies to (`context.id`, "" when none), and
    the context entries shown above it: forwarded (`context.forwarded`,
    `frequently_forwarded`), the product asked about
    (`context.referred_product`), the ad it came from (`referral`)."""
    entries: list[dict[str, str]] = []
    context = message.get("context")
    reply_to = ""
    if context is not None:
        reply_to = _optional_str(context, "id")
        frequently = context.get("frequently_forwarded")
        forwarded = context.get("forwarded")
        if frequently is not None and frequently.value is True:
            entries.append({"label": "Forwarded many times"})
        elif forwarded is not None and forwarded.value is True:
            entries.append({"label": "Forwarded"})
        product = context.get("referred_product")
        if product is not None:
            entries.append(
                {
                    "label": "About a product",
                    "text": f"{product['product_retailer_id'].str()} (catalog "
                    f"{product['catalog_id'].str()})",
                }
            )
    referral = message.get("referral")
    if referral is not None:
        entries.append(_referral_context(referral))
    return reply_to, entries


def _system_items(
    message: JsonValue, wa_id: str, names: dict[str, str]
) -> list[InboundItem]:
    """A `system` message: its `body` shown in the thread ("User Sheena
    Nelson changed from 16505551234 to 12195555358"), then, for a number
    change, the identity and its thread moved to the new id. The message
    goes first so it lands in the thread that moves. Source: Cloud API,
    webhooks > messages > system (`system {body, type, wa_id}`;
    `new_wa_id` with type `customer_changed_number` in older versions)."""
    system = message["system"]
    kind = _optional_str(system, "type")
    body = _optional_str(system, "body") or f"WhatsApp system message: {kind}"
    sent_at = _from_epoch_seconds(message["timestamp"])
    items: list[InboundItem] = [
        InboundMessage(
            platform_message_id=message["id"].str(),
            contact=InboundContact(external_id=wa_id, name=names.get(wa_id, "")),
            text=body,
            sent_at=sent_at,
            thread_key=f"{THREAD}:{wa_id}",
            details={"context": [{"label": "WhatsApp system message"}]},
        )
    ]
    if kind in NUMBER_CHANGED_TYPES:
        new = system.get("wa_id") or system.get("new_wa_id")
        if new is None:
            raise MalformedPayload(f"{system.path}.wa_id: missing")
        new_id = new.digits()
        if new_id != wa_id:
            items.append(
                IdentityMoved(
                    old_external_id=wa_id,
                    new_external_id=new_id,
                    occurred_at=sent_at,
                    old_thread_key=f"{THREAD}:{wa_id}",
                    new_thread_key=f"{THREAD}:{new_id}",
                )
            )
    return items


def _parse_message(message: JsonValue, names: dict[str, str]) -> list[InboundItem]:
    """One `messages[]` item as the items it stands for: a message (any kind
    PingBack cannot render becomes an `unsupported` message, never dropped),
    a `Reaction`, or a system message and the customer's new id. `names`
    maps wa_id to the profile name from `contacts[]`."""
    kind = message["type"].str()
    wa_id = message["from"].digits()
    if kind == "reaction":
        reaction = message["reaction"]
        return [
            Reaction(
                platform_message_id=reaction["message_id"].str(),
                emoji=_optional_str(reaction, "emoji"),  # empty: removed
                reacted_at=_from_epoch_seconds(message["timestamp"]),
            )
        ]
    if kind == "system":
        return _system_items(message, wa_id, names)
    if kind in ("unsupported", "unknown"):
        return [_unsupported(message, wa_id, names, _unsupported_what(message, kind))]
    text = ""
    attachments: tuple[dict[str, Any], ...] = ()
    details: dict[str, Any] = {}
    reply_to, context = _message_context(message)
    if kind == "text":
        text = message["text"]["body"].str()
    elif kind in MEDIA_TYPES:
        media = message[kind]
        voice = media.get("voice")
        shown = "voice" if voice is not None and voice.value is True else kind
        attachment, text = _media_attachment(shown, media)
        attachments = (attachment,)
    elif kind == "location":
        attachments = (_location_attachment(message["location"]),)
    elif kind == "interactive":
        interactive = message["interactive"]
        reply_kind = interactive["type"].str()
        if reply_kind not in INTERACTIVE_REPLIES:
            return [_unsupported(message, wa_id, names, f"interactive {reply_kind}")]
        text, details["reply"], more = _interactive(interactive)
        context += more
    elif kind == "button":
        button = message["button"]
        text = button["text"].str()
        details["reply"] = {
            "type": "button",
            "id": _optional_str(button, "payload"),
            "title": text,
        }
    elif kind == "contacts":
        cards = [_contact_card(card) for card in message["contacts"].list()]
        attachments = tuple(cards)
        text = _contacts_text(cards) if cards else "Contact card"
    elif kind == "order":
        text = _order_text(message["order"])
    else:
        return [_unsupported(message, wa_id, names, kind)]
    if context:
        details["context"] = context
    return [
        InboundMessage(
            platform_message_id=message["id"].str(),
            contact=InboundContact(external_id=wa_id, name=names.get(wa_id, "")),
            text=text,
            sent_at=_from_epoch_seconds(message["timestamp"]),
            thread_key=f"{THREAD}:{wa_id}",
            reply_to_platform_message_id=reply_to or None,
            attachments=attachments,
            details=details,
        )
    ]


def _parse_status(status: JsonValue) -> tuple[DeliveryStatus | None, str]:
    """One `statuses[]` item: a receipt for the message we sent as `id`, or
    None and why it is ignored. A `failed` status carries `errors[0]`; a
    `played` one (a voice message played) is a `read` receipt. Source: Cloud
    API, webhooks > messages > status (`status` sent | delivered | read |
    played | failed)."""
    wamid = status["id"].str()
    state = status["status"].str()
    state = STATUS_ALIASES.get(state, state)
    if state not in RECEIPT_STATUSES:
        return None, f"status {state} of {wamid} not handled"
    error = ""
    errors = status.get("errors")
    if state == "failed" and errors is not None and errors.list():
        error = _error_text(errors[0])
    return (
        DeliveryStatus(
            platform_message_id=wamid,
            status=state,
            occurred_at=_from_epoch_seconds(status["timestamp"]),
            error=error,
        ),
        "",
    )


def _contact_names(value: JsonValue) -> dict[str, str]:
    """wa_id → profile name, from `value.contacts[]`."""
    contacts = value.get("contacts")
    names = {}
    for contact in contacts.list() if contacts is not None else ():
        profile = contact.get("profile")
        name = _optional_str(profile, "name") if profile is not None else ""
        wa_id = contact.get("wa_id")
        if wa_id is not None and name:
            names[wa_id.str()] = name
    return names


def _parse_value(
    value: JsonValue,
) -> tuple[list[InboundItem], list[str], list[str]]:
    """A `changes[].value` of our number: (items, dedupe keys, ignored)."""
    items: list[InboundItem] = []
    keys: list[str] = []
    ignored: list[str] = []
    names = _contact_names(value)
    messages = value.get("messages")
    for message in messages.list() if messages is not None else ():
        keys.append(f"msg:{message['id'].str()}")
        items += _parse_message(message, names)
    statuses = value.get("statuses")
    for status in statuses.list() if statuses is not None else ():
        keys.append(f"status:{status['id'].str()}:{status['status'].str()}")
        receipt, reason = _parse_status(status)
        if receipt is None:
            ignored.append(reason)
        else:
            items.append(receipt)
    errors = value.get("errors")
    for error in errors.list() if errors is not None else ():
        ignored.append(f"WhatsApp reported an error: {_error_text(error)}")
    return items, keys, ignored


def _event_key(keys: list[str], body: bytes) -> str:
    """Dedupe key of a delivery: its item keys (`msg:<wamid>`,
    `status:<wamid>:<status>`), sorted and joined, so a redelivery in any
    order is recognised (docs/platforms/whatsapp.md, "Dedupe, ack budget,
    retries"); their hash when too long for the column, and the body's hash
    when the body has no items."""
    if not keys:
        return "sha256:" + hashlib.sha256(body).hexdigest()
    joined = ",".join(sorted(set(keys)))
    if len(joined) > 255:
        return "sha256:" + hashlib.sha256(joined.encode()).hexdigest()
    return joined


# ------------------------------------------------------------------- send helpers


def _envelope(to: str, part: dict[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": MESSAGING_PRODUCT,
        "recipient_type": "individual",
        "to": to,
        **part,
    }


def _template_payload(to: str, template: MessageTemplate) -> dict[str, Any]:
    """A template message: `{type: template, template: {name, language: {code},
    components: [{type: body, parameters: [{type: text, text}]}]}}`."""
    body: dict[str, Any] = {
        "name": template.name,
        "language": {"code": template.language},
    }
    if template.parameters:
        body["components"] = [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": value} for value in template.parameters
                ],
            }
        ]
    return _envelope(to, {"type": "template", "template": body})


def _media_type(attachment: OutboundAttachment) -> str:
    """The WhatsApp message type for a file: image, video or audio when
    WhatsApp plays that content type inline, else document."""
    inline = INLINE_MEDIA_TYPES.get(attachment.kind, frozenset())
    return attachment.kind if attachment.content_type in inline else "document"


def _message_parts(
    message: OutboundMessage, media_ids: list[str]
) -> list[dict[str, Any]]:
    """The messages one reply becomes: its files by uploaded id, the text as
    the first file's caption when that file takes one (image, video, document)
    and the text fits, else the text first as its own message. The first part
    quotes the customer's newest message (`context.message_id`)."""
    text = message.text
    types = [_media_type(attachment) for attachment in message.attachments]
    captioned = bool(
        text
        and types
        and types[0] in CAPTIONED_TYPES
        and len(text) <= MAX_CAPTION_LENGTH
    )
    parts: list[dict[str, Any]] = []
    if text and not captioned:
        parts.append({"type": "text", "text": {"preview_url": False, "body": text}})
    for index, (attachment, kind, media_id) in enumerate(
        zip(message.attachments, types, media_ids, strict=True)
    ):
        media: dict[str, Any] = {"id": media_id}
        if index == 0 and captioned:
            media["caption"] = text
        if kind == "document":
            media["filename"] = attachment.filename
        parts.append({"type": kind, kind: media})
    if parts and message.reply_to_platform_message_id:
        parts[0]["context"] = {"message_id": message.reply_to_platform_message_id}
    return [_envelope(message.recipient_external_id, part) for part in parts]


def _delivery_error(error: GraphError) -> DeliveryError:
    """Classify a Graph error of a send: the closed 24-hour window and
    undeliverable numbers are permanent with advice for the agent; the rest as
    `graph_delivery_error` (rate limits transient, bad tokens alert the
    admins)."""
    advice = ERROR_ADVICE.get(error.code)
    if advice:
        return PermanentDeliveryError(
            f"{error.describe()} {advice}",
            status_code=error.status_code,
            detail=error.describe(),
        )
    return graph_delivery_error(error)


# ----------------------------------------------------------------------- platform


class WhatsAppPlatform(Platform):
    """WhatsApp Cloud API: one business phone number per channel."""

    channel_type = "whatsapp"
    config_serializer = WhatsAppConfigSerializer
    secret_fields = frozenset({"access_token", "verify_token", "app_secret"})
    learned_fields = frozenset({"display_phone_number", "verified_name"})
    receives_webhooks = True
    supports_templates = WHATSAPP.supports_templates
    supports_reactions = True
    ready_on_signed_event = True

    def check_credentials(
        self, public: dict[str, Any], secrets: dict[str, str]
    ) -> None:
        """Ask the Graph API for the number
        (`GET /{phone_number_id}?fields=display_phone_number,verified_name`).

        Raises `CredentialsRejected` naming `access_token` when Meta refuses
        the token (190, permission codes, 401), or `phone_number_id` when the
        token cannot see that number (100), with Meta's words. An unreachable
        Graph API or any other answer is not a refusal: setup reports it.
        """
        api = WhatsAppApi(secrets["access_token"], public["phone_number_id"])
        try:
            api.phone_number()
        except GraphError as error:
            if error.code in CREDENTIAL_CODES or error.status_code == 401:
                raise CredentialsRejected("access_token", error.describe()) from error
            if error.code == UNKNOWN_OBJECT_CODE:
                raise CredentialsRejected(
                    "phone_number_id", error.describe()
                ) from error
        except DeliveryError:
            return

    def handshake(self, channel: Channel, request: HttpRequest) -> HttpResponse | None:
        """Meta's `hub.challenge` handshake, with the channel's verify token."""
        return meta_handshake(request, channel.secrets.get("verify_token"))

    def verify(self, channel: Channel, request: HttpRequest) -> None:
        """`X-Hub-Signature-256` with the app secret (`meta_verify`): raises
        `SignatureInvalid`, or `SecretMissing` while the channel has no app
        secret (every post is then refused)."""
        meta_verify(channel, request)

    def parse(self, channel: Channel, body: bytes) -> ParsedWebhook:
        """Parse a WhatsApp Business Account webhook: every `entry[].changes[]`
        of the `messages` field for the channel's number, into messages and
        delivery statuses. Changes for another number, other fields and other
        objects are ignored with a reason. Raises `MalformedPayload`.

        Source: webhook `{object, entry: [{id, changes: [{field, value:
        {metadata: {phone_number_id}, contacts, messages, statuses,
        errors}}]}]}` (docs/platforms/whatsapp.md, "Payloads PingBack reads").
        """
        root = JsonValue.parse(body)
        kind = root["object"].str()
        if kind != WEBHOOK_OBJECT:
            return ParsedWebhook(
                event_key=_event_key([], body),
                ignored=(f"object {kind} is not a WhatsApp Business Account",),
            )
        number = channel.config.get("phone_number_id")
        items: list[InboundItem] = []
        keys: list[str] = []
        ignored: list[str] = []
        for entry in root["entry"].list():
            for change in entry["changes"].list():
                field = change["field"].str()
                if field != MESSAGES_FIELD:
                    ignored.append(f"field {field} not handled")
                    continue
                value = change["value"]
                other = value["metadata"]["phone_number_id"].digits()
                if other != number:
                    ignored.append(f"event for another phone number ({other})")
                    continue
                found = _parse_value(value)
                items += found[0]
                keys += found[1]
                ignored += found[2]
        if not items and not ignored:
            ignored.append("no messages or statuses")
        return ParsedWebhook(
            event_key=_event_key(keys, body),
            items=tuple(items),
            ignored=tuple(ignored),
        )

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """Send a template (`message.template`), or the text and files: files
        are uploaded first, then sent by id (see `_message_parts`). Returns the
        wamid of the first message, which its statuses are keyed by.

        A reply of several parts that fails midway leaves the parts already
        sent with the customer. Raises `TransientDeliveryError` (network, rate
        limits, 5xx) or `PermanentDeliveryError` (closed window, undeliverable
        number, refused token, too long text).
        """
        api = WhatsAppApi.for_channel(channel)
        to = message.recipient_external_id
        if message.template is not None:
            return SendResult(api.send_message(_template_payload(to, message.template)))
        refusal = channel_type_capabilities("whatsapp").text_refusal(
            len(message.text), subject="one"
        )
        if refusal:
            raise PermanentDeliveryError(refusal)
        media_ids = [
            api.upload(attachment, _media_type(attachment))
            for attachment in message.attachments
        ]
        parts = _message_parts(message, media_ids)
        if not parts:
            raise PermanentDeliveryError("The reply has no text or file to send.")
        wamids = [api.send_message(part) for part in parts]
        return SendResult(wamids[0])

    def send_reaction(
        self,
        channel: Channel,
        platform_message_id: str,
        recipient_external_id: str,
        emoji: str,
    ) -> None:
        """React to a message (the customer's or ours) with `emoji`; an empty
        `emoji` removes the business's reaction. `POST /{phone_number_id}/
        messages` with `{type: reaction, reaction: {message_id, emoji}}`;
        like any free-form message, only inside the 24-hour window. Raises
        `TransientDeliveryError` or `PermanentDeliveryError` (closed window,
        refused token, ...).

        Source: Cloud API reference, messages > reaction messages."""
        WhatsAppApi.for_channel(channel).send_message(
            _envelope(
                recipient_external_id,
                {
                    "type": "reaction",
                    "reaction": {"message_id": platform_message_id, "emoji": emoji},
                },
            )
        )

    def fetch_media(
        self, channel: Channel, attachment: dict[str, Any]
    ) -> FetchedMedia | None:
        """Download an inbound file by its media id (`ref`): `GET /{media_id}`
        gives a short-lived URL, fetched with the same Bearer token. Raises
        `PermanentDeliveryError` for a file over `MEDIA_MAX_BYTES` (not
        downloaded) and the Graph errors of `WhatsAppApi`."""
        media_id = attachment.get("ref")
        if not media_id:
            return None
        api = WhatsAppApi.for_channel(channel)
        info = api.media_info(media_id)
        if info.size > settings.MEDIA_MAX_BYTES:
            raise PermanentDeliveryError(
                f"The file is {info.size} bytes, more than PingBack keeps "
                f"({settings.MEDIA_MAX_BYTES} bytes)."
            )
        return FetchedMedia(
            content=api.download(info.url),
            content_type=info.mime_type
            or attachment.get("content_type")
            or "application/octet-stream",
            filename=attachment.get("filename", ""),
        )

    def setup_name(self, config: dict[str, Any]) -> str:
        """The number's "<verified_name> (<display_phone_number>)", as Meta
        gives them."""
        verified = str(config.get("verified_name") or "")
        number = str(config.get("display_phone_number") or "")
        if verified and number:
            return f"{verified} ({number})"
        return verified or number

    def on_create(self, channel: Channel) -> SetupResult:
        """Learn the number's `display_phone_number` and `verified_name`, then
        ask the admin to configure the webhook in the Meta app dashboard (Meta
        offers no API for it with a system-user token): callback URL, verify
        token, and the `messages` field. The channel is `action_required`
        until Meta's first signed event (then `ready`, see
        `meta_setup_result`); without `app_secret` (a channel stored before
        it was required), the message starts by saying that every webhook is
        refused until it is added. Name: "<verified_name>
        (<display_phone_number>)".

        Source: Cloud API reference, phone numbers
        (`GET /{phone_number_id}?fields=verified_name,display_phone_number`)."""
        try:
            number = WhatsAppApi.for_channel(channel).phone_number()
        except GraphError as error:
            return SetupResult(
                state="failed",
                message=f"Meta refused to show phone number "
                f"{channel.config.get('phone_number_id')}: {error.describe()}",
            )
        except DeliveryError as error:
            return SetupResult(
                state="failed",
                message=f"Could not check the number with the Graph API "
                f"({error.reason}). Run setup again once it is reachable.",
            )
        learned = {
            "display_phone_number": str(number.get("display_phone_number") or ""),
            "verified_name": str(number.get("verified_name") or ""),
        }
        shown = self.setup_name(learned)
        return meta_setup_result(
            channel,
            connected=f"Connected to {shown}.",
            dashboard_step=(
                "Paste this callback URL and verify token in Meta's dashboard "
                f"(WhatsApp → Configuration): {self.webhook_url(channel)} and the "
                "verify token you chose for this channel (both are in "
                "_meta_setup_instructions), click Verify and save, then subscribe "
                "to the messages field."
            ),
            config=learned,
            name=shown,
        )

    def receiving_message(self, channel: Channel, since: datetime) -> str:
        """The message "Receiving events from Meta since <since> UTC"."""
        return meta_receiving_message(since)

    def public_config_extra(self, channel: Channel, *, reveal: bool) -> dict[str, Any]:
        """`_meta_setup_instructions`: the callback URL and verify token to
        paste in the Meta app dashboard (the token in clear only when
        `reveal`), and `app_secret_missing` while the channel has no app
        secret (`meta_setup_instructions`)."""
        from channels_app.services.channels import mask_secret

        return meta_setup_instructions(
            channel, self.webhook_url(channel), reveal=reveal, mask=mask_secret
        )


# --------------------------------------------------------------------- API client


@dataclass(frozen=True)
class MediaInfo:
    """What `GET /{media_id}` says about a file: its short-lived `url`,
    `mime_type` and `size` in bytes (0 when not given)."""

    url: str
    mime_type: str
    size: int


class WhatsAppApi:
    """The Cloud API calls PingBack makes for one business number, through
    `GraphClient` (httpx, `GRAPH_API_BASE_URL`/`GRAPH_API_VERSION`). Methods
    raise `TransientDeliveryError` or `PermanentDeliveryError`, except
    `phone_number`, which raises the raw `GraphError` for setup to read."""

    def __init__(self, access_token: str, phone_number_id: str) -> None:
        self.client = GraphClient(access_token)
        self.phone_number_id = phone_number_id

    @classmethod
    def for_channel(cls, channel: Channel) -> WhatsAppApi:
        return cls(channel.secrets["access_token"], channel.config["phone_number_id"])

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """`GraphClient.request` with Graph errors classified for sends."""
        try:
            return self.client.request(method, path, **kwargs)
        except GraphError as error:
            raise _delivery_error(error) from error

    def phone_number(self) -> dict[str, Any]:
        """`GET /{phone_number_id}?fields=display_phone_number,verified_name`.
        Raises `GraphError` when Meta refuses, `DeliveryError` when the Graph
        API cannot be reached."""
        response = self.client.request(
            "GET", self.phone_number_id, params={"fields": PHONE_NUMBER_FIELDS}
        )
        return _json_object(response)

    def send_message(self, payload: dict[str, Any]) -> str:
        """`POST /{phone_number_id}/messages` → the new message's wamid
        (`messages[0].id`)."""
        response = self._call("POST", f"{self.phone_number_id}/messages", json=payload)
        messages = _json_object(response).get("messages")
        if not messages or not isinstance(messages[0], dict) or "id" not in messages[0]:
            raise PermanentDeliveryError("The Graph API answered without a message id.")
        return str(messages[0]["id"])

    def upload(self, attachment: OutboundAttachment, media_type: str) -> str:
        """`POST /{phone_number_id}/media` (multipart: messaging_product, file,
        type) → the media id to send `media_type` by."""
        with attachment.open() as file:
            response = self._call(
                "POST",
                f"{self.phone_number_id}/media",
                data={
                    "messaging_product": MESSAGING_PRODUCT,
                    "type": attachment.content_type,
                },
                files={"file": (attachment.filename, file, attachment.content_type)},
            )
        media_id = _json_object(response).get("id")
        if not media_id:
            raise PermanentDeliveryError(
                f"The Graph API answered the upload of {attachment.filename} "
                f"({media_type}) without a media id."
            )
        return str(media_id)

    def media_info(self, media_id: str) -> MediaInfo:
        """`GET /{media_id}` → `{url, mime_type, sha256, file_size, id}`."""
        info = _json_object(self._call("GET", media_id))
        if not info.get("url"):
            raise PermanentDeliveryError(
                f"The Graph API gave no download URL for media {media_id}."
            )
        try:
            size = int(info.get("file_size") or 0)
        except (TypeError, ValueError):
            size = 0
        return MediaInfo(str(info["url"]), str(info.get("mime_type") or ""), size)

    def download(self, url: str) -> bytes:
        """GET a media URL from `media_info` under the outbound HTTP policy
        (`pingback.egress`) → bytes, at most `MEDIA_MAX_BYTES`, within
        `PLATFORM_API_TIMEOUT` seconds. The Bearer token goes only to Meta's
        hosts (`MEDIA_CREDENTIAL_HOSTS`, and the Graph API host), never to
        another host the URL or a redirect leads to. Raises
        `PermanentDeliveryError` (a private address, a file too large, 4xx)
        or `TransientDeliveryError` (network, timeouts, 429, 5xx)."""
        fetched = media_download(
            url,
            source="the Graph API",
            credentials=bearer_credentials(self.client.access_token),
            credential_hosts=(settings.GRAPH_API_BASE_URL, *MEDIA_CREDENTIAL_HOSTS),
            refused=lambda status: f"Graph API answered {status}",
        )
        return fetched.content


def _json_object(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise PermanentDeliveryError("The Graph API answered with a non-object body.")
    return data

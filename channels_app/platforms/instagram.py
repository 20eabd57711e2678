"""Instagram Direct messages of a business's Instagram professional account.

API flavour: the Messenger API for Instagram (Facebook Login), the one
docs/platforms/instagram.md ("API flavour") describes for an account linked to
a Facebook Page. It runs on the Graph API host (`GRAPH_API_BASE_URL`, shared
with WhatsApp) with a Page access token, and sends through
`POST /{page_id}/messages`: the Page id is in the channel config, so the send
path never depends on which token "me" is.

Inbound: Meta webhooks, object `instagram`, fields `messages` (which also
carries echoes of our own sends, unsent messages, story replies and
mentions), `messaging_seen` (read receipts), `message_reactions`,
`messaging_postbacks` (icebreakers, template buttons) and
`messaging_referral` (ads and ig.me links).
    https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook
    Handshake and X-Hub-Signature-256: docs/platforms/whatsapp.md,
    "Verification handshake" and "Signature" (`meta.py`).
Outbound: `POST /{page_id}/messages`, text and media by URL.
    https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message
Profiles: `GET /{IGSID}?fields=name,username,profile_pic` (the User Profile
API: the name, username and picture of a customer who wrote to the account).
    https://developers.facebook.com/docs/messenger-platform/instagram/features/user-profile
Setup: `GET /{page_id}?fields=…` (the linked Instagram account) and
`POST /{page_id}/subscribed_apps` (Page subscriptions, without which Meta
delivers nothing).
    https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps
Details and quirks: docs/platforms/instagram.md.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from secrets import token_hex
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from rest_framework import serializers

from channels_app.platforms.base import (
    CredentialsRejected,
    DeliveryError,
    DeliveryStatus,
    FetchedMedia,
    InboundContact,
    InboundItem,
    InboundMessage,
    MalformedPayload,
    MessageDeletion,
    OutboundAttachment,
    OutboundMessage,
    ParsedWebhook,
    PermanentDeliveryError,
    Platform,
    PlatformProfile,
    Reaction,
    SendResult,
    SetupResult,
)
from channels_app.platforms.capabilities import INSTAGRAM, channel_type_capabilities
from channels_app.platforms.media_fetch import media_download
from channels_app.platforms.meta import (
    TRANSIENT_CODES,
    WINDOW_SUBCODES,
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
from pingback.egress import host_matches

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from channels_app.models import Channel

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------- constants

INSTAGRAM_OBJECT = "instagram"
THREAD_PREFIX = "ig"
PAGE_FIELDS = "name,instagram_business_account{id,username}"
# The User Profile API's fields (a customer's name may be absent: Instagram
# gives it only when the user set one).
PROFILE_FIELDS = "name,username,profile_pic"
# Any Page field turns Page subscriptions on for Instagram messaging (Meta's
# Instagram webhook guide, "Enable Page subscriptions").
PAGE_SUBSCRIBED_FIELDS = "messages"
# Instagram takes text "under 1000 characters" (docs/platforms/instagram.md,
# "Sending").
MAX_TEXT_LENGTH = INSTAGRAM.max_text_length  # the capabilities table
# Media Instagram accepts by URL, with their size limits in bytes
# (docs/platforms/instagram.md, "Sending").
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif"})
MAX_MEDIA_BYTES = {
    "image": INSTAGRAM.max_file_bytes,
    "video": 25 * 2**20,
    "audio": 25 * 2**20,
}
# Graph error for a send outside the messaging window: code 10 with one of
# `meta.WINDOW_SUBCODES`.
WINDOW_CODE = 10
# Graph codes meaning the Page id names nothing the token can see: 100 (with
# subcode 33, "Object with ID … does not exist") and 803 (unknown alias).
UNKNOWN_OBJECT_CODES = frozenset({100, 803})
# Hosts Meta serves messaging media from (webhook `payload.url`): inbound media
# is fetched from these only, since an unsigned webhook could name any URL.
META_MEDIA_DOMAINS = ("fbsbx.com", "fbcdn.net", "cdninstagram.com")
WINDOW_CLOSED = (
    "Instagram accepts replies only within 24 hours of the customer's last "
    "message (7 days for a human agent when the Meta app has the Human Agent "
    "permission); this conversation is outside that window, so nothing was sent"
)

# ------------------------------------------------------------------------- config


class InstagramConfigSerializer(serializers.Serializer):
    """Config of an Instagram channel. Source: docs/platforms/instagram.md, "API
    flavour" (Messenger API for Instagram).

    `access_token` is a Page access token of the Facebook Page linked to the
    Instagram professional account (permissions `instagram_basic`,
    `instagram_manage_messages`, `pages_manage_metadata`); `page_id` is that
    Page's id; `app_secret` is the Meta app's secret (App settings → Basic),
    which signs webhooks: required, since PingBack refuses every webhook it
    cannot verify (a channel stored before it was required refuses them until
    one is added).
    """

    access_token = serializers.CharField(
        max_length=1000,
        help_text="A Page access token of the Facebook Page linked to the "
        "Instagram professional account (instagram_basic, "
        "instagram_manage_messages, pages_manage_metadata).",
    )
    page_id = serializers.RegexField(
        r"^\d+$",
        max_length=64,
        help_text="The id of that Facebook Page.",
    )
    app_secret = serializers.CharField(
        max_length=200,
        help_text="The Meta app's secret (App settings → Basic): it signs the "
        "webhooks, which are refused without it.",
    )


# ------------------------------------------------------------------ parse helpers

# Meta attachment `type` → PingBack attachment kind, for media PingBack
# downloads (`fetch_media`).
ATTACHMENT_KINDS = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "file": "document",
}
# Attachment types shown as a link to what the customer shared (never
# downloaded: a post or reel belongs to its author), with the caption they get.
# Source: Meta's Messenger webhook reference, `messages` (attachment types
# `reel`, `ig_reel`, `share`, `fallback`).
LINK_CAPTIONS = {
    "ig_reel": "Reel shared by the customer",
    "reel": "Reel shared by the customer",
    "share": "Post shared by the customer",
    "animated_image_share": "Animated image shared by the customer",
    "fallback": "Link shared by the customer",
}
STORY_MENTION = "story_mention"
# `details["context"]` labels (see `InboundMessage`).
STORY_REPLY_LABEL = "Replied to your story"
STORY_MENTION_LABEL = "Mentioned you in their story"
AD_LABEL = "From an ad"
LINK_LABEL = "From a link"
SHOP_LABEL = "From your shop"
# Meta's `reaction` names → emoji, for a reaction sent without its emoji.
REACTION_EMOJI = {
    "love": "\u2764\ufe0f",
    "like": "\U0001f44d",
    "dislike": "\U0001f44e",
    "laugh": "\U0001f602",
    "smile": "\U0001f606",
    "wow": "\U0001f62e",
    "sad": "\U0001f622",
    "angry": "\U0001f620",
}
UNSUPPORTED_SHARED = "a kind of message Instagram does not share with apps"


@dataclass
class _Parsed:
    """What parsing a body collects: items, dedupe keys, ignored reasons, and
    the context of referrals waiting for the customer's next message
    (by sender id)."""

    items: list[InboundItem] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    referrals: dict[str, tuple[dict[str, str], JsonValue, datetime]] = field(
        default_factory=dict
    )


def _from_epoch_ms(value: JsonValue) -> datetime:
    """Meta's `timestamp`: epoch milliseconds as a JSON integer
    (docs/platforms/instagram.md, "Webhook payload")."""
    return datetime.fromtimestamp(value.int() / 1000, tz=UTC)


def _is_true(message: JsonValue, flag: str) -> bool:
    value = message.get(flag)
    return value is not None and value.value is True


def _text(value: JsonValue | None, key: str) -> str:
    """`value[key]` when `value` is an object and that a string, else ""."""
    if value is None or not isinstance(value.value, dict):
        return ""
    found = value.get(key)
    return found.str_or() if found is not None else ""


def _context(label: str, *, text: str = "", url: str = "") -> dict[str, str]:
    """One `details["context"]` entry, without empty keys."""
    entry = {"label": label}
    if text:
        entry["text"] = text
    if url:
        entry["url"] = url
    return entry


@dataclass
class _Content:
    """What a message's attachments and references render to."""

    attachments: list[dict[str, Any]] = field(default_factory=list)
    context: list[dict[str, str]] = field(default_factory=list)
    unrendered: list[str] = field(default_factory=list)


def _attachment(value: JsonValue, content: _Content) -> None:
    """One `message.attachments[]` item `{type, payload: {url, title?, …}}`.

    Media (`image`, `video`, `audio`, `file`) become attachments whose CDN url
    is fetched after ingest (`fetch_media`). A story mention becomes the
    context "Mentioned you in their story" and the story as a link-only
    attachment (Meta forbids storing story media: Story Mention guide). Reels,
    shared posts and links become link-only attachments. Any other type
    (`template`, a type Meta adds later, a share without url) is named in
    `content.unrendered`. Source: Meta's Instagram messaging webhook
    reference (`messages`), and the Story Mention feature page."""
    meta_type = value["type"].str()
    payload = value.get("payload")
    url = _text(payload, "url")
    title = _text(payload, "title")
    if meta_type in ATTACHMENT_KINDS and url:
        descriptor: dict[str, Any] = {"kind": ATTACHMENT_KINDS[meta_type], "url": url}
        if title:
            descriptor["caption"] = title
        content.attachments.append(descriptor)
    elif meta_type == STORY_MENTION:
        content.context.append(_context(STORY_MENTION_LABEL, url=url))
        if url:
            content.attachments.append(_story(url))
    elif meta_type in LINK_CAPTIONS and url:
        content.attachments.append(
            {
                "kind": "video" if "reel" in meta_type else "file",
                "url": url,
                "caption": title or LINK_CAPTIONS[meta_type],
                "link_only": True,
            }
        )
    else:
        content.unrendered.append(f"Instagram {meta_type.replace('_', ' ')}")


def _story(url: str) -> dict[str, Any]:
    """The customer's story (or the account's story they replied to), shown
    as a link and never downloaded."""
    return {"kind": "file", "url": url, "caption": "Story", "link_only": True}


def _referral_context(referral: JsonValue) -> dict[str, str]:
    """A `referral` {ref, source, type, ad_id?, ads_context_data?: {ad_title,
    photo_url, video_url, post_id}, product?: {id}} as a context entry: "From
    an ad: <ad_title>" (with the ad's picture or video thumbnail as its link),
    a shop product, or the ig.me link's `ref`. Source: Meta's
    messaging_referrals webhook reference and Instagram messaging webhooks
    (`messaging_referral`)."""
    ads = referral.get("ads_context_data")
    source = _text(referral, "source")
    if ads is not None or source == "ADS":
        title = _text(ads, "ad_title")
        url = _text(ads, "photo_url") or _text(ads, "video_url")
        label = f"{AD_LABEL}: {title}" if title else AD_LABEL
        return _context(label, text=_text(referral, "ref"), url=url)
    product = referral.get("product")
    if product is not None:
        return _context(SHOP_LABEL, text=f"Product {_text(product, 'id')}".strip())
    return _context(LINK_LABEL, text=_text(referral, "ref"))


def _customer_message(
    mid: str, sender: str, when: datetime, text: str, **fields: Any
) -> InboundMessage:
    """A message from customer `sender` (IGSID) in their thread
    (`ig:<IGSID>`); `fields` are the other `InboundMessage` fields."""
    return InboundMessage(
        platform_message_id=mid,
        contact=InboundContact(external_id=sender),
        text=text,
        sent_at=when,
        thread_key=f"{THREAD_PREFIX}:{sender}",
        **fields,
    )


def _unsupported(
    mid: str,
    sender: str,
    when: datetime,
    what: str,
    event: JsonValue,
    context: list[dict[str, str]],
) -> InboundMessage:
    """A message PingBack cannot render, kept with the event as received."""
    details: dict[str, Any] = {"raw": event.value}
    if context:
        details["context"] = context
    return _customer_message(
        mid,
        sender,
        when,
        f"Unsupported message: {what}",
        kind="unsupported",
        details=details,
    )


def _take_referral(found: _Parsed, sender: str) -> list[dict[str, str]]:
    """The context of a referral waiting for this sender's message (used
    once)."""
    waiting = found.referrals.pop(sender, None)
    return [waiting[0]] if waiting is not None else []


def _parse_message(
    event: JsonValue, sender: str, own: set[str], found: _Parsed
) -> None:
    """A `message` event: the customer's message, its deletion (`is_deleted`),
    a kind Instagram does not share (`is_unsupported`), or the echo of ours."""
    message = event["message"]
    mid = message["mid"].str()
    # Echoes of the account's own sends arrive on the same field
    # (docs/platforms/instagram.md, "Webhook payload").
    if _is_true(message, "is_echo") or sender in own:
        found.keys.append(f"mid:{mid}")
        found.ignored.append(f"echo of the account's own message {mid}")
        return
    when = _from_epoch_ms(event["timestamp"])
    if _is_true(message, "is_deleted"):
        # Not `mid:` — that key is the message's own delivery, already seen.
        found.keys.append(f"deleted:{mid}")
        found.items.append(MessageDeletion(platform_message_id=mid, deleted_at=when))
        return
    found.keys.append(f"mid:{mid}")
    context = _take_referral(found, sender)
    if _is_true(message, "is_unsupported"):
        found.items.append(
            _unsupported(mid, sender, when, UNSUPPORTED_SHARED, event, context)
        )
        return
    content = _Content()
    listed = message.get("attachments")
    for attachment in listed.list() if listed is not None else []:
        _attachment(attachment, content)
    reply_to_mid = None
    reply_to = message.get("reply_to")
    if reply_to is not None:
        replied = reply_to.get("mid")
        reply_to_mid = replied.str() if replied is not None else None
        story = reply_to.get("story")
        if story is not None:
            url = _text(story, "url")
            content.context.append(_context(STORY_REPLY_LABEL, url=url))
            if url:
                content.attachments.append(_story(url))
    referral = message.get("referral")
    if referral is not None:
        context.append(_referral_context(referral))
    text = _text(message, "text")
    details: dict[str, Any] = {}
    quick_reply = message.get("quick_reply")
    if quick_reply is not None:
        details["reply"] = {
            "type": "quick_reply",
            "id": _text(quick_reply, "payload"),
            "title": text,
        }
    context += content.context
    if not text and not content.attachments and not context:
        what = ", ".join(content.unrendered) or "an empty message"
        found.items.append(_unsupported(mid, sender, when, what, event, []))
        return
    if content.unrendered:
        # Part of it cannot be shown: keep the event one click away.
        details["raw"] = event.value
    if context:
        details["context"] = context
    found.items.append(
        _customer_message(
            mid,
            sender,
            when,
            text,
            reply_to_platform_message_id=reply_to_mid,
            attachments=tuple(content.attachments),
            details=details,
        )
    )


def _parse_read(event: JsonValue, sender: str, own: set[str], found: _Parsed) -> None:
    """A `read` event (field `messaging_seen`): the customer read our `mid`."""
    mid = event["read"]["mid"].str()
    timestamp = event["timestamp"]
    found.keys.append(f"read:{mid}:{timestamp.int()}")
    if sender in own:
        found.ignored.append(f"the account read message {mid}")
        return
    found.items.append(
        DeliveryStatus(
            platform_message_id=mid,
            status="read",
            occurred_at=_from_epoch_ms(timestamp),
        )
    )


def _parse_reaction(
    event: JsonValue, sender: str, own: set[str], found: _Parsed
) -> None:
    """A `reaction` {mid, action: react|unreact, reaction?, emoji?} (field
    `message_reactions`): the customer's reaction to a message, theirs or
    ours; `unreact` (no emoji) removes it. Source: Meta's Instagram messaging
    webhooks, `message_reactions`."""
    reaction = event["reaction"]
    mid = reaction["mid"].str()
    action = _text(reaction, "action") or "react"
    timestamp = event["timestamp"]
    found.keys.append(f"reaction:{mid}:{action}:{timestamp.int()}")
    if sender in own:
        found.ignored.append(f"the account's own reaction to message {mid}")
        return
    emoji = _text(reaction, "emoji") if action == "react" else ""
    if action == "react" and not emoji:
        # Older Graph versions name the reaction without its emoji.
        emoji = REACTION_EMOJI.get(_text(reaction, "reaction"), "")
    found.items.append(
        Reaction(
            platform_message_id=mid, emoji=emoji, reacted_at=_from_epoch_ms(timestamp)
        )
    )


def _parse_postback(
    event: JsonValue, sender: str, own: set[str], found: _Parsed
) -> None:
    """A `postback` {mid, title, payload, referral?} (field
    `messaging_postbacks`): the customer tapped an icebreaker or a generic
    template button. It becomes their message saying the button's title, with
    `details["reply"]` {type: "postback", id: payload, title}. Source: Meta's
    Instagram messaging webhooks, `messaging_postbacks`."""
    postback = event["postback"]
    timestamp = event["timestamp"]
    given = postback.get("mid")
    mid = given.str() if given is not None else f"postback:{sender}:{timestamp.int()}"
    found.keys.append(f"mid:{mid}" if given is not None else mid)
    if sender in own:
        found.ignored.append(f"postback {mid} from the account itself")
        return
    title = _text(postback, "title")
    context = _take_referral(found, sender)
    referral = postback.get("referral")
    if referral is not None:
        context.append(_referral_context(referral))
    details: dict[str, Any] = {
        "reply": {"type": "postback", "id": _text(postback, "payload"), "title": title}
    }
    if context:
        details["context"] = context
    found.items.append(
        _customer_message(
            mid, sender, _from_epoch_ms(timestamp), title, details=details
        )
    )


def _parse_referral(
    event: JsonValue, sender: str, own: set[str], found: _Parsed
) -> None:
    """A `referral` event (field `messaging_referral`): the customer came to
    the conversation from an ad or an ig.me link. Its context goes on their
    next message in the same delivery; alone, it becomes a message of its own
    (`_referrals_alone`). Source: Meta's messaging_referrals webhook
    reference."""
    timestamp = event["timestamp"]
    key = f"referral:{sender}:{timestamp.int()}"
    found.keys.append(key)
    if sender in own:
        found.ignored.append("referral of the account itself")
        return
    context = _referral_context(event["referral"])
    found.referrals[sender] = (context, event, _from_epoch_ms(timestamp))


def _referrals_alone(found: _Parsed) -> None:
    """Referrals no message followed: each a visible message saying where
    the customer came from (its id `referral:<IGSID>:<timestamp>`)."""
    for sender, (context, event, when) in found.referrals.items():
        label = context["label"]
        found.items.append(
            _customer_message(
                f"referral:{sender}:{event['timestamp'].int()}",
                sender,
                when,
                f"Came to the conversation {label[0].lower()}{label[1:]}",
                details={"context": [context]},
            )
        )
    found.referrals.clear()


def _parse_other(event: JsonValue, sender: str, found: _Parsed) -> None:
    """Events that are no customer message (opt-ins, handovers…): recorded
    as ignored."""
    kinds = [k for k in event.keys() if k not in ("sender", "recipient", "timestamp")]
    kind = kinds[0] if kinds else "empty"
    timestamp = event.get("timestamp")
    when = timestamp.int() if timestamp is not None else "none"
    found.keys.append(f"{kind}:{sender}:{when}")
    found.ignored.append(f"{kind} event not handled")


_PARSERS = {
    "message": _parse_message,
    "read": _parse_read,
    "reaction": _parse_reaction,
    "postback": _parse_postback,
    "referral": _parse_referral,
}


def _parse_event(event: JsonValue, own: set[str], found: _Parsed) -> None:
    """One `entry[].messaging[]` item (docs/platforms/instagram.md, "Webhook
    payload")."""
    sender = event["sender"]["id"].digits()
    for kind, parser in _PARSERS.items():
        if kind in event:
            parser(event, sender, own, found)
            return
    _parse_other(event, sender, found)


def _event_key(keys: list[str], body: bytes) -> str:
    """Dedupe key: the message ids and receipts in order of appearance (stable
    across Meta's redeliveries of the same body, docs/platforms/instagram.md,
    "Dedupe, ack budget, retries"), hashed when several mids make it longer
    than the column; a body hash when there are none."""
    key = ",".join(keys)
    if not keys:
        return "sha256:" + hashlib.sha256(body).hexdigest()
    if len(key) > 255:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


# ----------------------------------------------------------------------- platform


class InstagramPlatform(Platform):
    """Instagram Direct through the Messenger API for Instagram (Page token)."""

    channel_type = "instagram"
    config_serializer = InstagramConfigSerializer
    secret_fields = frozenset({"access_token", "app_secret"})
    # `verify_token` is a secret setup generates: clients cannot set it, and a
    # value sent in `config` is ignored like the values setup learns.
    learned_fields = frozenset(
        {"instagram_account_id", "instagram_username", "page_name", "verify_token"}
    )
    receives_webhooks = True
    ready_on_signed_event = True
    fetches_profiles = True

    def check_credentials(
        self, public: dict[str, Any], secrets: dict[str, str]
    ) -> None:
        """Ask Meta for the Page and its Instagram account
        (`GET /{page_id}?fields=name,instagram_business_account{id,username}`).

        Raises `CredentialsRejected` naming `access_token` (Meta refuses the
        token: code 190, permissions, …) or `page_id` (no such Page for this
        token, or no Instagram account linked to it), with Meta's words. An
        unreachable or failing Graph API is not a refusal: setup reports it.
        """
        client = _graph_client(secrets)
        try:
            page = _page_get(client, public["page_id"])
        except GraphError as error:
            rejected_field = _rejected_field(error)
            if rejected_field is not None:
                raise CredentialsRejected(rejected_field, error.describe()) from error
            return
        except DeliveryError:
            return
        if not page.instagram_account_id:
            raise CredentialsRejected("page_id", _no_instagram_account(page))

    def fetch_profile(self, channel: Channel, external_id: str) -> PlatformProfile:
        """A customer's profile from the User Profile API:
        `GET /{IGSID}?fields=name,username,profile_pic` with the Page token →
        `{"name", "username", "profile_pic", "id"}` (`name` and `profile_pic`
        may be absent; `profile_pic` is a CDN link that Meta lets expire).
        Meta answers only for a user who wrote to the account. Raises
        `TransientDeliveryError` / `PermanentDeliveryError` (Graph errors,
        `meta.graph_delivery_error`)."""
        data = _graph_client(channel.secrets).call(
            "GET", external_id, params={"fields": PROFILE_FIELDS}
        )
        if not isinstance(data, dict):
            raise PermanentDeliveryError(
                "The Graph API answered the profile query with something unexpected."
            )
        return PlatformProfile(
            name=_profile_text(data.get("name")),
            handle=_profile_text(data.get("username")),
            avatar_url=_profile_text(data.get("profile_pic")),
        )

    def handshake(self, channel: Channel, request: HttpRequest) -> HttpResponse | None:
        """Answer Meta's `hub.challenge` when `hub.verify_token` is the
        channel's verify token (docs/platforms/whatsapp.md, "Verification
        handshake")."""
        return meta_handshake(request, _verify_token(channel))

    def verify(self, channel: Channel, request: HttpRequest) -> None:
        """Check `X-Hub-Signature-256` with the app secret (`meta_verify`):
        raises `SignatureInvalid`, or `SecretMissing` while the channel has no
        app secret (every post is then refused)."""
        meta_verify(channel, request)

    def parse(self, channel: Channel, body: bytes) -> ParsedWebhook:
        """Parse `{"object": "instagram", "entry": [{id, time, messaging: […]}]}`
        into customer messages (`thread_key` `ig:<IGSID>`), read receipts of
        our messages, reactions (`Reaction`) and unsent messages
        (`MessageDeletion`). Story replies and mentions, ads and links the
        customer came from are the message's `details["context"]`; a tapped
        icebreaker or template button (postback) is a message with
        `details["reply"]`; what cannot be shown is an `unsupported` message
        with the event as received. Echoes of our sends, other fields
        (`changes`: comments, mentions) and entries of another account are
        ignored with a reason; another `object` is ignored as a whole. Raises
        `MalformedPayload` naming the path. Sources:
        docs/platforms/instagram.md, "Webhook payload";
        Meta's Instagram messaging webhooks reference
        (https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook)."""
        root = JsonValue.parse(body)
        object_type = root["object"].str()
        if object_type != INSTAGRAM_OBJECT:
            return ParsedWebhook(
                event_key=_event_key([], body),
                ignored=(f"object {object_type} is not Instagram messaging",),
            )
        entries = root["entry"].list()
        if not entries:
            raise MalformedPayload("entry: no events")
        own = _own_ids(channel)
        found = _Parsed()
        for entry in entries:
            account_id = entry["id"].digits()
            messaging = entry.get("messaging")
            if _is_other_account(channel, account_id):
                found.keys.append(f"entry:{account_id}:{_entry_time(entry)}")
                found.ignored.append(f"event for another account ({account_id})")
            elif messaging is None:
                other = [k for k in entry.keys() if k not in ("id", "time")]
                found.keys.append(f"entry:{account_id}:{_entry_time(entry)}")
                found.ignored.append(f"{', '.join(other) or 'empty entry'} not handled")
            else:
                for event in messaging.list():
                    _parse_event(event, own, found)
        _referrals_alone(found)
        return ParsedWebhook(
            event_key=_event_key(found.keys, body),
            items=tuple(found.items),
            ignored=tuple(found.ignored),
        )

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """Send the text, then each attachment, as one Instagram message each
        (`POST /{page_id}/messages`, body `{"recipient": {"id": IGSID},
        "message": {"text"} | {"attachment": {type, payload: {url}}}}`); media
        go by their signed PingBack link, which Meta fetches. Returns the last
        message id.

        Raises `PermanentDeliveryError` before sending anything for text over
        1000 characters and for files Instagram does not take (documents,
        images other than PNG/JPEG/GIF, media over its size limits); for a
        closed messaging window (after one try with the HUMAN_AGENT tag); and
        when a part fails after earlier parts went out, so a retry never sends
        them twice. Other Graph errors are classified by `graph_delivery_error`.
        Source: docs/platforms/instagram.md, "Sending".
        """
        parts = _message_parts(message)
        client = _graph_client(channel.secrets)
        path = f"{channel.config['page_id']}/messages"
        sent: list[str] = []
        for description, part in parts:
            body = {"recipient": {"id": message.recipient_external_id}, "message": part}
            try:
                sent.append(_send_part(client, path, body))
            except DeliveryError as error:
                if not sent:
                    raise
                raise PermanentDeliveryError(
                    f"Sent {', '.join(d for d, _ in parts[: len(sent)])}, but not "
                    f"{description}: {error.reason}. Send the rest again.",
                    status_code=error.status_code,
                    detail=error.detail,
                ) from error
        return SendResult(platform_message_id=sent[-1])

    def fetch_media(
        self, channel: Channel, attachment: dict[str, Any]
    ) -> FetchedMedia | None:
        """Download an inbound attachment's CDN `url` (no credentials: the link
        is signed by Meta and expires) under the outbound HTTP policy
        (`pingback.egress`). Raises `PermanentDeliveryError` for a link
        outside Meta's media hosts (or the Graph API host, where the sandbox
        serves them), a redirect leaving them, a host at a private address,
        an expired or refused link, or a file over `MEDIA_MAX_BYTES`;
        `TransientDeliveryError` for network errors, timeouts, 429 and 5xx.
        Returns None when the attachment has no url or is `link_only` (a
        story, reel or shared post, shown as a link and never stored)."""
        url = attachment.get("url")
        if not url or attachment.get("link_only"):
            return None
        if not _is_meta_media_url(url):
            raise PermanentDeliveryError(
                f"PingBack fetches Instagram media only from Meta's servers; this "
                f"link points to {urlsplit(url).hostname or 'an unknown host'}."
            )
        return _download(url)

    def setup_name(self, config: dict[str, Any]) -> str:
        """The account's "@<instagram_username>"."""
        username = config.get("instagram_username")
        return f"@{username}" if username else ""

    def on_create(self, channel: Channel) -> SetupResult:
        """Read the Page's Instagram account (learned: `instagram_account_id`,
        `instagram_username`, `page_name`), subscribe the app to the Page's
        webhooks (`POST /{page_id}/subscribed_apps`), and keep or generate the
        webhook verify token (`secrets["verify_token"]`, see `_verify_token`).
        The callback URL and the verify token must be pasted in the Meta app
        dashboard by hand, so a connected channel is `action_required` with
        those instructions until Meta's first signed event (then `ready`, see
        `meta_setup_result`). Name: "@<instagram_username>". Without
        `app_secret` (a channel stored before it was required), the message
        starts by saying that every webhook is refused until it is added."""
        kept = {"verify_token": _verify_token(channel)}
        client = _graph_client(channel.secrets)
        page_id = channel.config["page_id"]
        try:
            page = _page_get(client, page_id)
        except GraphError as error:
            refused = _rejected_field(error)
            what = f"Meta refused the {refused}" if refused else "Meta failed"
            return SetupResult(
                state="failed",
                message=f"{what}: {error.describe()}. Run the setup again once fixed.",
                secrets=kept,
            )
        except DeliveryError as error:
            return SetupResult(
                state="failed",
                message=f"Could not check the Page with Meta ({error.reason}). Run "
                "the setup again.",
                secrets=kept,
            )
        if not page.instagram_account_id:
            return SetupResult(
                state="failed", message=_no_instagram_account(page), secrets=kept
            )
        learned = {
            "instagram_account_id": page.instagram_account_id,
            "instagram_username": page.instagram_username,
            "page_name": page.name,
        }
        connected = " ".join(
            [
                f"Connected to Instagram @{page.instagram_username} (account "
                f"{page.instagram_account_id}) through the Facebook Page {page.name}.",
                _page_subscribe(client, page_id),
            ]
        )
        return meta_setup_result(
            channel,
            connected=connected,
            dashboard_step=(
                "Paste this callback URL and verify token in Meta's dashboard "
                f"(Webhooks → Instagram): {self.webhook_url(channel)} and the "
                "verify token given in _meta_setup_instructions when the channel "
                "was created, then subscribe to the messages and messaging_seen "
                "fields (and message_reactions, messaging_postbacks and "
                "messaging_referral for reactions, button taps and the ads "
                "customers come from)."
            ),
            config=learned,
            secrets=kept,
            name=self.setup_name(learned),
        )

    def receiving_message(self, channel: Channel, since: datetime) -> str:
        """The message "Receiving events from Meta since <since> UTC"."""
        return meta_receiving_message(since)

    def on_delete(self, channel: Channel) -> None:
        """Unsubscribe the app from the Page's webhooks
        (`DELETE /{page_id}/subscribed_apps`), best effort."""
        client = _graph_client(channel.secrets)
        try:
            client.call("DELETE", f"{channel.config['page_id']}/subscribed_apps")
        except DeliveryError as error:
            logger.warning(
                "instagram.unsubscribe_failed",
                extra={"channel_id": str(channel.id), "reason": error.reason},
            )

    def public_config_extra(self, channel: Channel, *, reveal: bool) -> dict[str, Any]:
        """`_meta_setup_instructions` `{callback_url, verify_token}` for the
        Meta app dashboard (the token in clear only when `reveal`), and
        `app_secret_missing` while the channel has no app secret
        (`meta_setup_instructions`)."""
        from channels_app.services.channels import mask_secret

        return meta_setup_instructions(
            channel, self.webhook_url(channel), reveal=reveal, mask=mask_secret
        )


def _verify_token(channel: Channel) -> str:
    """The channel's webhook verify token: the stored one (setup keeps it, and
    config edits keep secrets setup created), else a new random one."""
    return channel.secrets.get("verify_token") or token_hex(32)


def _own_ids(channel: Channel) -> set[str]:
    """The ids that are the business itself: its Instagram account (the
    `entry.id` and the sender of echoes) and its Page."""
    config = channel.config
    return {
        value
        for value in (config.get("instagram_account_id"), config.get("page_id"))
        if value
    }


def _is_other_account(channel: Channel, account_id: str) -> bool:
    """Whether `entry.id` names another account than the one setup learned
    (Meta sends the Instagram account id; the Page id is accepted too)."""
    known = channel.config.get("instagram_account_id")
    return bool(known) and account_id not in (known, channel.config.get("page_id"))


def _entry_time(entry: JsonValue) -> int | str:
    time = entry.get("time")
    return time.int() if time is not None else "none"


# ------------------------------------------------------------------------ sending


def _message_parts(message: OutboundMessage) -> list[tuple[str, dict[str, Any]]]:
    """The Instagram messages one reply becomes: `(description, message)` for
    the text, then one per attachment. Raises `PermanentDeliveryError` for
    what Instagram cannot carry, before anything is sent."""
    if message.template is not None:
        raise PermanentDeliveryError("Instagram channels do not send templates.")
    refusal = channel_type_capabilities("instagram").text_refusal(
        len(message.text), subject="one"
    )
    if refusal:
        raise PermanentDeliveryError(refusal)
    parts: list[tuple[str, dict[str, Any]]] = []
    if message.text:
        parts.append(("the text", {"text": message.text}))
    for attachment in message.attachments:
        _check_attachment(attachment)
        parts.append(
            (
                attachment.filename,
                {
                    "attachment": {
                        "type": attachment.kind,
                        "payload": {"url": attachment.public_url},
                    }
                },
            )
        )
    if not parts:
        raise PermanentDeliveryError("There is nothing to send.")
    return parts


def _check_attachment(attachment: OutboundAttachment) -> None:
    limit = MAX_MEDIA_BYTES.get(attachment.kind)
    if limit is None:
        raise PermanentDeliveryError(
            f"Instagram messages cannot carry documents ({attachment.filename}); "
            "send images, video or audio."
        )
    if attachment.kind == "image" and attachment.content_type not in IMAGE_TYPES:
        raise PermanentDeliveryError(
            f"Instagram takes PNG, JPEG or GIF images; {attachment.filename} is "
            f"{attachment.content_type}."
        )
    if attachment.size > limit:
        raise PermanentDeliveryError(
            f"Instagram takes {attachment.kind} files up to {limit // 2**20} MB; "
            f"{attachment.filename} is larger."
        )


def _send_part(client: GraphClient, path: str, body: dict[str, Any]) -> str:
    """Send one message; return its `message_id`. Outside the 24-hour window,
    try once more with the HUMAN_AGENT tag (7 days, for apps with that
    permission), docs/platforms/instagram.md, "Messaging window"."""
    try:
        return _message_id(client.request("POST", path, json=body))
    except GraphError as error:
        if not _is_window_closed(error):
            raise graph_delivery_error(error) from error
    tagged = {**body, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    try:
        return _message_id(client.request("POST", path, json=tagged))
    except GraphError as error:
        if error.code in TRANSIENT_CODES or error.status_code >= 500:
            raise graph_delivery_error(error) from error
        raise PermanentDeliveryError(
            f"{WINDOW_CLOSED}. Meta said: {error.describe()}",
            status_code=error.status_code,
            detail=error.describe(),
        ) from error


def _is_window_closed(error: GraphError) -> bool:
    return error.code == WINDOW_CODE and error.subcode in WINDOW_SUBCODES


def _message_id(response: httpx.Response) -> str:
    """`message_id` from `{"recipient_id", "message_id"}`
    (docs/platforms/instagram.md, "Sending")."""
    try:
        message_id = response.json()["message_id"]
    except (ValueError, KeyError, TypeError) as error:
        raise PermanentDeliveryError(
            "The Graph API answered the send without a message_id."
        ) from error
    return str(message_id)


# -------------------------------------------------------------------------- setup


@dataclass(frozen=True)
class _Page:
    """A Facebook Page and the Instagram professional account linked to it."""

    id: str
    name: str
    instagram_account_id: str
    instagram_username: str


def _page_get(client: GraphClient, page_id: str) -> _Page:
    """`GET /{page_id}?fields=name,instagram_business_account{id,username}`.
    Raises `GraphError` or `DeliveryError` (see `GraphClient.request`)."""
    response = client.request("GET", page_id, params={"fields": PAGE_FIELDS})
    try:
        data = response.json()
        account = data.get("instagram_business_account") or {}
        return _Page(
            id=str(data.get("id") or page_id),
            name=str(data.get("name") or page_id),
            instagram_account_id=str(account.get("id") or ""),
            instagram_username=str(account.get("username") or ""),
        )
    except (ValueError, AttributeError) as error:
        raise PermanentDeliveryError(
            "The Graph API answered the Page query with something unexpected."
        ) from error


def _profile_text(value: Any) -> str:
    """A profile field as text: a string, else empty."""
    return value.strip() if isinstance(value, str) else ""


def _rejected_field(error: GraphError) -> str | None:
    """Which config field a Graph refusal is about; None when it is not a
    refusal (rate limits, Meta's own failures)."""
    if error.code in TRANSIENT_CODES or error.status_code >= 500:
        return None
    if error.code in UNKNOWN_OBJECT_CODES:
        return "page_id"
    return "access_token"


def _no_instagram_account(page: _Page) -> str:
    return (
        f"The Facebook Page {page.name} ({page.id}) has no Instagram professional "
        "account linked: link one in the Page's settings (Linked accounts → "
        "Instagram), or use the Page the account is linked to."
    )


def _page_subscribe(client: GraphClient, page_id: str) -> str:
    """Subscribe the app to the Page's webhooks; say how it went."""
    try:
        client.call(
            "POST",
            f"{page_id}/subscribed_apps",
            params={"subscribed_fields": PAGE_SUBSCRIBED_FIELDS},
        )
    except DeliveryError as error:
        return (
            f"Meta refused to subscribe the app to the Page's webhooks "
            f"({error.reason}): give the token the pages_manage_metadata "
            "permission and run the setup again."
        )
    return "The app is subscribed to the Page's webhooks."


# --------------------------------------------------------------------- API client


def _graph_client(secrets: Mapping[str, str]) -> GraphClient:
    """The Graph API client for a channel's Page access token
    (`GRAPH_API_BASE_URL`, `GRAPH_API_VERSION`)."""
    return GraphClient(secrets["access_token"])


def _media_hosts() -> tuple[str, ...]:
    """Host patterns (`pingback.egress`) of where Instagram media may come
    from: Meta's media domains and their subdomains, over https, and the
    Graph API host (where the sandbox serves them)."""
    patterns = [settings.GRAPH_API_BASE_URL]
    for domain in META_MEDIA_DOMAINS:
        patterns += [domain, f"*.{domain}"]
    return tuple(patterns)


def _is_meta_media_url(url: str) -> bool:
    try:
        return any(host_matches(httpx.URL(url), p) for p in _media_hosts())
    except httpx.InvalidURL:
        return False


def _download(url: str) -> FetchedMedia:
    """GET a media link under the outbound HTTP policy: every hop, the first
    and each redirect's, on Meta's media hosts (`_media_hosts`) and at a
    public address, at most `MEDIA_MAX_BYTES`, within `PLATFORM_API_TIMEOUT`
    seconds in all, no credentials."""
    fetched = media_download(
        url,
        source="Instagram's media server",
        only_hosts=_media_hosts(),
        refused=lambda status: (
            f"Instagram's link to the file was refused ({status}); it may have expired."
        ),
    )
    return FetchedMedia(
        content=fetched.content,
        content_type=fetched.content_type or "application/octet-stream",
    )

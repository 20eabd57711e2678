"""The platform module interface, the dataclasses that cross it, and its errors.

Each platform (X, Telegram, ...) is one module in this package with one subclass of
`Platform`; `channels_app.platforms.get_platform(channel_type)` returns it. Nothing
outside a platform module knows a platform's wire format or SDK.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from channels_app.models import Channel


# ------------------------------------------------------------------------- errors


class PlatformError(Exception):
    """Base of the errors a platform module raises."""


class SignatureInvalid(PlatformError):
    """The webhook's signature is missing or wrong: answer 403, store nothing."""


class SecretMissing(SignatureInvalid):
    """The channel lacks the secret needed to verify webhooks (a configuration
    error on our side, logged as such); answered 403 like a bad signature."""


class MalformedPayload(PlatformError):
    """The body is not what the platform documents. The message names the path,
    e.g. `direct_message_events[0].id: expected str`."""


class CredentialsRejected(PlatformError):
    """The platform refused the channel's credentials when they were checked
    (`Platform.check_credentials`). `field` names the config field at fault; the
    message is the platform's own reason. Answered 400 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class DeliveryError(PlatformError):
    """A platform call failed. `reason` is shown to the agent; `detail` is the
    platform's own words (`reason` when not given); `status_code` is the
    platform's HTTP status, when there was one."""

    def __init__(
        self, reason: str, *, status_code: int | None = None, detail: str = ""
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason
        self.status_code = status_code


class TransientDeliveryError(DeliveryError):
    """Worth retrying (network, 429, 5xx). `retry_after` in seconds, if given.
    `rate_limited`: the platform throttled the whole account (not just this
    message or recipient), so every send on the channel waits `retry_after`
    (or the backoff) before the next try."""

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        rate_limited: bool = False,
        detail: str = "",
    ) -> None:
        super().__init__(reason, status_code=status_code, detail=detail)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from an HTTP `Retry-After` value, in either form: a
    number of seconds (`"4"`) or an HTTP date (`"Fri, 04 Dec 2026 22:40:00
    GMT"`, counted from now). None when absent or unreadable; never
    negative.

    Source: RFC 9110 §10.2.3 (Retry-After)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, as HTTP dates are
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help (credentials, no credits, refused reply). When the
    whole account is affected, `channel_alert` says so for the admins. When
    the platform refused because the recipient opted out (Twilio 21610),
    `opted_out` is the reason recorded on their identity
    (`ContactIdentity.opted_out_reason`), so later replies fail at once."""

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None = None,
        channel_alert: str = "",
        detail: str = "",
        opted_out: str = "",
    ) -> None:
        super().__init__(reason, status_code=status_code, detail=detail)
        self.channel_alert = channel_alert
        self.opted_out = opted_out


# ------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class InboundContact:
    """The customer as the platform describes them. `external_id` is their id on
    the platform (X user id, Telegram user id, phone number, e-mail address)."""

    external_id: str
    handle: str = ""
    name: str = ""
    avatar_url: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message.

    `thread_key` names the conversation within the channel (for X: `dm:<user id>`
    for direct messages, `tweet:<root tweet id>` for a mention thread; for
    Telegram `chat:<chat id>`; for phone channels the customer's number).
    `reply_to_platform_message_id` is the platform id of the message it answers,
    if any: a reply continues that message's conversation.

    `subject` (e-mail) becomes the subject of a conversation it opens; `html`
    (e-mail) is the HTML body, already sanitised by the platform module.

    `attachments` are plain dicts (stored as given in `Message.attachments`):
        kind: image | video | audio | voice | document | sticker | location |
            contact | file
        filename, content_type, size (bytes, int), caption: when known
        ref: the platform's media reference that `Platform.fetch_media` turns
            into bytes (Telegram `file_id`, WhatsApp media id)
        url: a link the platform gave (may need the channel's credentials)
        link_only: True when `url` is shown as a link and never downloaded
            (an Instagram story, which Meta forbids storing; a shared reel
            or post)
        latitude, longitude (floats), name, address: for a location
        name, phones and emails (lists of strings): for a shared contact
            card (WhatsApp); name and phone_number (Telegram)
    After ingest, PingBack adds `stored` (the storage name once fetched) or
    `fetch_error`.

    `kind` is `message`, `mention` (a public post, X) or `unsupported`: a
    kind of message PingBack cannot render yet. An unsupported message is
    stored and shown all the same, never dropped: its `text` names what it is
    ("Unsupported message: sticker pack") and `details["raw"]` holds the
    platform's event as received, one click away in the thread.

    `details` (stored in `Message.details`) holds what the platform tells
    about the message beyond its text, each key optional:
        sender: {external_id, name, handle}: who wrote it when the
            conversation's contact is a group (Telegram groups).
        raw: the platform's event as received (always for `unsupported`).
        context: [{label, text, url}]: what the message refers to, shown
            above its text: a quoted post, the story replied to, the ad it
            came from, the button list it answers ("Replied to your story",
            "From an ad: <headline>").
        folded: [{label, text}]: parts kept but folded away (an e-mail's
            signature or quoted history).
        reply: {type, id, title}: the interactive button or list row tapped.
    """

    platform_message_id: str
    contact: InboundContact
    text: str
    sent_at: datetime
    thread_key: str
    reply_to_platform_message_id: str | None = None
    kind: str = "message"
    attachments: tuple[dict[str, Any], ...] = ()
    subject: str = ""
    html: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageEdit:
    """The customer edited a message we already have (Telegram
    `edited_message`): its text becomes `text`."""

    platform_message_id: str
    text: str
    edited_at: datetime


@dataclass(frozen=True)
class AttachmentsAdded:
    """More of a message the customer sent in parts: a Telegram album (photos
    or videos sent together arrive as one update each, sharing a
    `media_group_id`).

    The parser gives each part as an `InboundMessage` with the album's own
    platform id, then this item with the same id: whichever part is ingested
    first stores the message, later parts are duplicates of it, and this
    item appends to the stored message the `attachments` it lacks (matched
    by `ref`, else by equality) and adds `caption` to its text when the
    text does not hold it yet. Applying it twice changes nothing, whatever
    the order the parts arrive in."""

    platform_message_id: str
    attachments: tuple[dict[str, Any], ...]
    caption: str = ""


@dataclass(frozen=True)
class DeliveryStatus:
    """A receipt for one of our outbound messages: `status` is `sent`,
    `delivered`, `read` or `failed` (with `error`, the platform's reason and
    code, e.g. "30006: Landline or unreachable carrier"). Receipts only move a
    message forward: a late `sent` after `read` changes nothing."""

    platform_message_id: str
    status: str
    occurred_at: datetime
    error: str = ""


@dataclass(frozen=True)
class MessageDeletion:
    """The customer deleted (unsent) a message of theirs that we have
    (Instagram `is_deleted`, X `delete` events): it is marked deleted, its
    text kept for the agents, shown as deleted by the customer."""

    platform_message_id: str
    deleted_at: datetime


@dataclass(frozen=True)
class Reaction:
    """The customer reacted to a message, theirs or ours, found by its
    platform id: `emoji` replaces their earlier reaction to it; an empty
    `emoji` removes it (WhatsApp sends an empty one, Instagram `unreact`)."""

    platform_message_id: str
    emoji: str
    reacted_at: datetime


@dataclass(frozen=True)
class ChannelAlert:
    """The platform says the channel has stopped working on its side (X
    revoked the app's access, say): `alert` is set on the channel for its
    admins, in words saying what to do ("Access revoked on X: reconnect")."""

    alert: str
    occurred_at: datetime


@dataclass(frozen=True)
class ContactOptOut:
    """The customer stopped (`opted_out`) or resumed accepting messages on
    this channel: an SMS STOP or START keyword, a Telegram user blocking or
    unblocking the bot. While opted out, replies to them fail at once with
    `reason` instead of reaching the platform. `external_id` as in
    `InboundContact`."""

    external_id: str
    opted_out: bool
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class IdentityMoved:
    """The customer's id on the platform changed (a WhatsApp user changed
    their number, a Telegram group became a supergroup): their identity and
    open threads follow to the new id. `old_thread_key`/`new_thread_key`
    name their thread when its key is not the id itself (WhatsApp
    `wa:<wa_id>`, Telegram `chat:<id>`); empty means the id."""

    old_external_id: str
    new_external_id: str
    occurred_at: datetime
    old_thread_key: str = ""
    new_thread_key: str = ""


InboundItem = (
    InboundMessage
    | MessageEdit
    | AttachmentsAdded
    | DeliveryStatus
    | MessageDeletion
    | Reaction
    | ChannelAlert
    | ContactOptOut
    | IdentityMoved
)


@dataclass(frozen=True)
class ParsedWebhook:
    """What one webhook body holds. `event_key` is the dedupe key of the
    delivery; `ignored` lists the reasons for events deliberately skipped
    (echoes, typing indicators, ...)."""

    event_key: str
    items: tuple[InboundItem, ...] = ()
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutboundAttachment:
    """A file an agent attached to a reply.

    `kind` is `image`, `video`, `audio` or `document` (from the content type);
    `size` in bytes; `public_url` is a signed PingBack link a platform can fetch
    the file from for `settings.ATTACHMENT_LINK_MAX_AGE` seconds (for platforms
    that take media by URL: Twilio MMS, Instagram); it always answers with the
    file itself, streamed from storage, never with a redirect. `open()` gives
    the bytes, for platforms that take uploads (Telegram, WhatsApp media
    upload). `storage_name` names the file in Django's default storage (the
    file system, or the shared bucket: `pingback.storage`).
    """

    kind: str
    filename: str
    content_type: str
    size: int
    storage_name: str
    public_url: str

    def open(self) -> BinaryIO:
        """The stored file, opened for binary reading through Django's default
        storage (close it after use). Raises `FileNotFoundError` when the file
        is gone."""
        from django.core.files.storage import default_storage

        return default_storage.open(self.storage_name, "rb")


@dataclass(frozen=True)
class MessageTemplate:
    """A pre-approved template message (WhatsApp), the only kind a business may
    send outside the 24-hour customer service window. `parameters` fill the
    body's `{{1}}`, `{{2}}`, ... in order."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutboundMessage:
    """A reply to send. `recipient_external_id` is the contact's platform id;
    `thread_key` is the conversation's; `reply_to_platform_message_id` is the
    newest inbound message of the conversation that has a platform id.
    `text` may be empty when `attachments` are given; `template`, when set, is
    sent instead of free-form text (platforms with `supports_templates`).
    `subject` is the conversation's (e-mail)."""

    message_id: int
    text: str
    recipient_external_id: str
    thread_key: str
    reply_to_platform_message_id: str | None = None
    attachments: tuple[OutboundAttachment, ...] = ()
    template: MessageTemplate | None = None
    subject: str = ""


@dataclass(frozen=True)
class SendResult:
    """The platform's id for the message we sent."""

    platform_message_id: str


@dataclass(frozen=True)
class FetchedMedia:
    """An inbound attachment's bytes, as downloaded from the platform."""

    content: bytes
    content_type: str = "application/octet-stream"
    filename: str = ""


@dataclass(frozen=True)
class PlatformProfile:
    """A user's public profile, as the platform tells it (`fetch_profile`):
    display name, username (without `@`) and picture URL; empty when the
    platform does not say."""

    name: str = ""
    handle: str = ""
    avatar_url: str = ""


@dataclass(frozen=True)
class SetupResult:
    """The outcome of configuring the platform side of a channel.

    `state` is a `Channel.SetupState` value; `message` tells the admin what worked
    and what they must do by hand; `config` holds values learned (merged into the
    channel's non-secret config, e.g. the account's id and handle); `secrets`
    holds secrets setup created (merged into the encrypted secrets, e.g. the
    Telegram webhook's `secret_token`); `name` is the channel's name as the
    platform knows it (e.g. "@acme_bot", "Acme (+1 555-0100)"; "" when
    setup did not learn one), which `channel_setup` gives the channel unless
    an admin typed another.
    """

    state: str
    message: str
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    name: str = ""


# ---------------------------------------------------------------------- interface


class Platform:
    """One messaging platform behind PingBack's channel interface.

    Class attributes a platform sets:
        channel_type: the `Channel.Type` value it serves.
        config_serializer: a DRF serializer validating the channel's `config`
            input; a missing required field is a 400 naming it.
        secret_fields: config fields stored encrypted and shown masked.
        learned_fields: config fields setup fills in (read-only to clients).
        receives_webhooks: whether `/api/v1/webhooks/<type>/<id>` is live.
        supports_templates: whether replies may be template messages.
        fetches_profiles: whether `fetch_profile` can tell a user's name.
        supports_reactions: whether `send_reaction` can react to a message
            (an optional capability; the API refuses agents' reactions on
            other channels with a 400).
        ready_on_signed_event: whether setup cannot finish by itself (the
            admin pastes the callback URL on the platform's side, as in
            Meta's app dashboard): setup leaves the channel `action_required`
            and the first webhook that passes `verify` turns it `ready`
            (`channel_mark_receiving`), with `receiving_message`.

    Methods (the webhook ones only when `receives_webhooks`):
        check_credentials(public, secrets) -> None
            Ask the platform whether the credentials work, before the channel
            is saved (create, or a credentials change); raise
            `CredentialsRejected` naming the field when the platform refuses
            them (answered 400). An unreachable platform is not a refusal:
            return, and let setup report it.
        handshake(channel, request) -> HttpResponse | None
            Answer a GET challenge (X CRC, Meta hub.challenge); None when the GET
            is not a handshake (answered 405).
        verify(channel, request) -> None
            Check the signature over the raw body; raise `SignatureInvalid`.
        parse(channel, body: bytes) -> ParsedWebhook
            Pure: bytes to dataclasses, no ORM, no network; raise
            `MalformedPayload` naming the bad path. `body` is the raw request
            body (JSON, or a form for Twilio).
        acknowledge(channel, status) -> HttpResponse
            The 200 answer to an accepted, duplicate or ignored delivery.
        send(channel, message: OutboundMessage) -> SendResult
            Send through the SDK; raise `TransientDeliveryError` or
            `PermanentDeliveryError`.
        fetch_media(channel, attachment: dict) -> FetchedMedia | None
            Download an inbound attachment (see `InboundMessage`); None when
            there is nothing to fetch. Raises `DeliveryError` subclasses.
        send_reaction(channel, platform_message_id, recipient_external_id,
                emoji) -> None
            React to the message with platform id `platform_message_id` in
            the conversation with `recipient_external_id` (platforms with
            `supports_reactions`). The business has one reaction per
            message: `emoji` replaces it, an empty `emoji` removes it.
            Raises `TransientDeliveryError` or `PermanentDeliveryError`.
        fetch_profile(channel, external_id) -> PlatformProfile | None
            Ask the platform for a user's profile (platforms with
            `fetches_profiles`); None when it has none to give. Raises
            `DeliveryError` subclasses. Called once per identity, in the
            background (`contacts.tasks.fetch_identity_profiles`).
        on_create(channel) -> SetupResult
            Configure the platform side (verify credentials, register webhooks).
            Runs on create, on a credentials change, on reactivation and from
            the setup action. Never raises for a platform's refusal: it is
            reported in the result.
        on_delete(channel) -> None
            Undo what on_create registered, best effort. Runs on delete and
            on deactivation.
        setup_name(config) -> str
            Pure: the channel's name as setup gives it (`SetupResult.name`)
            from the config setup learned, e.g. "@" + `bot_username`; ""
            when the config does not tell. Setup compares it with the
            channel's name to tell a name it gave from one an admin typed.
        setup_outdated(channel) -> bool
            Pure: whether a channel set up by an older PingBack needs its
            setup run again to get what setup registers now (e.g. Telegram's
            `allowed_updates` grew). Beat re-runs setup for those
            (`channel_setup_refresh`), so admins need not. False by default.
        receiving_message(channel, since: datetime) -> str
            The setup message of a channel `ready_on_signed_event` once
            signed events arrive (e.g. "Receiving events from Meta since
            2026-12-05 06:40 UTC.").
        public_config_extra(channel, reveal) -> dict
            Keys added to the config shown to admins, e.g. WhatsApp's
            `_meta_setup_instructions`; secrets in clear only when `reveal`
            (the create response), masked otherwise.
    """

    channel_type: ClassVar[str]
    config_serializer: ClassVar[type[serializers.Serializer]]
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    learned_fields: ClassVar[frozenset[str]] = frozenset()
    receives_webhooks: ClassVar[bool] = False
    supports_templates: ClassVar[bool] = False
    fetches_profiles: ClassVar[bool] = False
    supports_reactions: ClassVar[bool] = False
    ready_on_signed_event: ClassVar[bool] = False

    def webhook_url(self, channel: Channel) -> str | None:
        """Return the public URL the platform posts events to, or None."""
        if not self.receives_webhooks:
            return None
        path = reverse(
            "webhook",
            kwargs={"channel_type": channel.type, "channel_id": channel.id},
        )
        return settings.PINGBACK_PUBLIC_BASE_URL + path

    def check_credentials(
        self, public: dict[str, Any], secrets: dict[str, str]
    ) -> None:
        return None

    def handshake(self, channel: Channel, request: HttpRequest) -> HttpResponse | None:
        return None

    def verify(self, channel: Channel, request: HttpRequest) -> None:
        raise NotImplementedError("Platform.verify must be implemented")

    def parse(self, channel: Channel, body: bytes) -> ParsedWebhook:
        raise NotImplementedError("Platform.parse must be implemented")

    def acknowledge(self, channel: Channel, status: str) -> HttpResponse:
        from django.http import JsonResponse

        return JsonResponse({"status": status})

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        raise NotImplementedError("Platform.send must be implemented")

    def fetch_media(
        self, channel: Channel, attachment: dict[str, Any]
    ) -> FetchedMedia | None:
        return None

    def send_reaction(
        self,
        channel: Channel,
        platform_message_id: str,
        recipient_external_id: str,
        emoji: str,
    ) -> None:
        raise PermanentDeliveryError(
            f"{channel.get_type_display()} channels cannot send reactions."
        )

    def fetch_profile(
        self, channel: Channel, external_id: str
    ) -> PlatformProfile | None:
        return None

    def on_create(self, channel: Channel) -> SetupResult:
        raise NotImplementedError("Platform.on_create must be implemented")

    def on_delete(self, channel: Channel) -> None:
        return None

    def public_config_extra(self, channel: Channel, *, reveal: bool) -> dict[str, Any]:
        return {}

    def setup_name(self, config: dict[str, Any]) -> str:
        return ""

    def setup_outdated(self, channel: Channel) -> bool:
        return False

    def receiving_message(self, channel: Channel, since: datetime) -> str:
        return f"Receiving events since {since:%Y-%m-%d %H:%M} UTC."


class UnconnectedPlatform(Platform):
    """A channel type whose configuration PingBack validates and stores, but
    whose platform side it does not connect yet: setup says so, and a reply
    through it fails with that reason instead of being sent."""

    label: ClassVar[str]

    def on_create(self, channel: Channel) -> SetupResult:
        return SetupResult(
            state="action_required",
            message=f"The configuration is saved, but PingBack cannot yet receive "
            f"or send {self.label} messages: this channel type is not connected.",
        )

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        raise PermanentDeliveryError(f"PingBack cannot send {self.label} messages yet.")

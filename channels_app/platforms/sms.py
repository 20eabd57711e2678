"""SMS and MMS through Twilio Programmable Messaging.

Inbound: Twilio POSTs a form to the number's "A message comes in" URL, and
status callbacks to the `StatusCallback` of each message sent, both signed
with `X-Twilio-Signature`.
    https://www.twilio.com/docs/messaging/guides/webhook-request
    https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
    https://www.twilio.com/docs/usage/webhooks/webhooks-security
Outbound: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` through the
twilio SDK; setup points the number's `SmsUrl` at PingBack.
    https://www.twilio.com/docs/messaging/api/message-resource
    https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource
    https://www.twilio.com/docs/api/errors
Details and quirks: docs/platforms/sms.md.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from rest_framework import serializers
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels_app.platforms.base import (
    ContactOptOut,
    CredentialsRejected,
    DeliveryError,
    DeliveryStatus,
    FetchedMedia,
    InboundContact,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    ParsedWebhook,
    PermanentDeliveryError,
    Platform,
    SecretMissing,
    SendResult,
    SetupResult,
    SignatureInvalid,
    TransientDeliveryError,
    retry_after_seconds,
)
from channels_app.platforms.capabilities import channel_type_capabilities
from channels_app.platforms.clients import ThreadClients
from channels_app.platforms.media_fetch import media_download
from pingback.egress import basic_credentials

if TYPE_CHECKING:
    from channels_app.models import Channel

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------- constants

SIGNATURE_HEADER = "HTTP_X_TWILIO_SIGNATURE"  # X-Twilio-Signature
# The host the twilio SDK builds every URL on (docs/platforms/sms.md, "Pointing
# the twilio SDK at the sandbox").
TWILIO_HOST = "https://api.twilio.com"
# Empty TwiML: no auto-reply, and no 12300 "invalid Content-Type" in Twilio's
# debugger (docs/platforms/sms.md, "Inbound message webhook").
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
THREAD = "sms"
STATUS_FIELD = "MessageStatus"
# `MessageStatus` → receipt status; `undelivered` and `failed` carry ErrorCode.
RECEIPT_STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}
# Statuses before `sent`: a message already recorded as sent is past them.
EARLY_STATUSES = frozenset({"accepted", "scheduled", "queued", "sending"})
# The twilio SDK's words before Twilio's message in `TwilioRestException.msg`.
SDK_PREFIX = re.compile(r"^Unable to \w+ record: ")
AUTHENTICATION_CODE = 20003
RATE_LIMIT_CODE = 20429
UNSUBSCRIBED_CODE = 21610
UNREACHABLE_NUMBER_CODES = frozenset({21211, 21614})
# Twilio error codes in readable words (https://www.twilio.com/docs/api/errors).
ERROR_MEANINGS = {
    11200: "Twilio could not download an attached file (HTTP retrieval failure)",
    21211: "Invalid 'To' phone number",
    21408: "Sending to this country or region is not enabled on the Twilio account",
    21610: "The customer unsubscribed (replied STOP)",
    21614: "The number is not a mobile number that can receive SMS",
    30003: "Unreachable handset (switched off or out of coverage)",
    30004: "Message blocked by the customer or their carrier",
    30005: "Unknown number (it may no longer be in service)",
    30006: "Landline or unreachable carrier",
    30007: "Filtered by the carrier as spam",
    30008: "Unknown error from the carrier",
}
UNSUBSCRIBED = (
    "The customer unsubscribed (STOP): Twilio blocks messages from this number "
    "to them until they text START."
)
# What a 21610 refusal records on the customer's identity: later replies then
# fail at once, without asking Twilio.
UNSUBSCRIBED_OPT_OUT = "Twilio refused a reply: they had texted STOP (error 21610)"
# Twilio's default opt-out and opt-in keywords: a message whose whole body,
# trimmed and in any case, is one of them blocks (or lifts the block on)
# messages from the number to the customer. HELP and INFO change nothing.
# Sources: Twilio, "Twilio support for opt-out keywords (SMS STOP filtering)"
# and "Customize users' opt-in and opt-out experience with Advanced Opt-Out"
# (https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out).
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
# `OptOutType`, which Twilio adds to an inbound message for a Messaging
# Service with Advanced Opt-Out (custom keywords included): STOP, START or
# HELP. Source: Twilio, "How to Track Opt-Out, Opt-In and Help Messages Using
# the OptOutType Parameter".
OPT_OUT_TYPE_FIELD = "OptOutType"
# Media kinds Twilio MMS carries, by content type, beyond image/video/audio.
CONTACT_TYPES = frozenset({"text/vcard", "text/x-vcard"})

# ------------------------------------------------------------------------- config


class SmsConfigSerializer(serializers.Serializer):
    """Config of an SMS channel. Source: Twilio Console, "Account Info" and
    "Phone Numbers".

    `account_sid` (`AC…`) and `auth_token` are the account's API credentials;
    the auth token is also the key Twilio signs webhooks with. `phone_number`
    is the Twilio number customers text, in E.164 (`+15551234567`).
    """

    account_sid = serializers.RegexField(
        r"^AC[0-9a-fA-F]{32}$",
        help_text="The Twilio account SID (AC…), from the Console's Account Info.",
    )
    auth_token = serializers.CharField(
        max_length=200,
        help_text="The account's auth token; Twilio also signs webhooks with it.",
    )
    phone_number = serializers.RegexField(
        r"^\+[1-9]\d{6,14}$",
        error_messages={
            "invalid": "Expected a number in E.164 form, e.g. +15551234567."
        },
        help_text="The Twilio number customers text, in E.164 (+15551234567).",
    )


# ------------------------------------------------------------------ parse helpers


class TwilioForm:
    """An urlencoded webhook body read field by field; a missing field raises
    `MalformedPayload` naming it (`MessageSid: missing`)."""

    def __init__(self, body: bytes) -> None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedPayload(f"body is not UTF-8 form data: {error}") from error
        self.fields = dict(parse_qsl(text, keep_blank_values=True))

    def get(self, name: str) -> str:
        """The field's value, or "" when absent."""
        return self.fields.get(name, "")

    def required(self, name: str, *aliases: str) -> str:
        """The first non-empty value of `name` or its `aliases`."""
        for candidate in (name, *aliases):
            if self.fields.get(candidate):
                return self.fields[candidate]
        raise MalformedPayload(f"{name}: missing")

    def count(self, name: str) -> int:
        """A non-negative integer field (`NumMedia`); 0 when absent."""
        value = self.fields.get(name, "0")
        if not value.isdigit():
            raise MalformedPayload(f"{name}: expected a number, got {value!r}")
        return int(value)


def _attachment_kind(content_type: str) -> str:
    major = content_type.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    return "contact" if content_type in CONTACT_TYPES else "document"


def _media(form: TwilioForm) -> tuple[dict[str, str], ...]:
    """MMS media as attachment descriptors `{kind, url, content_type}`, fetched
    later by `SmsPlatform.fetch_media`. Source: `NumMedia`, `MediaUrl{N}`,
    `MediaContentType{N}`."""
    attachments = []
    for index in range(form.count("NumMedia")):
        content_type = form.required(f"MediaContentType{index}")
        attachments.append(
            {
                "kind": _attachment_kind(content_type),
                "url": form.required(f"MediaUrl{index}"),
                "content_type": content_type,
            }
        )
    return tuple(attachments)


def _inbound_message(
    form: TwilioForm, phone_number: str, received_at: datetime
) -> ParsedWebhook:
    """A customer's SMS or MMS (docs/platforms/sms.md, "Inbound message
    webhook"). Messages to another number (the account's other numbers sharing
    this URL) are ignored. Twilio's form carries no send time: `received_at`
    stands in for it."""
    sid = form.required("MessageSid", "SmsMessageSid", "SmsSid")
    sender = form.required("From")
    to = form.required("To")
    key = f"msg:{sid}"
    if phone_number and to != phone_number:
        return ParsedWebhook(
            event_key=key, ignored=(f"message {sid} to another number ({to})",)
        )
    message = InboundMessage(
        platform_message_id=sid,
        contact=InboundContact(external_id=sender, handle=sender),
        text=form.get("Body"),
        sent_at=received_at,
        thread_key=f"{THREAD}:{sender}",
        attachments=_media(form),
    )
    opt_out = _opt_out(form, sender, received_at)
    # The message first: the keyword stays visible to the agents, and the
    # identity the opt-out is recorded on exists by then.
    items = (message,) if opt_out is None else (message, opt_out)
    return ParsedWebhook(event_key=key, items=items)


def _opt_out(
    form: TwilioForm, sender: str, received_at: datetime
) -> ContactOptOut | None:
    """The customer's STOP (opted out) or START (opted back in), from
    Twilio's `OptOutType` (STOP, START or HELP) when Advanced Opt-Out sends
    it, else from the body being one of Twilio's default keywords
    (`OPT_OUT_KEYWORDS`, `OPT_IN_KEYWORDS`: the whole trimmed body, any
    case). None for HELP and any other message. `reason` names the keyword
    as they sent it, e.g. "they replied STOP"."""
    keyword = form.get("Body").strip().upper()
    kind = form.get(OPT_OUT_TYPE_FIELD).strip().upper()
    if not kind:
        if keyword in OPT_OUT_KEYWORDS:
            kind = "STOP"
        elif keyword in OPT_IN_KEYWORDS:
            kind = "START"
    if kind not in ("STOP", "START"):
        return None
    return ContactOptOut(
        external_id=sender,
        opted_out=kind == "STOP",
        reason=f"they replied {keyword or kind}"[:255],
        occurred_at=received_at,
    )


def _failure_reason(status: str, error_code: str) -> str:
    """`<ErrorCode>: <meaning>` for a failed or undelivered message."""
    if not error_code:
        return f"Twilio reported the message {status} without an error code."
    code = int(error_code) if error_code.isdigit() else None
    meaning = ERROR_MEANINGS.get(code) or f"Message {status}, see the Twilio error code"
    return f"{error_code}: {meaning}"


def _status_callback(form: TwilioForm, received_at: datetime) -> ParsedWebhook:
    """A status callback for a message PingBack sent (docs/platforms/sms.md,
    "Status callbacks").
    Dedupe key: (MessageSid, MessageStatus). A failure with ErrorCode 21610
    (the customer texted STOP) also marks the customer, its `To`, opted out."""
    sid = form.required("MessageSid", "SmsSid")
    status = form.required(STATUS_FIELD)
    key = f"status:{sid}:{status}"
    if status in EARLY_STATUSES:
        return ParsedWebhook(event_key=key, ignored=(f"{status}: not a forward move",))
    if status not in RECEIPT_STATUSES:
        return ParsedWebhook(event_key=key, ignored=(f"status {status} not tracked",))
    receipt = DeliveryStatus(
        platform_message_id=sid,
        status=RECEIPT_STATUSES[status],
        occurred_at=received_at,
        error=(
            _failure_reason(status, form.get("ErrorCode"))
            if RECEIPT_STATUSES[status] == "failed"
            else ""
        ),
    )
    recipient = form.get("To")
    if form.get("ErrorCode") == str(UNSUBSCRIBED_CODE) and recipient:
        # The customer (`To` of our message) had texted STOP: later replies
        # fail at once, as after a STOP PingBack saw.
        opt_out = ContactOptOut(
            external_id=recipient,
            opted_out=True,
            reason=UNSUBSCRIBED_OPT_OUT,
            occurred_at=received_at,
        )
        return ParsedWebhook(event_key=key, items=(receipt, opt_out))
    return ParsedWebhook(event_key=key, items=(receipt,))


# ----------------------------------------------------------------------- platform


class SmsPlatform(Platform):
    """SMS and MMS with a Twilio number."""

    channel_type = "sms"
    config_serializer = SmsConfigSerializer
    secret_fields = frozenset({"auth_token"})
    learned_fields = frozenset(
        {"phone_number_sid", "previous_sms_url", "previous_sms_method"}
    )
    receives_webhooks = True

    def check_credentials(
        self, public: dict[str, Any], secrets: dict[str, str]
    ) -> None:
        """Fetch the account (`GET /2010-04-01/Accounts/{sid}.json`). Raises
        `CredentialsRejected` naming `auth_token` (401, code 20003) or
        `account_sid` (404); an unreachable Twilio is not a refusal."""
        api = TwilioApi(public["account_sid"], secrets["auth_token"])
        try:
            api.account_fetch()
        except TwilioCallError as error:
            if error.is_authentication:
                raise CredentialsRejected("auth_token", error.message) from error
            if error.status == 404:
                raise CredentialsRejected("account_sid", error.message) from error
            logger.warning(
                "sms.credentials_unchecked",
                extra={"platform": "sms", "reason": str(error)},
            )

    def verify(self, channel: Channel, request: HttpRequest) -> None:
        """Check `X-Twilio-Signature` (docs/platforms/sms.md, "Signature"):
        HMAC-SHA1 keyed by the auth token over the URL Twilio requested (the
        channel's webhook URL on `PINGBACK_PUBLIC_BASE_URL` plus the query
        string, not the URL as this process sees it behind a proxy) and the
        form fields of the raw body."""
        token = channel.secrets.get("auth_token")
        if not token:
            logger.error(
                "webhook.secret_missing",
                extra={"channel_id": str(channel.id), "platform": "sms"},
            )
            raise SecretMissing("the channel has no auth_token to verify Twilio")
        signature = request.META.get(SIGNATURE_HEADER, "")
        if not signature:
            raise SignatureInvalid("X-Twilio-Signature header missing")
        url = self.webhook_url(channel)
        query = request.META.get("QUERY_STRING", "")
        if query:
            url = f"{url}?{query}"
        params = QueryDict(request.body)
        if not RequestValidator(token).validate(url, params, signature):
            raise SignatureInvalid("X-Twilio-Signature does not match")

    def parse(self, channel: Channel, body: bytes) -> ParsedWebhook:
        """Parse an inbound message (`msg:<MessageSid>`) or a status callback
        (`status:<MessageSid>:<MessageStatus>`). Raises `MalformedPayload`.
        An opt-out or opt-in keyword (STOP, START…) is the customer's message
        followed by a `ContactOptOut` (see `_opt_out`).

        `I-Twilio-Idempotency-Token` is not used: a retried delivery carries
        the same MessageSid (and MessageStatus), which dedupes it as well."""
        form = TwilioForm(body)
        received_at = datetime.now(UTC)
        # An inbound message has no MessageStatus (its SmsStatus is
        # `received`); a `received` MessageStatus is read the same way.
        if form.get(STATUS_FIELD) not in ("", "received"):
            return _status_callback(form, received_at)
        return _inbound_message(
            form, channel.config.get("phone_number", ""), received_at
        )

    def acknowledge(self, channel: Channel, status: str) -> HttpResponse:
        """Empty TwiML as `text/xml`: Twilio sends no reply of its own."""
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """`client.messages.create(from_, to, body, media_url, status_callback)`
        → the message SID. Files go as `MediaUrl`s (PingBack's signed links),
        which makes the message an MMS. Raises `TransientDeliveryError` (429,
        5xx, network) or `PermanentDeliveryError`; for Twilio's 21610 (the
        customer texted STOP) its `opted_out` is set, so the identity is
        marked opted out."""
        if not message.recipient_external_id:
            raise PermanentDeliveryError("The conversation has no phone number.")
        refusal = channel_type_capabilities("sms").text_refusal(
            len(message.text), subject="one"
        )
        if refusal:
            raise PermanentDeliveryError(refusal)
        fields: dict[str, Any] = {
            "from_": channel.config["phone_number"],
            "to": message.recipient_external_id,
            "status_callback": self.webhook_url(channel),
        }
        if message.text:
            fields["body"] = message.text
        if message.attachments:
            fields["media_url"] = [a.public_url for a in message.attachments]
        try:
            sid = TwilioApi.for_channel(channel).message_create(**fields)
        except TwilioCallError as error:
            raise _delivery_error(error) from error
        return SendResult(platform_message_id=sid)

    def fetch_media(
        self, channel: Channel, attachment: dict[str, Any]
    ) -> FetchedMedia | None:
        """Download an MMS file: GET its `MediaUrl` under the outbound HTTP
        policy (`pingback.egress`), following Twilio's redirect to storage,
        each hop checked again. The account's credentials (HTTP basic auth)
        go only to Twilio's API host (`TWILIO_API_BASE_URL`, `api.twilio.com`),
        never to the storage host the redirect leads to. Raises
        `PermanentDeliveryError` for a link PingBack may not fetch (a private
        address, credentials in the URL, another scheme), a file over
        `MEDIA_MAX_BYTES` or a refused download; `TransientDeliveryError` for
        network errors, timeouts, 429 and 5xx."""
        url = attachment.get("url")
        if not url:
            return None
        fetched = media_download(
            _api_url(url),
            source="Twilio",
            credentials=basic_credentials(
                channel.config["account_sid"], channel.secrets["auth_token"]
            ),
            credential_hosts=(settings.TWILIO_API_BASE_URL, TWILIO_HOST),
        )
        return FetchedMedia(
            content=fetched.content,
            content_type=fetched.content_type
            or attachment.get("content_type", "application/octet-stream"),
        )

    def setup_name(self, config: dict[str, Any]) -> str:
        """The number, E.164 written for people (`+1 415-555-0100`)."""
        from contacts.phones import phone_display

        number = config.get("phone_number")
        return phone_display(number) if number else ""

    def on_create(self, channel: Channel) -> SetupResult:
        """Find the number among the account's `IncomingPhoneNumbers` and point
        its "A message comes in" URL (`SmsUrl`, POST) at PingBack, remembering
        the previous URL for `on_delete`. A number not on the account, or a
        refused update, leaves the admin the URL to paste by hand. Name: the
        number, E.164 written for people (`+1 415-555-0100`)."""
        url = self.webhook_url(channel)
        phone_number = channel.config["phone_number"]
        name = self.setup_name(channel.config)
        by_hand = (
            f"In the Twilio Console, open Phone Numbers → Manage → Active numbers "
            f'→ {phone_number} → Messaging configuration, and set "A message comes '
            f'in" to Webhook {url} with HTTP POST.'
        )
        api = TwilioApi.for_channel(channel)
        try:
            number = api.number_find(phone_number)
        except TwilioCallError as error:
            if error.is_authentication:
                return SetupResult(
                    name=name,
                    state="failed",
                    message=f"Twilio did not accept the credentials: {error}",
                )
            return SetupResult(
                name=name,
                state="action_required",
                message=f"Could not look up {phone_number} on Twilio ({error}). "
                f"Run setup again, or: {by_hand}",
            )
        if number is None:
            return SetupResult(
                name=name,
                state="action_required",
                message=f"{phone_number} is not a number of Twilio account "
                f"{channel.config['account_sid']}, so PingBack could not set its "
                f"incoming message URL. {by_hand}",
            )
        learned = {"phone_number_sid": number.sid}
        if number.sms_url == url:
            # Setup ran before: the URL to restore is the one noted then.
            learned["previous_sms_url"] = channel.config.get("previous_sms_url", "")
            learned["previous_sms_method"] = channel.config.get(
                "previous_sms_method", "POST"
            )
        else:
            learned["previous_sms_url"] = number.sms_url
            learned["previous_sms_method"] = number.sms_method
        try:
            api.number_point(number.sid, url, "POST")
        except TwilioCallError as error:
            return SetupResult(
                name=name,
                state="action_required",
                message=f"Twilio refused to set the incoming message URL of "
                f"{phone_number} ({error}). {by_hand}",
                config={"phone_number_sid": number.sid},
            )
        return SetupResult(
            name=name,
            state="ready",
            message=f"Texts to {phone_number} now come to {url}, and each reply "
            "asks Twilio for status callbacks there (sent, delivered, failed).",
            config=learned,
        )

    def on_delete(self, channel: Channel) -> None:
        """Give the number back its previous incoming message URL (or none),
        if it still points at this channel. Best effort: failures are logged."""
        number_sid = channel.config.get("phone_number_sid")
        if not number_sid:
            return
        api = TwilioApi.for_channel(channel)
        try:
            number = api.number_fetch(number_sid)
            if number.sms_url != self.webhook_url(channel):
                return
            api.number_point(
                number_sid,
                channel.config.get("previous_sms_url", ""),
                channel.config.get("previous_sms_method") or "POST",
            )
        except TwilioCallError as error:
            logger.warning(
                "sms.number_restore_failed",
                extra={"channel_id": str(channel.id), "reason": str(error)},
            )


# ---------------------------------------------------------------- error handling


class TwilioCallError(Exception):
    """A Twilio API call failed. `reached` is False when Twilio could not be
    reached; `status` is the HTTP status and `code` Twilio's error code, when
    it answered; `message` is its words (never the credentials); `retry_after`
    in seconds, when Twilio said."""

    def __init__(
        self,
        message: str,
        *,
        reached: bool = True,
        status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reached = reached
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def is_authentication(self) -> bool:
        return self.status == 401 or self.code == AUTHENTICATION_CODE

    def __str__(self) -> str:
        if not self.reached:
            return f"Twilio unreachable: {self.message}"
        code = f"{self.code}: " if self.code and self.code != self.status else ""
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{code}{self.message}{status}"


def _call_error(error: Exception, retry_after: float | None) -> TwilioCallError:
    """Read status, code and message out of what the SDK raised.

    A list page answered with an error raises a bare
    `TwilioException("Unable to fetch page", response)`, not a
    `TwilioRestException`."""
    if isinstance(error, requests.RequestException):
        return TwilioCallError(type(error).__name__, reached=False)
    if isinstance(error, TwilioRestException):
        return TwilioCallError(
            SDK_PREFIX.sub("", error.msg or ""),
            status=error.status,
            code=error.code,
            retry_after=retry_after,
        )
    summary = str(error.args[0]) if error.args else type(error).__name__
    response = error.args[1] if len(error.args) > 1 else None
    if not isinstance(response, TwilioResponse):
        return TwilioCallError(summary)
    try:
        payload = json.loads(response.text)
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    return TwilioCallError(
        str(payload.get("message") or summary),
        status=response.status_code,
        code=payload.get("code"),
        retry_after=retry_after,
    )


def _delivery_error(error: TwilioCallError) -> DeliveryError:
    """Classify a failed send (docs/platforms/sms.md, "Errors PingBack maps")."""
    detail = str(error)
    if not error.reached:
        return TransientDeliveryError(f"Could not reach Twilio: {error.message}")
    status = error.status or 0
    if status == 429 or error.code == RATE_LIMIT_CODE:
        return TransientDeliveryError(
            "Twilio rate limit reached",
            status_code=error.status,
            retry_after=error.retry_after,
            rate_limited=True,
            detail=detail,
        )
    if status >= 500:
        return TransientDeliveryError(
            f"Twilio error: {detail}",
            status_code=error.status,
            retry_after=error.retry_after,
            detail=detail,
        )
    if error.is_authentication:
        reason = (
            f"Twilio rejected the channel's credentials ({detail}): update the "
            "auth token in the channel's settings."
        )
        return PermanentDeliveryError(
            reason, status_code=error.status, channel_alert=reason, detail=detail
        )
    if error.code == UNSUBSCRIBED_CODE:
        return PermanentDeliveryError(
            UNSUBSCRIBED,
            status_code=error.status,
            detail=detail,
            opted_out=UNSUBSCRIBED_OPT_OUT,
        )
    if error.code in UNREACHABLE_NUMBER_CODES:
        return PermanentDeliveryError(
            f"The customer's number cannot receive SMS: {error.code}: "
            f"{ERROR_MEANINGS[error.code]}.",
            status_code=error.status,
            detail=detail,
        )
    return PermanentDeliveryError(
        f"Twilio refused the message: {detail}", status_code=error.status, detail=detail
    )


# --------------------------------------------------------------------- SDK client


def _api_url(url: str, base: str | None = None) -> str:
    """`url` on `base` (default `TWILIO_API_BASE_URL`) when it is on Twilio's
    API host."""
    base = base or settings.TWILIO_API_BASE_URL
    if base != TWILIO_HOST and url.startswith(TWILIO_HOST):
        return base + url[len(TWILIO_HOST) :]
    return url


class _TwilioHostClient(TwilioHttpClient):
    """The SDK's HTTP client, sending its requests for `https://api.twilio.com`
    to `base_url` (`TWILIO_API_BASE_URL`, docs/platforms/sms.md, "Pointing the
    twilio SDK at the sandbox"), with a timeout, and keeping the last
    answer's `Retry-After` (the SDK's exceptions drop headers).

    `TwilioHttpClient` keeps one `requests.Session` (`pool_connections=True`,
    its default), so a kept instance reuses its connection. `retry_after` is
    the answer of the instance's last call, read right after it: an instance
    serves one thread (`_twilio_clients`)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url
        self.retry_after: float | None = None

    def request(
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> TwilioResponse:
        self.retry_after = None
        response = super().request(
            method, _api_url(url, self.base_url), *args, **kwargs
        )
        self.retry_after = retry_after_seconds(
            (response.headers or {}).get("Retry-After")
        )
        return response


# `TWILIO_REGION` / `TWILIO_EDGE` in the environment would rewrite the host before
# the request is made (docs/platforms/sms.md, "Pointing the twilio SDK at the
# sandbox"): the host comes from settings alone.
_NO_REGION = {"TWILIO_REGION": "", "TWILIO_EDGE": ""}


@dataclass(frozen=True)
class TwilioNumber:
    """An `IncomingPhoneNumber`: its SID and where its messages go."""

    sid: str
    sms_url: str
    sms_method: str


def _twilio_build(key: tuple[str, str, str, float]) -> tuple[Client, _TwilioHostClient]:
    """The twilio `Client` and its HTTP client for `(account sid, auth token,
    TWILIO_API_BASE_URL, PLATFORM_API_TIMEOUT)`."""
    account_sid, auth_token, base_url, timeout = key
    http = _TwilioHostClient(base_url, timeout)
    client = Client(account_sid, auth_token, http_client=http, environment=_NO_REGION)
    return client, http


# Per thread and per (account sid, auth token, TWILIO_API_BASE_URL,
# PLATFORM_API_TIMEOUT).
_twilio_clients: ThreadClients[
    tuple[str, str, str, float], tuple[Client, _TwilioHostClient]
] = ThreadClients(_twilio_build, lambda pair: pair[1].session.close())


class TwilioApi:
    """The Twilio REST calls PingBack makes for one account, through the twilio
    SDK. Every method raises `TwilioCallError`.

    A send makes a `TwilioApi`; its SDK client is the calling thread's for the
    account (`ThreadClients`, per account sid, auth token,
    `TWILIO_API_BASE_URL` and `PLATFORM_API_TIMEOUT`), so a delivery thread's
    sends for one account reuse its connection (keep-alive) instead of a new
    TCP connection, and in production a TLS handshake, per send. Use an
    instance in the thread that made it."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.client, self.http = _twilio_clients.get(
            (
                account_sid,
                auth_token,
                settings.TWILIO_API_BASE_URL,
                settings.PLATFORM_API_TIMEOUT,
            )
        )

    @classmethod
    def for_channel(cls, channel: Channel) -> TwilioApi:
        return cls(channel.config["account_sid"], channel.secrets["auth_token"])

    def _call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (TwilioException, requests.RequestException) as error:
            raise _call_error(error, self.http.retry_after) from error

    def account_fetch(self) -> None:
        """`GET /Accounts/{sid}.json`: succeeds when the credentials work."""
        self._call(self.client.api.v2010.accounts(self.client.account_sid).fetch)

    def number_find(self, phone_number: str) -> TwilioNumber | None:
        """`GET /IncomingPhoneNumbers.json?PhoneNumber=` → the number, or None
        when the account does not own it. Twilio's filter also matches partial
        numbers, hence the exact comparison."""
        found = self._call(
            self.client.incoming_phone_numbers.list,
            phone_number=phone_number,
            limit=20,
        )
        for number in found:
            if number.phone_number == phone_number:
                return TwilioNumber(number.sid, number.sms_url or "", number.sms_method)
        return None

    def number_fetch(self, sid: str) -> TwilioNumber:
        """`GET /IncomingPhoneNumbers/{sid}.json`."""
        number = self._call(self.client.incoming_phone_numbers(sid).fetch)
        return TwilioNumber(number.sid, number.sms_url or "", number.sms_method)

    def number_point(self, sid: str, sms_url: str, sms_method: str) -> None:
        """`POST /IncomingPhoneNumbers/{sid}.json` with `SmsUrl`, `SmsMethod`."""
        self._call(
            self.client.incoming_phone_numbers(sid).update,
            sms_url=sms_url,
            sms_method=sms_method,
        )

    def message_create(self, **fields: Any) -> str:
        """`POST /Messages.json` → the message SID (`SM…` or `MM…`)."""
        return self._call(self.client.messages.create, **fields).sid

"""Widget visitors: signed identity, rate limits, and their messages into the
inbound path.

A visitor is anonymous. Their id (a UUIDv4) travels inside a visitor token signed
with `SECRET_KEY` for one channel (`django.core.signing`), which the widget keeps
in the browser's localStorage and presents when it connects; a returning visitor
with a valid token keeps their id, and so their conversation and history.

A website that knows who the visitor is (a signed-in customer) may say so
(`visitor_identify`): its user id, with an HMAC of it under the widget's
`identity_secret` that only the site's server can compute, and the name,
e-mail address, phone number and attributes to give the contact. Only a
verified identification changes the contact; any other is refused and
changes nothing.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from channels_app.models import Channel
from channels_app.platforms.web_widget import MAX_MESSAGE_LENGTH, visitor_message_body
from channels_app.services.inbound import RecordOutcome, inbound_event_record
from contacts.search_text import search_text_refresh
from contacts.services.identities import (
    IDENTIFIER_MAX_LENGTH,
    VisitorIdentification,
    identification_verified,
    new_contact_fields,
    placeholder_name,
    visitor_details_apply,
)
from conversations.models import Contact, ContactIdentity

# A visitor token stays valid this long (seconds); each connection renews it.
VISITOR_TOKEN_MAX_AGE = 365 * 24 * 3600
# Anonymous visitors may do this many actions per window of RATE_WINDOW seconds,
# counted from the first.
RATE_WINDOW = 60
CONNECTIONS_PER_IP_PER_WINDOW = 30
MESSAGES_PER_VISITOR_PER_WINDOW = 20


class VisitorMessageInvalid(Exception):
    """A visitor's `message` frame is not acceptable. `code` is the error
    frame's code (`invalid_message`, `message_too_long`, `empty_message`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class VisitorMessage:
    """A visitor's message as the widget sent it: its client-generated UUID
    (canonical form) and text."""

    message_id: str
    text: str


def _token_salt(channel_id: object) -> str:
    return f"pingback.widget.visitor:{channel_id}"


def visitor_new() -> str:
    """A fresh visitor id (UUIDv4, canonical form)."""
    return str(uuid.uuid4())


def visitor_token_issue(*, channel_id: object, visitor_id: str) -> str:
    """A signed, timestamped token naming `visitor_id` on this channel only."""
    return signing.dumps({"visitor": visitor_id}, salt=_token_salt(channel_id))


def visitor_token_read(*, channel_id: object, token: object) -> str | None:
    """The visitor id in `token`, or None when it is not a string, forged,
    signed for another channel or older than `VISITOR_TOKEN_MAX_AGE`."""
    if not isinstance(token, str):
        return None
    try:
        data = signing.loads(
            token, salt=_token_salt(channel_id), max_age=VISITOR_TOKEN_MAX_AGE
        )
    except signing.BadSignature:
        return None
    visitor_id = data.get("visitor") if isinstance(data, dict) else None
    return visitor_id if isinstance(visitor_id, str) else None


def _rate_take(name: str, limit: int) -> int | None:
    """Count one action under `name` in its window (RATE_WINDOW seconds from the
    first action). Returns None while within `limit`, else the seconds until
    the window ends (at least 1)."""
    count_key = f"pingback:widget:rate:{name}"
    start_key = f"{count_key}:start"
    now = time.time()
    if cache.add(count_key, 0, timeout=RATE_WINDOW):
        cache.set(start_key, now, timeout=RATE_WINDOW)
    try:
        count = cache.incr(count_key)
    except ValueError:
        # The window ended between add and incr: this action opens a new one.
        cache.set(count_key, 1, timeout=RATE_WINDOW)
        cache.set(start_key, now, timeout=RATE_WINDOW)
        count = 1
    if count <= limit:
        return None
    started = cache.get(start_key, now)
    return max(1, math.ceil(started + RATE_WINDOW - now))


def connection_rate_check(client_ip: str) -> int | None:
    """Count a widget connection from `client_ip`: None when allowed, else the
    seconds to wait (over `CONNECTIONS_PER_IP_PER_WINDOW` per minute)."""
    return _rate_take(f"connect:{client_ip}", CONNECTIONS_PER_IP_PER_WINDOW)


def message_rate_check(*, channel_id: object, visitor_id: str) -> int | None:
    """Count a message from a visitor: None when allowed, else the seconds to
    wait (over `MESSAGES_PER_VISITOR_PER_WINDOW` per minute)."""
    return _rate_take(
        f"message:{channel_id}:{visitor_id}", MESSAGES_PER_VISITOR_PER_WINDOW
    )


def visitor_message_clean(frame: dict[str, Any]) -> VisitorMessage:
    """Validate a `{"type": "message", "id": <UUID>, "text": str}` frame.
    Raises `VisitorMessageInvalid`."""
    try:
        message_id = str(uuid.UUID(str(frame.get("id"))))
    except ValueError as error:
        raise VisitorMessageInvalid(
            "invalid_message", "Each message needs an `id`: a UUID made by the widget."
        ) from error
    text = frame.get("text")
    if not isinstance(text, str) or not text.strip():
        raise VisitorMessageInvalid(
            "empty_message", gettext("A message needs some text.")
        )
    if len(text) > MAX_MESSAGE_LENGTH:
        raise VisitorMessageInvalid(
            "message_too_long",
            gettext("A message may have at most %(count)d characters.")
            % {"count": MAX_MESSAGE_LENGTH},
        )
    return VisitorMessage(message_id=message_id, text=text.strip())


def visitor_message_record(
    *, channel: Channel, visitor_id: str, message: VisitorMessage
) -> RecordOutcome:
    """Store a visitor's message as an inbound event of the channel (event key:
    its UUID) and schedule its processing, like a webhook delivery. Returns the
    outcome: `accepted`, `duplicate` (a resend), `ignored` (the channel was
    deactivated since the widget connected; the event is kept for replay)."""
    channel.refresh_from_db(fields=["is_active"])
    body = visitor_message_body(
        visitor_id=visitor_id,
        message_id=message.message_id,
        text=message.text,
        sent_at=timezone.now(),
    )
    return inbound_event_record(
        channel=channel,
        body=json.dumps(body).encode(),
        content_type="application/json",
    )


# ------------------------------------------------------------ identification

IDENTIFY_TEXT_MAX_LENGTH = 254
IDENTIFY_ATTRIBUTES_MAX = 50


class VisitorIdentityInvalid(Exception):
    """An `identify` frame PingBack refuses: malformed (`invalid_identity`)
    or not verified (`identity_refused`: no identity secret on the widget,
    or a hash that is not the HMAC of the identifier)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _frame_text(frame: dict[str, Any], key: str, limit: int) -> str:
    value = frame.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise VisitorIdentityInvalid(
            "invalid_identity", f"`{key}` must be text of at most {limit} characters."
        )
    return value.strip()


def visitor_identification_clean(frame: dict[str, Any]) -> VisitorIdentification:
    """Read an `identify` frame: `{"identifier": str, "identifier_hash": str,
    "name"?: str, "email"?: str, "phone"?: str, "attributes"?: object}`.
    Raises `VisitorIdentityInvalid` (`invalid_identity`) for missing or
    oversized fields; the values themselves are checked when applied."""
    identifier = _frame_text(frame, "identifier", IDENTIFIER_MAX_LENGTH)
    digest = _frame_text(frame, "identifier_hash", 128)
    if not identifier or not digest:
        raise VisitorIdentityInvalid(
            "invalid_identity", "`identifier` and `identifier_hash` are required."
        )
    attributes = frame.get("attributes")
    if attributes is not None and (
        not isinstance(attributes, dict) or len(attributes) > IDENTIFY_ATTRIBUTES_MAX
    ):
        raise VisitorIdentityInvalid(
            "invalid_identity",
            f"`attributes` must be an object of at most {IDENTIFY_ATTRIBUTES_MAX} "
            "keys.",
        )
    return VisitorIdentification(
        identifier=identifier,
        identifier_hash=digest,
        name=_frame_text(frame, "name", IDENTIFY_TEXT_MAX_LENGTH),
        email=_frame_text(frame, "email", IDENTIFY_TEXT_MAX_LENGTH),
        phone=_frame_text(frame, "phone", 64),
        attributes=attributes,
    )


def _visitor_identity(channel: Channel, visitor_id: str) -> ContactIdentity:
    """The visitor's identity on the channel, with its contact, created as
    ingest would create it when the visitor has not written yet."""
    found = (
        ContactIdentity.objects.select_related("contact", "channel")
        .filter(channel=channel, external_id=visitor_id)
        .first()
    )
    if found is not None:
        return found
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                business_id=channel.business_id,
                **new_contact_fields(
                    channel.type,
                    external_id=visitor_id,
                    handle="",
                    name=placeholder_name(channel.type, visitor_id),
                    avatar_url="",
                ),
            )
            return ContactIdentity.objects.create(
                contact=contact, channel=channel, external_id=visitor_id
            )
    except IntegrityError:
        # The visitor's first message created it meanwhile.
        return ContactIdentity.objects.select_related("contact", "channel").get(
            channel=channel, external_id=visitor_id
        )


def visitor_identify(
    *, channel: Channel, visitor_id: str, identification: VisitorIdentification
) -> Contact:
    """Apply what the website says of its visitor, once verified: the hash
    must be `hex(HMAC-SHA256(identity_secret, identifier))` with the widget's
    `identity_secret`. The contact gets the name (over the `Visitor …`
    placeholder only), e-mail address, phone number (source `widget`) and
    attributes (`visitor_details_apply`); the identifier is kept as the
    identity's handle, so contact search finds the site's user id. Returns
    the contact. Raises `VisitorIdentityInvalid` (`identity_refused`) and
    changes nothing when the identification is not verified."""
    secret = channel.secrets.get("identity_secret", "")
    if not identification_verified(secret, identification):
        raise VisitorIdentityInvalid(
            "identity_refused",
            "This identification is not signed with the widget's identity secret.",
        )
    identity = _visitor_identity(channel, visitor_id)
    if identity.handle != identification.identifier:
        identity.handle = identification.identifier
        identity.save(update_fields=["handle"])
    contact = visitor_details_apply(identity, identification)
    search_text_refresh([contact.pk])
    return contact

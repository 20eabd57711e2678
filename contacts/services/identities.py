"""What a contact's identity on a channel tells about the contact.

Each channel type's identity knows different things (`identity_details`):

- `whatsapp`: the id is the WhatsApp id (`wa_id`, the number with its
  country code, no `+`): a phone number (E.164), source `whatsapp`;
- `sms`: the sender's number (Twilio `From`, E.164): a phone number, source
  `sms`;
- `email`: the sender's address: an e-mail address, source `email`;
- `telegram`: the user id: nothing more (the username and name come with
  each message);
- `instagram`: the Instagram-scoped id (IGSID): name, username and picture,
  fetched once in the background (`contacts.tasks`);
- `x`: the user id: name, username and picture come with most events, and
  are fetched once when they did not;
- `webchat`, `widget`: the visitor id: what the website passes for a visitor
  it identified, with a valid hash (`visitor_details_apply`).

Ingest (`conversations.services.ingest`) adds the details of a batch's new
identities in one INSERT per kind (`identities_details_add`), names new
contacts with what they give (`new_contact_fields`), and schedules the
profile fetch of the identities whose platform can tell more
(`profiles_fetch_schedule`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from contacts.models import ContactEmail, ContactPhone
from contacts.phones import phone_e164
from contacts.search_text import search_text_for, search_text_refresh
from contacts.services.contacts import (
    ContactInvalid,
    attributes_validated,
    contact_details_add,
    email_normalized,
)
from conversations.models import Contact, ContactIdentity
from webhooks.services import events as webhook_events

logger = logging.getLogger(__name__)

PHONE_CHANNEL_TYPES = frozenset({"whatsapp", "sms"})
EMAIL_CHANNEL_TYPES = frozenset({"email"})
WIDGET_CHANNEL_TYPES = frozenset({"webchat", "widget"})
# Channel types whose `handle` is a username, shown as `@handle`.
USERNAME_CHANNEL_TYPES = frozenset({"x", "telegram", "instagram"})
# What the website may pass for a visitor, at most.
IDENTIFIER_MAX_LENGTH = 255
NAME_MAX_LENGTH = 200


@dataclass(frozen=True)
class IdentityDetails:
    """E-mail addresses (lower-cased) and phone numbers (E.164) an identity
    gives its contact."""

    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


def identity_details(channel_type: str, external_id: str) -> IdentityDetails:
    """What an identity's id tells, by channel type (see the module table):
    the phone number of a WhatsApp or SMS identity, the address of an e-mail
    identity, nothing for the others. An id that does not parse (an SMS
    sender name such as `AMAZON`, a short code) tells nothing."""
    if channel_type in PHONE_CHANNEL_TYPES:
        # WhatsApp ids carry the country code without `+`, Twilio's `From`
        # is E.164: both read as international numbers.
        number = phone_e164(external_id)
        return IdentityDetails(phones=(number,)) if number else IdentityDetails()
    if channel_type in EMAIL_CHANNEL_TYPES:
        try:
            return IdentityDetails(emails=(email_normalized(external_id),))
        except ContactInvalid:
            return IdentityDetails()
    return IdentityDetails()


def placeholder_name(channel_type: str, external_id: str) -> str:
    """The name a platform gives a contact it knows nothing of (the widget's
    `Visitor 1a2b3c4d`): used for a new contact, never over a known name."""
    if channel_type in WIDGET_CHANNEL_TYPES:
        from channels_app.platforms.web_widget import visitor_name

        return visitor_name(external_id)
    return ""


def new_contact_fields(
    channel_type: str, *, external_id: str, handle: str, name: str, avatar_url: str
) -> dict[str, str]:
    """`name`, `avatar_url` and `search_text` of a contact a new identity
    creates: the name given, else the handle (a username; the number for
    SMS, which the inbox shows once, formatted: see
    `conversations.templatetags.inbox.contact_display`); the search text
    holds the details `identity_details` adds. No query."""
    name = name or handle
    details = identity_details(channel_type, external_id)
    return {
        "name": name[:NAME_MAX_LENGTH],
        "avatar_url": avatar_url,
        "search_text": search_text_for(
            name=name,
            emails=details.emails,
            phones=details.phones,
            identities=[(handle, external_id)],
        ),
    }


def identities_details_add(
    channel_type: str, identities: Sequence[ContactIdentity]
) -> set[int]:
    """Add to each identity's contact the phone number or address its id
    gives (`identity_details`, source: the channel type): one INSERT per
    kind for all of them, none when the channel type gives nothing. Details
    the contact has are kept. Returns the ids of the contacts given
    something (their search text is the caller's: `new_contact_fields` for
    new contacts, `search_text_refresh` otherwise)."""
    emails: list[ContactEmail] = []
    phones: list[ContactPhone] = []
    given: set[int] = set()
    for identity in identities:
        details = identity_details(channel_type, identity.external_id)
        contact = identity.contact
        for address in details.emails:
            emails.append(
                ContactEmail(
                    contact_id=contact.pk,
                    business_id=contact.business_id,
                    address=address,
                    source=channel_type,
                )
            )
        for number in details.phones:
            phones.append(
                ContactPhone(
                    contact_id=contact.pk,
                    business_id=contact.business_id,
                    number=number,
                    source=channel_type,
                )
            )
        if details.emails or details.phones:
            given.add(contact.pk)
    if emails:
        ContactEmail.objects.bulk_create(emails, ignore_conflicts=True)
    if phones:
        ContactPhone.objects.bulk_create(phones, ignore_conflicts=True)
    webhook_events.contacts_mark_new(identity.contact for identity in identities)
    return given


# ------------------------------------------------------------------ profiles


def fetches_profiles(channel_type: str) -> bool:
    """Whether the channel type's platform can be asked for a user's profile
    (`Platform.fetch_profile`: Instagram, X)."""
    from channels_app.platforms import UnknownChannelType, get_platform

    try:
        return get_platform(channel_type).fetches_profiles
    except UnknownChannelType:
        return False


def identities_needing_profile(
    channel_type: str, identities: Iterable[ContactIdentity]
) -> list[int]:
    """Ids of the identities whose profile is worth asking for: the platform
    can tell it, it was never asked (`profile_fetched_at`), and the contact
    lacks a name or a picture. No query (the contacts are loaded)."""
    if not fetches_profiles(channel_type):
        return []
    return sorted(
        {
            identity.pk
            for identity in identities
            if identity.profile_fetched_at is None
            and not (identity.contact.name and identity.contact.avatar_url)
            and not identity.contact.erased_at
        }
    )


def profiles_fetch_schedule(identity_ids: Sequence[int]) -> None:
    """Queue one background fetch of these identities' profiles
    (`contacts.tasks.fetch_identity_profiles`) once the transaction commits."""
    if not identity_ids:
        return
    from contacts.tasks import fetch_identity_profiles

    ids = list(identity_ids)
    transaction.on_commit(lambda: fetch_identity_profiles.delay(ids))


def identity_profile_apply(
    identity: ContactIdentity, *, name: str, handle: str, avatar_url: str
) -> bool:
    """Fill in what a fetched profile tells, without overwriting what is
    known: the contact's name when it has none (or only the identity's
    username or id, which is no name), its picture when it has none, the
    identity's username when it has none. Refreshes the search text.
    Returns whether anything changed."""
    contact = identity.contact
    changed_contact: list[str] = []
    placeholder = {"", identity.handle, identity.external_id}
    if name and contact.name in placeholder and contact.name != name:
        contact.name = name[:NAME_MAX_LENGTH]
        changed_contact.append("name")
    if avatar_url and not contact.avatar_url and len(avatar_url) <= 1000:
        contact.avatar_url = avatar_url
        changed_contact.append("avatar_url")
    changed_identity = bool(handle) and not identity.handle
    with transaction.atomic():
        if changed_contact:
            contact.save(update_fields=[*changed_contact, "updated_at"])
        if changed_identity:
            identity.handle = handle[:255]
            identity.save(update_fields=["handle"])
        if changed_contact or changed_identity:
            search_text_refresh([contact.pk])
        webhook_events.contact_updated(contact, changed_contact)
    return bool(changed_contact) or changed_identity


# -------------------------------------------------------------------- widget


@dataclass(frozen=True)
class VisitorIdentification:
    """What a website says of a visitor it knows (`PingBack.identify`):
    `identifier` is the site's own user id, `identifier_hash` the hex
    HMAC-SHA256 of it keyed by the widget's `identity_secret`."""

    identifier: str
    identifier_hash: str
    name: str = ""
    email: str = ""
    phone: str = ""
    attributes: Mapping[str, Any] | None = None


def identifier_hash(secret: str, identifier: str) -> str:
    """`hex(HMAC-SHA256(secret, identifier))`: what the website's server
    computes and passes with `identifier` (lower-case hex, 64 characters)."""
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def identification_verified(secret: str, identification: VisitorIdentification) -> bool:
    """Whether the identification's hash is the HMAC of its identifier under
    `secret` (constant-time). False without a secret or an identifier."""
    if not secret or not identification.identifier:
        return False
    expected = identifier_hash(secret, identification.identifier)
    return hmac.compare_digest(
        expected.encode(), identification.identifier_hash.strip().lower().encode()
    )


def visitor_details_apply(
    identity: ContactIdentity, identification: VisitorIdentification
) -> Contact:
    """Apply a verified identification to the visitor's contact: the name
    the site passes replaces the placeholder `Visitor 1a2b3c4d` (a name an
    agent wrote stays), the e-mail address and phone number are added (source `widget`;
    one that does not parse is skipped), the custom attributes are merged
    (an attribute PingBack refuses is skipped, see `attributes_validated`).
    The caller checks the hash first (`identification_verified`)."""
    contact = identity.contact
    fields: list[str] = []
    name = identification.name.strip()[:NAME_MAX_LENGTH]
    unnamed = {"", placeholder_name(identity.channel.type, identity.external_id)}
    if name and contact.name in unnamed:
        contact.name = name
        fields.append("name")
    attributes = dict(contact.custom_attributes)
    for key, value in (identification.attributes or {}).items():
        try:
            attributes.update(attributes_validated({key: value}))
        except ContactInvalid:
            continue
    try:
        attributes = attributes_validated(attributes)
    except ContactInvalid:
        attributes = contact.custom_attributes
    if attributes != contact.custom_attributes:
        contact.custom_attributes = attributes
        fields.append("custom_attributes")
    with transaction.atomic(), webhook_events.contact_changes_together():
        if fields:
            contact.save(update_fields=[*fields, "updated_at"])
            webhook_events.contact_updated(contact, fields)
        contact_details_add(
            contact,
            emails=[identification.email] if identification.email else [],
            phones=[identification.phone] if identification.phone else [],
            source="widget",
        )
        if "name" in fields:
            search_text_refresh([contact.pk])
    return contact

"""The one rule PingBack names a contact by, wherever it shows one: the
inbox list and thread, the customer panel, the contacts pages, merge
previews and suggestions, notifications and the delivery problems list.

`contact_display_name(contact, identity, channel_type)` never queries: what
it reads comes from its arguments, or from the annotations of
`contacts.selectors.merge.contacts_with_fallbacks` (`fallback_handle`,
`fallback_phone`, `fallback_email`) when there is no identity at hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext, gettext_noop

from contacts.phones import phone_display, phone_e164
from contacts.services.identities import (
    EMAIL_CHANNEL_TYPES,
    PHONE_CHANNEL_TYPES,
    USERNAME_CHANNEL_TYPES,
    placeholder_name,
)
from conversations.models import Contact, ContactIdentity

UNKNOWN_CONTACT = gettext_noop("Unknown contact")
_LETTERS = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class ContactDisplay:
    """How PingBack names a contact.

    `name`: the name to show, "" when only a username is known; `handle`: a
    username to show as `@handle` (never a phone number or an address, and
    not when it is the name); `known`: False when nothing is known, and
    `name` is "Unknown contact". `str()` gives one line of text
    (`Ada Lovelace`, `@ada`, `+1 415-555-0100`) for titles and labels."""

    name: str
    handle: str = ""
    known: bool = True

    def __str__(self) -> str:
        return self.name or f"@{self.handle}"


def _as_phone(text: str) -> str | None:
    """`text` written for people when it is a phone number (digits and
    punctuation only, that parse), else None."""
    if not text or _LETTERS.search(text):
        return None
    number = phone_e164(text)
    return phone_display(number) if number else None


def contact_display_name(
    contact: Contact | None,
    identity: ContactIdentity | None = None,
    channel_type: str = "",
    *,
    handle: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> ContactDisplay:
    """How to name `contact`, from the contact and the identity of the
    conversation at hand (no query):

    1. the contact's name; a name that is a phone number (an SMS contact is
       named after its number) is shown once, formatted (`+1 415-555-0100`);
    2. else the username (X, Telegram, Instagram: `@ada`);
    3. else what the identity's id is: the phone number (WhatsApp, SMS),
       the address (e-mail), `Visitor 1a2b3c4d` (web widget);
    4. else, with no identity (the contacts pages, merge suggestions), the
       contact's first handle, phone number (E.164) or e-mail address: from
       `handle`, `phone`, `email` when given, else from the
       `contacts_with_fallbacks` annotations when present;
    5. "Unknown contact" only when none of these is known.

    A username is shown beside a name (`handle`) on X, Telegram and
    Instagram only, and not when it is the name."""
    name = " ".join((contact.name if contact else "").split())
    external_id = identity.external_id.strip() if identity else ""
    if identity is not None:
        handle, phone, email = identity.handle.strip(), None, None
    else:
        handle = (handle or getattr(contact, "fallback_handle", None) or "").strip()
        phone = phone or getattr(contact, "fallback_phone", None)
        email = email or getattr(contact, "fallback_email", None)
    usernames = channel_type in USERNAME_CHANNEL_TYPES or (
        not channel_type and handle and _as_phone(handle) is None
    )
    shown_handle = handle if usernames and handle.lstrip("@") != name else ""
    if name:
        phone = _as_phone(name)
        if phone is not None:
            return ContactDisplay(name=phone)
        return ContactDisplay(name=name, handle=shown_handle.lstrip("@"))
    if usernames and handle:
        return ContactDisplay(name="", handle=handle.lstrip("@"))
    if channel_type in PHONE_CHANNEL_TYPES:
        phone = _as_phone(external_id) or _as_phone(handle)
        if phone:
            return ContactDisplay(name=phone)
    if channel_type in EMAIL_CHANNEL_TYPES and external_id:
        return ContactDisplay(name=external_id)
    placeholder = placeholder_name(channel_type, external_id) if external_id else ""
    if placeholder:
        return ContactDisplay(name=placeholder)
    if phone:
        return ContactDisplay(name=phone_display(phone))
    if email:
        return ContactDisplay(name=email)
    if handle:
        return ContactDisplay(name=_as_phone(handle) or handle)
    return ContactDisplay(name=gettext(UNKNOWN_CONTACT), known=False)


def contact_own_name(contact: Contact) -> ContactDisplay:
    """`contact_display_name` of a contact with no conversation at hand (the
    contacts pages): its first handle, phone number and e-mail address come
    from its prefetched `identities`, `phones` and `emails`
    (`contacts.selectors.contacts.contact_list`, `contact_get`), else from
    the `contacts_with_fallbacks` annotations. No query when either is
    there."""
    cache = getattr(contact, "_prefetched_objects_cache", {})
    handle = next(
        (row.handle for row in cache.get("identities", ()) if row.handle), None
    )
    phone = next((row.number for row in cache.get("phones", ())), None)
    email = next((row.address for row in cache.get("emails", ())), None)
    return contact_display_name(contact, handle=handle, phone=phone, email=email)

"""Creating and changing contacts: their details, labels and attributes.

Every change keeps `Contact.search_text` current. Bad input raises
`ContactInvalid`, whose `field` names what was wrong (the API answers 400
with `{"<field>": ["<reason>"]}`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from billing.models import Business
from contacts.models import ContactEmail, ContactLabel, ContactPhone
from contacts.phones import phone_e164
from contacts.search_text import search_text_refresh
from conversations.models import Contact
from pingback.errors import FieldInvalid
from webhooks.services import events as webhook_events
from workspace.models import Label

ATTRIBUTE_KEY = re.compile(r"\A[a-z][a-z0-9_]{0,39}\Z")
ATTRIBUTE_MAX_KEYS = 50
ATTRIBUTE_VALUE_MAX_LENGTH = 1000
MAX_EMAILS = 20
MAX_PHONES = 20
# The columns' lengths (Contact.name, company, avatar_url).
TEXT_MAX_LENGTHS = {"name": 200, "company": 200, "avatar_url": 1000}


class ContactInvalid(FieldInvalid):
    """A contact field holds a value PingBack refuses: HTTP 400 naming `field`."""


def email_normalized(raw: str) -> str:
    """An e-mail address as stored (trimmed, lower-cased). Raises
    `ContactInvalid` (field `emails`) when it is not an address."""
    address = (raw or "").strip().lower()
    try:
        validate_email(address)
    except ValidationError:
        raise ContactInvalid("emails", f"Not an e-mail address: {raw!r}.") from None
    return address


def phone_normalized(raw: str, business: Business) -> str:
    """A phone number in E.164, read with the business's default country.
    Raises `ContactInvalid` (field `phones`) when it is not a phone number."""
    number = phone_e164(raw, business.default_country)
    if number is None:
        raise ContactInvalid("phones", f"Not a phone number: {raw!r}.")
    return number


def attributes_validated(value: Any) -> dict[str, str | int | float | bool | None]:
    """Custom attributes as stored: a flat object of at most 50 keys
    (`[a-z][a-z0-9_]*`, at most 40 characters) whose values are strings (at
    most 1,000 characters), numbers, booleans or null. Raises
    `ContactInvalid` (field `custom_attributes`)."""
    if not isinstance(value, Mapping):
        raise ContactInvalid("custom_attributes", "Must be an object.")
    if len(value) > ATTRIBUTE_MAX_KEYS:
        raise ContactInvalid(
            "custom_attributes", f"At most {ATTRIBUTE_MAX_KEYS} attributes."
        )
    cleaned: dict[str, str | int | float | bool | None] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not ATTRIBUTE_KEY.match(key):
            raise ContactInvalid(
                "custom_attributes",
                f"Attribute names are 1 to 40 lowercase letters, digits and _ "
                f"starting with a letter: {key!r}.",
            )
        if isinstance(item, str) and len(item) > ATTRIBUTE_VALUE_MAX_LENGTH:
            raise ContactInvalid(
                "custom_attributes",
                f"{key}: at most {ATTRIBUTE_VALUE_MAX_LENGTH} characters.",
            )
        if item is not None and not isinstance(item, str | int | float | bool):
            raise ContactInvalid(
                "custom_attributes",
                f"{key}: a value is a string, a number, true, false or null.",
            )
        cleaned[key] = item
    return cleaned


def _text_checked(field: str, value: str) -> str:
    """`value` trimmed; `ContactInvalid` naming `field` when it is longer
    than its column holds (PostgreSQL would refuse it)."""
    value = value.strip()
    limit = TEXT_MAX_LENGTHS[field]
    if len(value) > limit:
        raise ContactInvalid(field, f"At most {limit} characters.")
    return value


def _labels_of(business: Business, label_ids: Iterable[int]) -> list[Label]:
    ids = set(label_ids)
    labels = list(Label.objects.filter(business=business, pk__in=ids))
    if len(labels) != len(ids):
        raise ContactInvalid("labels", "Each label must be one of this business.")
    return labels


def contact_create(
    *,
    business: Business,
    name: str = "",
    company: str = "",
    note: str = "",
    avatar_url: str = "",
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    custom_attributes: Mapping[str, Any] | None = None,
    label_ids: Iterable[int] = (),
    source: str = "api",
) -> Contact:
    """Create a contact with these details (e-mail addresses and phone
    numbers normalised, duplicates dropped). Raises `ContactInvalid`."""
    name = _text_checked("name", name)
    company = _text_checked("company", company)
    avatar_url = _text_checked("avatar_url", avatar_url)
    emails_clean = _emails_clean(emails)
    phones_clean = _phones_clean(phones, business)
    attributes = attributes_validated(custom_attributes or {})
    labels = _labels_of(business, label_ids)
    with transaction.atomic():
        contact = Contact.objects.create(
            business=business,
            name=name,
            company=company,
            note=note,
            avatar_url=avatar_url,
            custom_attributes=attributes,
        )
        _details_add(contact, emails_clean, phones_clean, source=source)
        ContactLabel.objects.bulk_create(
            [ContactLabel(contact=contact, label=label) for label in labels]
        )
        search_text_refresh([contact.pk])
        webhook_events.contacts_created([contact])
    contact.refresh_from_db(fields=["search_text"])
    return contact


_UNSET: Any = object()


def contact_update(
    contact: Contact,
    *,
    name: str = _UNSET,
    company: str = _UNSET,
    note: str = _UNSET,
    avatar_url: str = _UNSET,
    emails: Sequence[str] = _UNSET,
    phones: Sequence[str] = _UNSET,
    custom_attributes: Mapping[str, Any] = _UNSET,
    label_ids: Iterable[int] = _UNSET,
    source: str = "agent",
) -> Contact:
    """Change what is given, leave the rest. `emails`, `phones` and
    `label_ids` replace the contact's lists (an address kept keeps its
    source); `custom_attributes` replaces the object (use
    `contact_attributes_set` to change some keys). Raises `ContactInvalid`."""
    business = contact.business
    emails_clean = _emails_clean(emails) if emails is not _UNSET else None
    phones_clean = _phones_clean(phones, business) if phones is not _UNSET else None
    labels = _labels_of(business, label_ids) if label_ids is not _UNSET else None
    values: dict[str, Any] = {}
    for field, value in (
        ("name", name),
        ("company", company),
        ("note", note),
        ("avatar_url", avatar_url),
    ):
        if value is not _UNSET:
            values[field] = _text_checked(field, value) if field != "note" else value
    if custom_attributes is not _UNSET:
        values["custom_attributes"] = attributes_validated(custom_attributes)
    # Everything is checked: only now does the contact change.
    changed = [
        field for field, value in values.items() if getattr(contact, field) != value
    ]
    for field, value in values.items():
        setattr(contact, field, value)
    fields = list(values)
    with transaction.atomic():
        if fields:
            contact.save(update_fields=[*fields, "updated_at"])
        if emails_clean is not None:
            had = set(contact.emails.values_list("address", flat=True))
            if had != set(emails_clean):
                changed.append("emails")
            ContactEmail.objects.filter(contact=contact).exclude(
                address__in=emails_clean
            ).delete()
        if phones_clean is not None:
            had = set(contact.phones.values_list("number", flat=True))
            if had != set(phones_clean):
                changed.append("phones")
            ContactPhone.objects.filter(contact=contact).exclude(
                number__in=phones_clean
            ).delete()
        _details_add(contact, emails_clean or (), phones_clean or (), source=source)
        if labels is not None:
            had = set(
                ContactLabel.objects.filter(contact=contact).values_list(
                    "label_id", flat=True
                )
            )
            if had != {label.pk for label in labels}:
                changed.append("labels")
            ContactLabel.objects.filter(contact=contact).exclude(
                label__in=labels
            ).delete()
            ContactLabel.objects.bulk_create(
                [ContactLabel(contact=contact, label=label) for label in labels],
                ignore_conflicts=True,
            )
        search_text_refresh([contact.pk])
        # One event for the edit, naming what it changed (none if nothing).
        webhook_events.contact_updated(contact, changed)
    contact.refresh_from_db(fields=["search_text", "updated_at"])
    return contact


def contact_attributes_set(
    contact: Contact, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Set some custom attributes (a value of None removes the key) and keep
    the others. Returns the new object. Raises `ContactInvalid`."""
    merged = dict(contact.custom_attributes)
    for key, value in attributes_validated(changes).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    merged = attributes_validated(merged)
    changed = merged != contact.custom_attributes
    contact.custom_attributes = merged
    with transaction.atomic():
        contact.save(update_fields=["custom_attributes", "updated_at"])
        webhook_events.contact_updated(
            contact, ["custom_attributes"] if changed else []
        )
    return contact.custom_attributes


def contact_details_add(
    contact: Contact,
    *,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    source: str,
) -> None:
    """Add e-mail addresses and phone numbers the contact does not have yet
    (what an identity, an import or the website tells): values that do not
    parse are skipped, nothing is removed. Refreshes the search text."""
    emails_clean = []
    for raw in emails:
        try:
            emails_clean.append(email_normalized(raw))
        except ContactInvalid:
            continue
    phones_clean = [
        number
        for number in (
            phone_e164(raw, contact.business.default_country) for raw in phones
        )
        if number
    ]
    if not emails_clean and not phones_clean:
        return
    changed = []
    if emails_clean and set(emails_clean) - set(
        contact.emails.filter(address__in=emails_clean).values_list(
            "address", flat=True
        )
    ):
        changed.append("emails")
    if phones_clean and set(phones_clean) - set(
        contact.phones.filter(number__in=phones_clean).values_list("number", flat=True)
    ):
        changed.append("phones")
    with transaction.atomic():
        _details_add(contact, emails_clean, phones_clean, source=source)
        search_text_refresh([contact.pk])
        webhook_events.contact_updated(contact, changed)


def contact_delete(contact: Contact) -> None:
    """Delete the contact with its identities and conversations (for a
    customer's request to be forgotten while keeping the counts, see
    `contacts.services.rights.contact_erase`)."""
    contact.delete()


def _emails_clean(emails: Sequence[str]) -> list[str]:
    if isinstance(emails, str):
        raise ContactInvalid("emails", "A list of e-mail addresses.")
    if len(emails) > MAX_EMAILS:
        raise ContactInvalid("emails", f"At most {MAX_EMAILS} addresses.")
    return list(dict.fromkeys(email_normalized(raw) for raw in emails))


def _phones_clean(phones: Sequence[str], business: Business) -> list[str]:
    if isinstance(phones, str):
        raise ContactInvalid("phones", "A list of phone numbers.")
    if len(phones) > MAX_PHONES:
        raise ContactInvalid("phones", f"At most {MAX_PHONES} numbers.")
    return list(dict.fromkeys(phone_normalized(raw, business) for raw in phones))


def _details_add(
    contact: Contact,
    emails: Iterable[str],
    phones: Iterable[str],
    *,
    source: str,
) -> None:
    ContactEmail.objects.bulk_create(
        [
            ContactEmail(
                contact=contact,
                business_id=contact.business_id,
                address=address,
                source=source,
            )
            for address in emails
        ],
        ignore_conflicts=True,
    )
    ContactPhone.objects.bulk_create(
        [
            ContactPhone(
                contact=contact,
                business_id=contact.business_id,
                number=number,
                source=source,
            )
            for number in phones
        ],
        ignore_conflicts=True,
    )

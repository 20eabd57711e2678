"""The text contact search matches: `Contact.search_text`.

One lower-cased line per contact holding its name, company, e-mail addresses,
phone numbers (E.164 and the bare digits, so `351912` finds `+351912345678`)
and its identities' handles and ids. PostgreSQL indexes it with a trigram
index (`pg_trgm`), so a name prefix, part of an address or of a handle is
found by index; SQLite scans it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from conversations.models import Contact, ContactIdentity


def search_text_for(
    *,
    name: str,
    company: str = "",
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    identities: Iterable[tuple[str, str]] = (),
) -> str:
    """The search text of a contact with these details; `identities` are
    `(handle, external_id)` pairs."""
    parts: list[str] = [name, company, *emails]
    for number in phones:
        parts += [number, number.lstrip("+")]
    for handle, external_id in identities:
        parts += [handle, f"@{handle}" if handle else "", external_id]
    seen: dict[str, None] = {}
    for part in parts:
        part = " ".join(part.split()).lower()
        if part:
            seen.setdefault(part, None)
    return " ".join(seen)


def search_text_refresh(contact_ids: Iterable[int]) -> int:
    """Recompute `search_text` of the given contacts from what is stored
    (five queries whatever their number, then one update per contact whose
    text changed). Returns how many changed. Erased contacts keep an empty
    text."""
    from contacts.models import ContactEmail, ContactPhone

    ids = set(contact_ids)
    if not ids:
        return 0
    emails: dict[int, list[str]] = defaultdict(list)
    for contact_id, address in ContactEmail.objects.filter(
        contact_id__in=ids
    ).values_list("contact_id", "address"):
        emails[contact_id].append(address)
    phones: dict[int, list[str]] = defaultdict(list)
    for contact_id, number in ContactPhone.objects.filter(
        contact_id__in=ids
    ).values_list("contact_id", "number"):
        phones[contact_id].append(number)
    identities: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for contact_id, handle, external_id in ContactIdentity.objects.filter(
        contact_id__in=ids
    ).values_list("contact_id", "handle", "external_id"):
        identities[contact_id].append((handle, external_id))
    changed = []
    for contact in Contact.objects.filter(pk__in=ids).only(
        "pk", "name", "company", "search_text", "erased_at"
    ):
        text = (
            ""
            if contact.erased_at
            else search_text_for(
                name=contact.name,
                company=contact.company,
                emails=emails[contact.pk],
                phones=phones[contact.pk],
                identities=identities[contact.pk],
            )
        )
        if text != contact.search_text:
            contact.search_text = text
            changed.append(contact)
    if changed:
        Contact.objects.bulk_update(changed, ["search_text"], batch_size=500)
    return len(changed)

"""Search: conversations by their messages, contacts by their details.

Tenant-scoped at the query: every function takes the business and never
reads another's rows.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from billing.models import Business
from contacts.phones import phone_e164
from conversations.models import Contact


def contacts_matching(business: Business, q: str) -> QuerySet[Contact]:
    """The business's contacts whose name, company, e-mail address, phone
    number or handle contains `q` (ignoring case; a phone number typed in
    any format matches its E.164 form). Unordered; empty `q` matches all.
    On PostgreSQL the trigram index on `search_text` serves the match."""
    contacts = Contact.objects.filter(business=business, erased_at__isnull=True)
    words = q.strip().lower().split()
    if not words:
        return contacts
    condition = Q()
    for word in words:
        condition &= Q(search_text__contains=word)
    number = phone_e164(q, business.default_country)
    if number:
        condition |= Q(search_text__contains=number)
    return contacts.filter(condition)

"""Reading contacts: the list (search, label filter), one contact with its
details, its conversations on every channel, everything held about it (the
data-rights export) and the rows of the CSV export.

Every function is scoped to a business: another business's contact is not
found (`Contact.DoesNotExist`), exactly like an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import (
    CharField,
    Count,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Lower

from billing.models import Business
from contacts.models import ContactEmail, ContactLabel, ContactPhone
from conversations.models import Contact, ContactIdentity, Conversation, Message
from conversations.search import contacts_matching
from conversations.selectors import with_label_rows
from satisfaction.selectors import ratings_export
from workspace.models import Label

# How many contacts the CSV export reads per query.
EXPORT_BATCH = 500


def _conversations_count() -> Coalesce:
    """How many conversations the outer contact has (0 for none)."""
    count = (
        Conversation.objects.filter(contact=OuterRef("pk"))
        .order_by()
        .values("contact")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(count), 0)


def _with_details(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """`contacts` with their e-mails, phones, labels and identities (with
    their channels) prefetched, and `conversations_count` annotated: four
    queries after the contacts' own, whatever their number."""
    return contacts.annotate(
        conversations_count=_conversations_count()
    ).prefetch_related(
        Prefetch("emails", queryset=ContactEmail.objects.order_by("id")),
        Prefetch("phones", queryset=ContactPhone.objects.order_by("id")),
        Prefetch(
            "label_links",
            queryset=ContactLabel.objects.select_related("label").order_by(
                Lower("label__name"), "label_id"
            ),
        ),
        Prefetch(
            "identities",
            # By contact first: ordered by id alone, PostgreSQL walked the
            # identities' primary key filtering for the page's contacts.
            queryset=ContactIdentity.objects.select_related("channel").order_by(
                "contact_id", "id"
            ),
        ),
    )


def label_for_filter(business: Business, value: str) -> Label | None:
    """The business's label named `value` (ignoring case) or with id `value`;
    None when there is none."""
    value = (value or "").strip()
    if not value:
        return None
    labels = Label.objects.filter(business=business)
    if value.isdigit():
        label = labels.filter(pk=int(value)).first()
        if label is not None:
            return label
    return labels.filter(name__iexact=value).first()


def contact_page_details(contacts: list[Contact]) -> None:
    """Attach to each of `contacts` (a page of the contacts list) what its
    row shows, read in one UNION query whatever the page's size:
    `email_list` and `phone_list` (values, oldest first), `label_rows`
    (`[{id, name, color}]`, by name), `identity_list` (`[{channel_type,
    handle}]`), and the `fallback_handle`/`fallback_phone`/`fallback_email`
    that `contacts.naming` names a nameless contact by."""
    ids = [contact.pk for contact in contacts]
    empty = Value("")
    rows = (
        ContactEmail.objects.filter(contact_id__in=ids)
        .order_by()
        .annotate(kind=Value("email"), extra=empty, third=empty)
        .values_list("kind", "contact_id", "id", "address", "extra", "third")
        .union(
            ContactPhone.objects.filter(contact_id__in=ids)
            .order_by()
            .annotate(kind=Value("phone"), extra=empty, third=empty)
            .values_list("kind", "contact_id", "id", "number", "extra", "third"),
            ContactLabel.objects.filter(contact_id__in=ids)
            .order_by()
            .annotate(kind=Value("label"), label_key=Cast("label_id", CharField()))
            .values_list(
                "kind", "contact_id", "id", "label__name", "label__color", "label_key"
            ),
            ContactIdentity.objects.filter(contact_id__in=ids)
            .order_by()
            .annotate(kind=Value("identity"), third=empty)
            .values_list(
                "kind", "contact_id", "id", "channel__type", "handle", "third"
            ),
            all=True,
        )
    )
    found: dict[int, dict[str, list]] = {
        pk: {"email": [], "phone": [], "label": [], "identity": []} for pk in ids
    }
    for kind, contact_id, _row_id, value, extra, third in sorted(
        rows, key=lambda row: row[2]
    ):
        found[contact_id][kind].append((value, extra, third))
    for contact in contacts:
        mine = found[contact.pk]
        contact.email_list = [value for value, _, _ in mine["email"]]
        contact.phone_list = [value for value, _, _ in mine["phone"]]
        contact.label_rows = sorted(
            (
                {"id": int(key), "name": name, "color": color}
                for name, color, key in mine["label"]
            ),
            key=lambda row: row["name"].lower(),
        )
        contact.identity_list = [
            {"channel_type": channel_type, "handle": handle}
            for channel_type, handle, _ in mine["identity"]
        ]
        contact.fallback_handle = next(
            (row["handle"] for row in contact.identity_list if row["handle"]), None
        )
        contact.fallback_phone = next(iter(contact.phone_list), None)
        contact.fallback_email = next(iter(contact.email_list), None)


def contact_list_rows(
    business: Business, *, q: str = "", label: Label | None = None
) -> QuerySet[Contact]:
    """`contact_list` without its prefetches, for the contacts page, which
    reads a page's details in one query (`contact_page_details`)."""
    contacts = contacts_matching(business, q)
    if label is not None:
        contacts = contacts.filter(
            pk__in=ContactLabel.objects.filter(label=label).values("contact_id")
        )
    return contacts.annotate(conversations_count=_conversations_count()).order_by("-id")


def contact_list(
    business: Business, *, q: str = "", label: Label | None = None
) -> QuerySet[Contact]:
    """The business's contacts (erased ones left out), newest first (by
    `created_at`, then id), with their details prefetched (see
    `_with_details`). `q` keeps the contacts whose name, company, e-mail
    address, phone number or handle contains it (`contacts_matching`);
    `label` keeps those carrying that label."""
    contacts = contacts_matching(business, q)
    if label is not None:
        contacts = contacts.filter(
            pk__in=ContactLabel.objects.filter(label=label).values("contact_id")
        )
    return _with_details(contacts).order_by("-id")


def contact_get(business: Business, contact_id: int) -> Contact:
    """The business's contact `contact_id` with its details (erased ones
    included, so their page says so). Raises `Contact.DoesNotExist`."""
    return _with_details(Contact.objects.filter(business=business)).get(pk=contact_id)


def contact_conversations(contact: Contact) -> QuerySet[Conversation]:
    """The contact's conversations on every channel, newest activity first,
    with channel, assignee, team and their labels (`label_rows`, as the
    inbox list has them): one query whatever their number."""
    return with_label_rows(
        Conversation.objects.filter(contact=contact)
        .select_related("channel", "assignee", "team", "contact", "contact_identity")
        .order_by("-last_message_at", "-id")
    )


def contact_label_rows(contact: Contact) -> list[dict[str, Any]]:
    """`[{id, name, color}]` of the contact's labels, by name (no query when
    the contact comes from `contact_list` or `contact_get`)."""
    return [
        {"id": link.label.pk, "name": link.label.name, "color": link.label.color}
        for link in contact.label_links.all()
    ]


def _attachment_descriptor(attachment: dict[str, Any]) -> dict[str, Any]:
    """An attachment as the data export shows it: what it is, never where
    PingBack keeps it."""
    return {
        key: value
        for key, value in attachment.items()
        if key
        in {
            "kind",
            "type",
            "filename",
            "content_type",
            "size",
            "caption",
            "url",
            "latitude",
            "longitude",
            "name",
            "address",
            "phone_number",
        }
    }


def _time(value) -> str | None:
    return value.isoformat() if value else None


def contact_data(contact: Contact) -> dict[str, Any]:
    """Everything PingBack holds about `contact`, for a customer's request
    to see their data: `contact` (details, custom attributes, the agents'
    note), `emails` and `phones` (with where each came from), `labels`,
    `identities` (channel, handle, platform id) and `conversations`, each
    with all its messages (private notes and activity entries included,
    attachments as descriptors: kind, file name, type, size), and `ratings`:
    the customer's satisfaction ratings of those conversations
    (`satisfaction.selectors.ratings_export`: conversation, score, comment,
    when). Times are ISO 8601."""
    contact = contact_get(contact.business, contact.pk)
    conversations = list(
        Conversation.objects.filter(contact=contact)
        .select_related("channel", "assignee")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.select_related("author").order_by("id"),
            ),
            "labels",
        )
        .order_by("created_at", "id")
    )
    return {
        "contact": {
            "id": contact.pk,
            "name": contact.name,
            "company": contact.company,
            "avatar_url": contact.avatar_url,
            "note": contact.note,
            "custom_attributes": contact.custom_attributes,
            "created_at": _time(contact.created_at),
            "updated_at": _time(contact.updated_at),
            "erased_at": _time(contact.erased_at),
        },
        "emails": [
            {"address": e.address, "source": e.source, "added_at": _time(e.created_at)}
            for e in contact.emails.all()
        ],
        "phones": [
            {"number": p.number, "source": p.source, "added_at": _time(p.created_at)}
            for p in contact.phones.all()
        ],
        "labels": [row["name"] for row in contact_label_rows(contact)],
        "identities": [
            {
                "channel_id": str(identity.channel_id),
                "channel_type": identity.channel.type,
                "handle": identity.handle,
                "external_id": identity.external_id,
                "created_at": _time(identity.created_at),
            }
            for identity in contact.identities.all()
        ],
        "conversations": [
            {
                "id": conversation.pk,
                "channel_type": conversation.channel_type,
                "subject": conversation.subject,
                "status": conversation.status,
                "labels": sorted(label.name for label in conversation.labels.all()),
                "created_at": _time(conversation.created_at),
                "last_message_at": _time(conversation.last_message_at),
                "messages": [
                    {
                        "id": message.pk,
                        "direction": message.direction,
                        "kind": message.kind,
                        "author": (
                            message.author.get_full_name()
                            or message.author.get_username()
                        )
                        if message.author
                        else None,
                        "text": message.text,
                        "html": message.html,
                        "attachments": [
                            _attachment_descriptor(a)
                            for a in message.attachments or ()
                            if isinstance(a, dict)
                        ],
                        "status": message.status,
                        "sent_at": _time(message.sent_at),
                    }
                    for message in conversation.messages.all()
                ],
            }
            for conversation in conversations
        ],
        "ratings": ratings_export([c.pk for c in conversations]),
    }


def contacts_for_export(business: Business) -> Iterator[Contact]:
    """All of the business's contacts (erased ones left out), oldest first,
    with their details, read `EXPORT_BATCH` at a time (five queries per
    batch) so a large business is never held in memory at once."""
    last_id = 0
    while True:
        batch = list(
            _with_details(
                Contact.objects.filter(
                    business=business, erased_at__isnull=True, pk__gt=last_id
                )
            ).order_by("id")[:EXPORT_BATCH]
        )
        if not batch:
            return
        yield from batch
        last_id = batch[-1].pk

"""Reading contacts: the list (search, label filter), one contact with its
details, its conversations on every channel, everything held about it (the
data-rights export) and the rows of the CSV export.

Every function is scoped to a business: another business's contact is not
found (`Contact.DoesNotExist`), exactly like an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce, Lower

from billing.models import Business
from contacts.models import ContactEmail, ContactLabel, ContactPhone
from conversations.models import Contact, ContactIdentity, Conversation, Message
from conversations.search import contacts_matching
from conversations.selectors import with_label_rows
from workspace.models import Label

# How many contacts the CSV export reads per query.
EXPORT_BATCH = 500


def _with_details(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """`contacts` with their e-mails, phones, labels and identities (with
    their channels) prefetched, and `conversations_count` annotated: four
    queries after the contacts' own, whatever their number."""
    conversations_count = (
        Conversation.objects.filter(contact=OuterRef("pk"))
        .order_by()
        .values("contact")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return contacts.annotate(
        conversations_count=Coalesce(Subquery(conversations_count), 0)
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
    attachments as descriptors: kind, file name, type, size). Times are
    ISO 8601."""
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

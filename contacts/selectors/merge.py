"""Reads for merging contacts and for the inbox's customer panel.

- `merge_suggestions(contact)`: other contacts of the business that share an
  e-mail address or a phone number with `contact` (never merged by
  themselves: an agent decides).
- `contact_merge_preview(kept, other)`: what `contacts.services.merge.
  contact_merge` would move from `other` into `kept`.
- `contact_panel(conversation)`: what the customer panel shows.
Contacts are named by `contacts.naming.contact_display_name`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast

from channels_app.models import Channel
from contacts.models import ContactEmail, ContactLabel, ContactPhone, MergeDismissal
from contacts.naming import contact_display_name
from contacts.phones import phone_display
from conversations.models import Contact, ContactIdentity, Conversation

PANEL_CONVERSATIONS = 10


# ------------------------------------------------------------------ names


def contacts_with_fallbacks(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """`contacts` annotated with `fallback_handle`, `fallback_phone` and
    `fallback_email` (the first identity handle, phone number and e-mail
    address, or None), so `contacts.naming.contact_display_name` needs no
    more queries."""
    return contacts.annotate(
        fallback_handle=Subquery(
            ContactIdentity.objects.filter(contact_id=OuterRef("pk"))
            .exclude(handle="")
            .order_by("id")
            .values("handle")[:1]
        ),
        fallback_phone=Subquery(
            ContactPhone.objects.filter(contact_id=OuterRef("pk"))
            .order_by("id")
            .values("number")[:1]
        ),
        fallback_email=Subquery(
            ContactEmail.objects.filter(contact_id=OuterRef("pk"))
            .order_by("id")
            .values("address")[:1]
        ),
    )


# ------------------------------------------------------------ suggestions


@dataclass
class MergeSuggestion:
    """Another contact that looks like the same person: `other` (with the
    fallbacks of `contacts_with_fallbacks`), `name` (its display name),
    `reason` ("same e-mail ana@example.com", "same phone +351 912 345 678")."""

    other: Contact
    name: str
    reason: str


def _dismissed(contact_id: int) -> Exists:
    """Whether the pair (contact_id, the outer contact) was dismissed
    (stored with the smaller id first)."""
    return Exists(
        MergeDismissal.objects.filter(
            Q(contact_id=contact_id, other_id=OuterRef("pk"))
            | Q(contact_id=OuterRef("pk"), other_id=contact_id)
        )
    )


# The columns every row of the panel's UNION carries (see `contact_panel`):
# kind, value, extra, id, channel type, opted out at, opted out reason.
_EMPTY = Value("")
_NEVER = Cast(Value(None), DateTimeField())  # typed: PostgreSQL's UNION
_BLANKS = {"channel_type": _EMPTY, "opted_at": _NEVER, "opted_reason": _EMPTY}


def _shared_details(
    contact: Contact, *, emails: bool = True, phones: bool = True
) -> list[QuerySet]:
    """Querysets of the other contacts' e-mail addresses (`kind`
    "shared_email") and phone numbers ("shared_phone") that `contact` has
    too, found through the `(business, address)` / `(business, number)`
    indexes. Each row is shaped as the panel's UNION rows: (kind, value, "",
    the other contact's id, and three blanks). `emails=False` or
    `phones=False` leaves that side out."""
    arms = []
    for wanted, model, column, kind in (
        (emails, ContactEmail, "address", "shared_email"),
        (phones, ContactPhone, "number", "shared_phone"),
    ):
        if not wanted:
            continue
        own = model.objects.filter(contact_id=contact.pk).order_by().values(column)
        arms.append(
            model.objects.filter(
                business_id=contact.business_id, **{f"{column}__in": own}
            )
            .exclude(contact_id=contact.pk)
            .order_by()
            .annotate(kind=Value(kind), extra=_EMPTY, **_BLANKS)
            .values_list("kind", column, "extra", "contact_id", *_BLANKS)
        )
    return arms


def merge_suggestions(
    contact: Contact,
    limit: int = 3,
    *,
    emails: bool = True,
    phones: bool = True,
    shared: list[tuple[str, str, int]] | None = None,
) -> list[MergeSuggestion]:
    """Up to `limit` other contacts of `contact`'s business (not erased, not
    dismissed as "not the same person") sharing an e-mail address or a phone
    number with it, e-mail matches first (then oldest first), each once with
    the first shared detail as its reason; none when the contact is erased.

    Two steps: the shared details (one query through the `(business,
    address)` / `(business, number)` indexes, or `shared`, `(kind, value,
    other contact id)` rows the caller already read, as `contact_panel` does
    in its own query), then, only when some other contact shares one, the
    matching contacts with their name fallbacks (one query). `emails=False`
    or `phones=False` (the caller knows the contact has none) leaves that
    side out."""
    if contact.erased_at is not None or contact.pk is None:
        return []
    if shared is None:
        arms = _shared_details(contact, emails=emails, phones=phones)
        if not arms:
            return []
        shared = [
            (kind, value, other_id)
            for kind, value, _extra, other_id, *_blanks in arms[0].union(
                *arms[1:], all=True
            )
        ]
    # The first shared detail per contact, e-mail addresses before numbers.
    reasons: dict[int, str] = {}
    for kind, value, other_id in sorted(
        shared, key=lambda row: (row[0] != "shared_email", row[1])
    ):
        reasons.setdefault(
            other_id,
            f"same e-mail {value}"
            if kind == "shared_email"
            else f"same phone {phone_display(value)}",
        )
    if not reasons:
        return []
    by_email = [pk for pk, reason in reasons.items() if reason.startswith("same e-")]
    others = contacts_with_fallbacks(
        Contact.objects.filter(
            business_id=contact.business_id,
            erased_at__isnull=True,
            pk__in=list(reasons),
        ).filter(~_dismissed(contact.pk))
    ).order_by(
        Case(When(pk__in=by_email, then=Value(0)), default=Value(1)),
        "pk",
    )[:limit]
    return [
        MergeSuggestion(
            other=other,
            name=str(contact_display_name(other)),
            reason=reasons[other.pk],
        )
        for other in others
    ]


# ---------------------------------------------------------------- preview


@dataclass
class MergePreview:
    """What merging `other` into `kept` moves (see `contact_merge`).

    `identities`: `{channel type: count}`; `conversations`, `emails`,
    `phones`, `labels`: how many move (details `kept` already has are not
    counted: they are dropped as duplicates); `attributes`: keys `kept` gets;
    `conflicts`: `[{"key", "kept", "other"}]` where both have a different
    value (`kept`'s stays; `other`'s goes into the note); `note`: whether
    `other` has a note to append."""

    kept_name: str
    other_name: str
    identities: dict[str, int] = field(default_factory=dict)
    conversations: int = 0
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    note: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The preview as the API writes it."""
        return {
            "kept_name": self.kept_name,
            "other_name": self.other_name,
            "identities": self.identities,
            "conversations": self.conversations,
            "emails": self.emails,
            "phones": self.phones,
            "labels": self.labels,
            "attributes": self.attributes,
            "conflicts": self.conflicts,
            "note": self.note,
        }


def attribute_split(
    kept: dict[str, Any], other: dict[str, Any]
) -> tuple[list[str], list[dict[str, Any]]]:
    """(keys of `other` that `kept` lacks, conflicts `[{"key", "kept",
    "other"}]` where both hold different values)."""
    added = [key for key in other if key not in kept]
    conflicts = [
        {"key": key, "kept": kept[key], "other": value}
        for key, value in other.items()
        if key in kept and kept[key] != value
    ]
    return added, conflicts


def contact_merge_preview(kept: Contact, other: Contact) -> MergePreview:
    """What merging `other` into `kept` would move, without changing
    anything (seven queries). Both must be of the same business: the caller
    checks."""
    kept_emails = set(
        ContactEmail.objects.filter(contact_id=kept.pk).values_list(
            "address", flat=True
        )
    )
    kept_phones = set(
        ContactPhone.objects.filter(contact_id=kept.pk).values_list("number", flat=True)
    )
    identities = Counter(
        ContactIdentity.objects.filter(contact_id=other.pk).values_list(
            "channel__type", flat=True
        )
    )
    added, conflicts = attribute_split(
        kept.custom_attributes or {}, other.custom_attributes or {}
    )
    return MergePreview(
        kept_name=str(contact_display_name(kept)),
        other_name=str(contact_display_name(other)),
        identities=dict(sorted(identities.items())),
        conversations=Conversation.objects.filter(contact_id=other.pk).count(),
        emails=[
            address
            for address in ContactEmail.objects.filter(contact_id=other.pk)
            .order_by("id")
            .values_list("address", flat=True)
            if address not in kept_emails
        ],
        phones=[
            phone_display(number)
            for number in ContactPhone.objects.filter(contact_id=other.pk)
            .order_by("id")
            .values_list("number", flat=True)
            if number not in kept_phones
        ],
        labels=list(
            ContactLabel.objects.filter(contact_id=other.pk)
            .exclude(
                label_id__in=ContactLabel.objects.filter(contact_id=kept.pk).values(
                    "label_id"
                )
            )
            .order_by("label__name")
            .values_list("label__name", flat=True)
        ),
        attributes=added,
        conflicts=conflicts,
        note=bool((other.note or "").strip()),
    )


# ------------------------------------------------------------------ panel


@dataclass
class PanelDetail:
    """An e-mail address or phone number of the panel: `value` (as stored),
    `shown` (as people read it), `identities` (the contact's identities on
    this address or number, shown as channel icons beside it, not again in
    the identity list)."""

    value: str
    shown: str
    identities: list[ContactIdentity] = field(default_factory=list)


@dataclass
class ContactPanel:
    """What the customer panel shows of a conversation's contact.

    `contact` (with fallbacks), `name` (display name), `emails` and `phones`
    (`PanelDetail`s, each once), `identities` (the others, with `channel`:
    handles and ids that are not one of those addresses or numbers),
    `labels` (workspace labels), `attributes` (`(key, value, text)` by key,
    `text` as typed: `true`, `12`), `other_conversations` (newest activity
    first, at most `PANEL_CONVERSATIONS`), `conversation_count` (all of the
    contact's), `suggestions` (`merge_suggestions`)."""

    contact: Contact
    name: str
    emails: list[PanelDetail]
    phones: list[PanelDetail]
    identities: list[ContactIdentity]
    labels: list[Any]
    attributes: list[tuple[str, Any, str]]
    other_conversations: list[Conversation]
    conversation_count: int
    suggestions: list[MergeSuggestion]


def attribute_text(value: Any) -> str:
    """An attribute value as an agent types it (`true`, `12`, `gold`)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


@dataclass
class PanelLabel:
    """A label on the contact, as the panel shows it."""

    id: int
    name: str
    color: str


def contact_panel(conversation: Conversation) -> ContactPanel:
    """The customer panel of `conversation` (its contact as loaded with the
    conversation, its details, other conversations on every channel and
    merge suggestions). Two queries (details, labels, identities and the
    other contacts sharing an address or a number in one; other
    conversations with their count), and the second of `merge_suggestions`
    only when another contact shares an address or a number; whatever the
    number of conversations or details. The identities carry
    only what the panel shows (id, handle, channel type, opt-out)."""
    from contacts.phones import phone_e164
    from conversations.workspace import contact_other_conversations

    contact = conversation.contact
    pk = contact.pk
    blanks = _BLANKS
    details = [
        ContactPhone.objects.filter(contact_id=pk)
        .order_by()
        .annotate(kind=Value("phone"), extra=_EMPTY, **blanks)
        .values_list("kind", "number", "extra", "id", *blanks),
        ContactLabel.objects.filter(contact_id=pk)
        .order_by()
        .annotate(kind=Value("label"), **blanks)
        .values_list("kind", "label__name", "label__color", "label_id", *blanks),
        ContactIdentity.objects.filter(contact_id=pk)
        .order_by()
        .annotate(kind=Value("identity"))
        .values_list(
            "kind",
            "external_id",
            "handle",
            "id",
            "channel__type",
            "opted_out_at",
            "opted_out_reason",
        ),
    ]
    if contact.erased_at is None:
        # The other contacts sharing an address or a number, for the merge
        # suggestions: read here rather than in a query of their own.
        details += _shared_details(contact)
    # One UNION: kind, value, extra, id, channel type, opted out at, reason.
    rows = (
        ContactEmail.objects.filter(contact_id=pk)
        .order_by()
        .annotate(kind=Value("email"), extra=_EMPTY, **blanks)
        .values_list("kind", "address", "extra", "id", *blanks)
        .union(*details, all=True)
    )
    emails: dict[str, PanelDetail] = {}
    phones: dict[str, PanelDetail] = {}
    labels: list[PanelLabel] = []
    found_identities: list[ContactIdentity] = []
    shared: list[tuple[str, str, int]] = []
    for row in sorted(rows, key=lambda r: r[3]):
        kind, value, extra, row_id, channel_type, opted_at, opted_reason = row
        if kind.startswith("shared_"):
            shared.append((kind, value, row_id))
        elif kind == "email":
            emails[value] = PanelDetail(value, value)
        elif kind == "phone":
            phones[value] = PanelDetail(value, phone_display(value))
        elif kind == "label":
            labels.append(PanelLabel(row_id, value, extra))
        else:
            # Only what the panel shows of an identity: its id, handle,
            # channel type (for the icon) and opt-out.
            found_identities.append(
                ContactIdentity(
                    pk=row_id,
                    contact=contact,
                    external_id=value,
                    handle=extra,
                    channel=Channel(type=channel_type),
                    opted_out_at=opted_at,
                    opted_out_reason=opted_reason,
                )
            )
    labels.sort(key=lambda label: label.name.lower())
    identities = []
    first_handle = ""
    for identity in found_identities:
        first_handle = first_handle or identity.handle
        external = identity.external_id.strip()
        detail = None
        if not identity.handle or identity.handle == external:
            detail = emails.get(external.lower())
            if detail is None and "@" not in external:
                detail = phones.get(phone_e164(external) or "")
        if detail is not None:
            detail.identities.append(identity)
        else:
            identities.append(identity)
    others = contact_other_conversations(conversation, limit=PANEL_CONVERSATIONS)
    count = (others[0].others_total if others else 0) + 1
    return ContactPanel(
        contact=contact,
        name=str(
            contact_display_name(
                contact,
                handle=first_handle,
                phone=next(iter(phones), None),
                email=next(iter(emails), None),
            )
        ),
        emails=list(emails.values()),
        phones=list(phones.values()),
        identities=identities,
        labels=labels,
        attributes=[
            (key, value, attribute_text(value))
            for key, value in sorted((contact.custom_attributes or {}).items())
        ],
        other_conversations=others,
        conversation_count=count,
        suggestions=merge_suggestions(contact, shared=shared) if shared else [],
    )

"""Merging two contacts that are the same person, and saying two contacts
are not (`merge_dismiss`). PingBack never merges by itself: an agent does,
from a suggestion (`contacts.selectors.merge.merge_suggestions`) or by hand.

`contact_merge(kept=, other=, by=)` moves everything of `other` into `kept`
in one transaction, then deletes `other`: nothing is lost (a value `kept`
already holds differently is written into `kept`'s note).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q

from contacts.models import ContactEmail, ContactLabel, ContactPhone, MergeDismissal
from contacts.naming import contact_display_name
from contacts.search_text import search_text_refresh
from contacts.selectors.merge import (
    attribute_split,
    attribute_text,
    contacts_with_fallbacks,
)
from contacts.services.contacts import ATTRIBUTE_MAX_KEYS, ContactInvalid
from conversations import realtime
from conversations.models import Contact, ContactIdentity, Conversation, Message
from conversations.services.conversations import activity_entry
from pingback.errors import ApplicationError
from webhooks.services import events as webhook_events


class ContactNotFound(ApplicationError):
    """The contact (or the other contact) is not one of the business's: HTTP
    404, exactly like an id that does not exist."""

    status_code = 404
    code = "not_found"


class MergeInvalid(ContactInvalid):
    """The merge cannot be made (the same contact twice, an erased contact):
    HTTP 400 naming `other_id`."""


@dataclass
class MergeResult:
    """What `contact_merge` moved into `kept` (the counts of
    `MergePreview`): `identities` `{channel type: count}`, `conversations`,
    `messages` (whose sender was `other`), `emails`, `phones`, `labels`,
    `attributes` (keys added), `conflicts` (`[{"key", "kept", "other"}]`,
    written into the note), `activity` (entries written)."""

    kept: Contact
    other_id: int
    other_name: str
    identities: dict[str, int] = field(default_factory=dict)
    conversations: int = 0
    messages: int = 0
    emails: int = 0
    phones: int = 0
    labels: int = 0
    attributes: list[str] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    activity: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The result as the API writes it (`id` is the kept contact's)."""
        return {
            "id": self.kept.pk,
            "merged_id": self.other_id,
            "merged_name": self.other_name,
            "moved": {
                "identities": self.identities,
                "conversations": self.conversations,
                "messages": self.messages,
                "emails": self.emails,
                "phones": self.phones,
                "labels": self.labels,
                "attributes": self.attributes,
                "conflicts": self.conflicts,
            },
            "activity": self.activity,
        }


def _agent_name(by: AbstractBaseUser | None) -> str:
    if by is None:
        return "PingBack"
    return by.get_full_name() or by.get_username()


def _merge_checked(kept: Contact, other: Contact) -> None:
    if kept.business_id != other.business_id:
        raise ContactNotFound("No such contact.")
    if kept.pk == other.pk:
        raise MergeInvalid("other_id", "A contact cannot be merged into itself.")
    if kept.erased_at is not None or other.erased_at is not None:
        raise MergeInvalid("other_id", "An erased contact cannot be merged.")


def contact_merge(
    *, kept: Contact, other: Contact, by: AbstractBaseUser | None
) -> MergeResult:
    """Merge `other` into `kept` and delete `other`, in one transaction
    (both rows locked, in id order).

    Moves identities, conversations, the messages `other` sent, e-mail
    addresses and phone numbers (those `kept` has are dropped), labels
    (union) and custom attributes (`kept`'s value wins; each different value
    of `other` is appended to `kept`'s note as `Merged from <name> (#id):
    key: value`, as is every attribute beyond the 50 allowed); appends
    `other`'s note to `kept`'s; fills `kept`'s empty name, company and avatar
    from `other`'s (a different company or avatar goes into the note). "Not
    the same person" dismissals of `other` become `kept`'s. Writes an
    activity entry ("<agent> merged <other> into <kept>") on each of
    `kept`'s conversations, refreshes the search text and tells the agents'
    open pages (a realtime `message` and `conversation` event per
    conversation).

    Raises `ContactNotFound` (404) when the two are of different businesses
    or one no longer exists, `MergeInvalid` (400, field `other_id`) for the
    same contact twice or an erased contact. On any error nothing changes.
    Returns a `MergeResult`; `kept` is reloaded."""
    _merge_checked(kept, other)
    with transaction.atomic():
        locked = {
            row.pk: row
            for row in contacts_with_fallbacks(
                Contact.objects.select_for_update(of=("self",)).filter(
                    pk__in=[kept.pk, other.pk], business_id=kept.business_id
                )
            ).order_by("pk")
        }
        if len(locked) != 2:
            raise ContactNotFound("No such contact.")
        kept_row, other_row = locked[kept.pk], locked[other.pk]
        _merge_checked(kept_row, other_row)
        result = MergeResult(
            kept=kept_row,
            other_id=other_row.pk,
            other_name=str(contact_display_name(other_row)),
        )
        kept_name = str(contact_display_name(kept_row))
        label = f"Merged from {result.other_name} (#{other_row.pk})"

        result.identities = dict(
            sorted(
                Counter(
                    ContactIdentity.objects.filter(contact_id=other_row.pk).values_list(
                        "channel__type", flat=True
                    )
                ).items()
            )
        )
        ContactIdentity.objects.filter(contact_id=other_row.pk).update(
            contact_id=kept_row.pk
        )
        moved_ids = list(
            Conversation.objects.filter(contact_id=other_row.pk).values_list(
                "pk", flat=True
            )
        )
        result.conversations = len(moved_ids)
        Conversation.objects.filter(contact_id=other_row.pk).update(
            contact_id=kept_row.pk
        )
        result.messages = Message.objects.filter(sender_contact_id=other_row.pk).update(
            sender_contact_id=kept_row.pk
        )
        result.emails = _details_move(ContactEmail, "address", kept_row, other_row)
        result.phones = _details_move(ContactPhone, "number", kept_row, other_row)
        result.labels = _details_move(ContactLabel, "label_id", kept_row, other_row)

        kept_attributes = dict(kept_row.custom_attributes or {})
        added, conflicts = attribute_split(
            kept_attributes, other_row.custom_attributes or {}
        )
        note_lines: list[str] = []
        for key in added:
            if len(kept_attributes) < ATTRIBUTE_MAX_KEYS:
                kept_attributes[key] = other_row.custom_attributes[key]
                result.attributes.append(key)
            else:
                value = attribute_text(other_row.custom_attributes[key])
                note_lines.append(f"{label}: {key}: {value}")
        for conflict in conflicts:
            note_lines.append(
                f"{label}: {conflict['key']}: {attribute_text(conflict['other'])}"
            )
        result.conflicts = conflicts
        for name in ("name", "company", "avatar_url"):
            mine, theirs = getattr(kept_row, name), getattr(other_row, name)
            if not mine and theirs:
                setattr(kept_row, name, theirs)
            elif theirs and theirs != mine and name != "name":
                # (The other's name is in the lines' heading and the activity.)
                note_lines.append(f"{label}: {name}: {theirs}")
        other_note = (other_row.note or "").strip()
        if other_note:
            note_lines.append(f"{label}:\n{other_note}")
        note = (kept_row.note or "").rstrip()
        if note_lines:
            note = "\n\n".join([note, *note_lines] if note else note_lines)
        kept_row.note = note
        kept_row.custom_attributes = kept_attributes

        _dismissals_move(kept_row, other_row)
        other_row.delete()
        kept_row.save(
            update_fields=[
                "name",
                "company",
                "avatar_url",
                "note",
                "custom_attributes",
                "updated_at",
            ]
        )
        search_text_refresh([kept_row.pk])
        webhook_events.contact_merged(kept_row, result.other_id)

        merged = {
            "actor": _agent_name(by),
            "other": str(result.other_name),
            "kept": str(kept_name),
        }
        conversations = list(
            Conversation.objects.filter(contact_id=kept_row.pk).only(
                "pk", "business_id", "channel_id"
            )
        )
        activities = Message.objects.bulk_create(
            [
                activity_entry(c, "contacts_merged", merged, by=by)
                for c in conversations
            ],
            batch_size=500,
        )
        result.activity = len(activities)
        realtime.publish_messages_created(activities)

    kept.refresh_from_db()
    result.kept = kept
    return result


def _details_move(model, key: str, kept: Contact, other: Contact) -> int:
    """Move `other`'s rows of `model` (e-mails, phones, labels) to `kept`,
    deleting those `kept` has under the same `key`. Returns how many moved."""
    has = model.objects.filter(contact_id=kept.pk).values(key)
    model.objects.filter(contact_id=other.pk, **{f"{key}__in": has}).delete()
    return model.objects.filter(contact_id=other.pk).update(contact_id=kept.pk)


def _dismissals_move(kept: Contact, other: Contact) -> None:
    """`other`'s "not the same person" pairs become `kept`'s (except with
    `kept` itself), stored with the smaller id first."""
    rows = list(
        MergeDismissal.objects.filter(Q(contact_id=other.pk) | Q(other_id=other.pk))
    )
    moved = []
    for row in rows:
        third = row.other_id if row.contact_id == other.pk else row.contact_id
        if third == kept.pk:
            continue
        low, high = sorted((kept.pk, third))
        moved.append(
            MergeDismissal(
                business_id=row.business_id,
                contact_id=low,
                other_id=high,
                dismissed_by_id=row.dismissed_by_id,
            )
        )
    MergeDismissal.objects.filter(pk__in=[row.pk for row in rows]).delete()
    MergeDismissal.objects.bulk_create(moved, ignore_conflicts=True)


def merge_dismiss(
    contact: Contact, other: Contact, by: AbstractBaseUser | None
) -> MergeDismissal:
    """Record that `contact` and `other` are not the same person: the pair is
    no longer suggested (either way round). Idempotent. Raises
    `ContactNotFound` (404) for contacts of different businesses and
    `MergeInvalid` (400, `other_id`) for the same contact twice."""
    if contact.business_id != other.business_id:
        raise ContactNotFound("No such contact.")
    if contact.pk == other.pk:
        raise MergeInvalid("other_id", "A contact is always the same as itself.")
    low, high = sorted((contact.pk, other.pk))
    row, _ = MergeDismissal.objects.get_or_create(
        contact_id=low,
        other_id=high,
        defaults={"business_id": contact.business_id, "dismissed_by": by},
    )
    return row

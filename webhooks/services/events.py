"""Recording webhook events: the transactional outbox of outgoing webhooks.

The services that change conversations, messages and contacts call the
`*_changed` / `*_created` functions below inside their own transaction. Each
call inserts one `WebhookEvent` row per active endpoint of the business
subscribed to the event's type (one SELECT of the endpoints and one INSERT
for the whole call, however many changes it carries), so the event exists
if and only if the change was committed. After the commit the rows' ids go
to the delivery workers (`webhooks.services.deliveries.events_hand_off`).

Every event has a key naming the change (`message.created:42`,
`conversation.status_changed:7:activity:913`): unique per endpoint
(`ON CONFLICT DO NOTHING`), so a change recorded twice — a receipt the
platform sends again, two code paths noticing one change — gives one event.
Two changes give two keys: keys of changes that can repeat carry the id of
the row the change wrote (the activity entry, the delivery attempt) or the
time of the change.

Payload (the body sent, see docs/webhooks.md):
`{"type": "<type>", "timestamp": "<ISO 8601 UTC>", "sequence": <int>,
"data": {...}}`. `sequence` is counted per subject (a conversation for
conversation and message events, a contact for contact events) in
`WebhookSequence`, incremented in the recording transaction: for one
subject, numbers follow the commit order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Min, Subquery
from django.utils import timezone

from webhooks.models import EventType, WebhookEndpoint, WebhookEvent, WebhookSequence


@dataclass(frozen=True)
class Change:
    """One change to announce: its event `type`, a `key` unique to the change
    (without the type: `events_record` prefixes it) and the payload's `data`."""

    type: str
    key: str
    data: Mapping[str, Any]


def events_record(
    business_id: object,
    changes: Sequence[Change] | Callable[[], Sequence[Change]],
) -> list[int]:
    """Record `changes` (of one business, `business_id`: its id or a
    subquery giving it; `changes`: the list, or a function giving it, called
    only when an endpoint listens) for the business's active endpoints
    subscribed to their types, in the caller's transaction; hand the new
    events to the delivery workers on commit. A change already recorded for
    an endpoint (same type and key) is not recorded again. Each change gets
    the next `sequence` number of its subject (one upsert for the call).
    Returns the ids of the events inserted (empty when no endpoint listens:
    one SELECT, no INSERT)."""
    if not changes:
        return []
    endpoints = list(
        WebhookEndpoint.objects.filter(
            business_id=business_id, is_active=True
        ).values_list("pk", "events")
    )
    if not endpoints:
        return []
    if callable(changes):
        changes = changes()
    if not changes:
        return []
    now = timezone.now()
    listened = {kind for _, events in endpoints for kind in (events or ())}
    changes = [change for change in changes if change.type in listened]
    if not changes:
        return []
    with transaction.atomic():
        sequences = _sequences_take([_scope(change) for change in changes])
        rows = []
        for change, sequence in zip(changes, sequences, strict=True):
            body = _body(change, now, sequence)
            key = f"{change.type}:{change.key}"[:200]
            for endpoint_id, events in endpoints:
                if change.type in (events or ()):
                    rows.append(
                        WebhookEvent(
                            endpoint_id=endpoint_id,
                            webhook_id=WebhookEvent.new_webhook_id(),
                            key=key,
                            type=change.type,
                            body=body,
                            created_at=now,
                            next_attempt_at=now,
                            republish_at=_republish_at(now),
                        )
                    )
        WebhookEvent.objects.bulk_create(rows, ignore_conflicts=True)
        # ignore_conflicts gives no ids: read back the rows this call made.
        ids = list(
            WebhookEvent.objects.filter(webhook_id__in=[row.webhook_id for row in rows])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    if ids:
        from webhooks.services.deliveries import events_hand_off

        transaction.on_commit(lambda: events_hand_off(ids))
    return ids


def endpoint_event_record(endpoint_id: int, change: Change) -> list[int]:
    """Record `change` for the one endpoint `endpoint_id` whatever events it
    subscribed to (an automation rule's "send to a webhook" action names the
    endpoint itself), in the caller's transaction, and hand it to the
    delivery workers on commit. Nothing when the endpoint is disabled, or
    the change (type and key) was recorded for it already. Returns the ids
    of the events inserted."""
    if not WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).exists():
        return []
    now = timezone.now()
    row = WebhookEvent(
        endpoint_id=endpoint_id,
        webhook_id=WebhookEvent.new_webhook_id(),
        key=f"{change.type}:{change.key}"[:200],
        type=change.type,
        body=_body(change, now),
        created_at=now,
        next_attempt_at=now,
        republish_at=_republish_at(now),
    )
    with transaction.atomic():
        WebhookEvent.objects.bulk_create([row], ignore_conflicts=True)
        ids = list(
            WebhookEvent.objects.filter(webhook_id=row.webhook_id).values_list(
                "pk", flat=True
            )
        )
    if ids:
        from webhooks.services.deliveries import events_hand_off

        transaction.on_commit(lambda: events_hand_off(ids))
    return ids


def _republish_at(now: datetime) -> datetime:
    from channels_app.services.outbox import outbox_due_at

    return outbox_due_at(now=now)


def _scope(change: Change) -> str:
    """The subject whose events are numbered together: the conversation for
    conversation and message events, the contact for contact events."""
    kind = change.type.partition(".")[0]
    if kind == "message":
        subject = change.data.get("conversation_id")
        kind = "conversation"
    else:
        subject = change.data.get("id")
    return f"{kind}:{subject}" if subject is not None else ""


def _sequences_take(scopes: Sequence[str]) -> list[int | None]:
    """The next `sequence` number of each scope, in order (several changes
    of one scope get consecutive numbers; an empty scope gets None): one
    upsert for all of them, which keeps each scope's row locked until the
    caller's transaction ends, so numbers follow the commit order."""
    counts: dict[str, int] = {}
    for scope in scopes:
        if scope:
            counts[scope] = counts.get(scope, 0) + 1
    if not counts:
        return [None] * len(scopes)
    table = WebhookSequence._meta.db_table
    ordered = sorted(counts)  # one lock order for every writer: no deadlock
    values = ", ".join(["(%s, %s)"] * len(ordered))
    params: list[object] = []
    for scope in ordered:
        params += [scope, counts[scope]]
    with connection.cursor() as cursor:
        # Only the table's own name and placeholders are formatted in.
        cursor.execute(
            f"INSERT INTO {table} (scope, value) VALUES {values} "  # noqa: S608
            f"ON CONFLICT (scope) DO UPDATE SET value = {table}.value + excluded.value "
            "RETURNING scope, value",
            params,
        )
        last = dict(cursor.fetchall())
    following = {scope: last[scope] - counts[scope] for scope in counts}
    numbers: list[int | None] = []
    for scope in scopes:
        if scope:
            following[scope] += 1
            numbers.append(following[scope])
        else:
            numbers.append(None)
    return numbers


def _body(change: Change, now: datetime, sequence: int | None = None) -> str:
    payload: dict[str, Any] = {
        "type": change.type,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
    }
    if sequence is not None:
        payload["sequence"] = sequence
    payload["data"] = change.data
    return _payload_json(payload)


def _payload_json(payload: dict[str, Any]) -> str:
    """The body sent for `payload`: compact JSON, text as UTF-8."""
    return json.dumps(
        payload,
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
        ensure_ascii=False,
    )


# ------------------------------------------------------------------ payloads


def _when(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def conversation_data(conversation: Any) -> dict[str, Any]:
    """`data` of conversation events: `id`, `status`, `assignee_id` (user id
    or null), `team_id`, `channel_id`, `channel_type`, `contact_id`,
    `subject`, `created_at`."""
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "assignee_id": conversation.assignee_id,
        "team_id": conversation.team_id,
        "channel_id": str(conversation.channel_id) if conversation.channel_id else None,
        "channel_type": conversation.channel_type,
        "contact_id": conversation.contact_id,
        "subject": conversation.subject,
        "created_at": _when(getattr(conversation, "created_at", None)),
    }


def message_data(message: Any) -> dict[str, Any]:
    """`data` of message events: `id`, `conversation_id`, `direction`
    (`inbound`/`outbound`), `kind`, `text`, `status`, `attachments` (count),
    `sender_contact_id`, `author_id`, `created_at`."""
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "kind": message.kind,
        "text": message.text,
        "status": message.status,
        "attachments": len(message.attachments or ()),
        "sender_contact_id": message.sender_contact_id,
        "author_id": message.author_id,
        "created_at": _when(getattr(message, "created_at", None)),
    }


def contact_data(contact: Any) -> dict[str, Any]:
    """`data` of contact events: `id`, `name`, `company`, `created_at`,
    `updated_at`, `erased_at` (null unless its data was erased)."""
    return {
        "id": contact.pk,
        "name": contact.name,
        "company": contact.company,
        "created_at": _when(getattr(contact, "created_at", None)),
        "updated_at": _when(getattr(contact, "updated_at", None)),
        "erased_at": _when(getattr(contact, "erased_at", None)),
    }


# ------------------------------------------------------------------ emitters


def _reopening(key: str, data: dict[str, Any], previous: str) -> list[Change]:
    """The events of a conversation reopened (`data`: as it is now)."""
    return [
        Change(
            EventType.CONVERSATION_STATUS_CHANGED,
            key,
            {**data, "previous_status": previous},
        ),
        Change(EventType.CONVERSATION_UPDATED, key, data),
    ]


def messages_created(messages: Iterable[Any]) -> None:
    """`message.created` for each customer message or reply of `messages`
    (not internal notes nor activity entries), `conversation.created` for
    the conversations an ingest opened for them (their `_ingest_opened`
    mark), `conversation.status_changed` and `conversation.updated` for
    those it reopened (`conversations_mark_reopened`) and `contact.created`
    for the contacts it created for their senders (`contacts_mark_new`).
    One business per call (one channel's batch): one SELECT of its
    endpoints."""
    messages = [m for m in messages if m.kind not in ("note", "activity")]
    if not messages:
        return
    changes = []
    for message in messages:
        contact = message.sender_contact if message.sender_contact_id else None
        if getattr(contact, "_webhook_new", False):
            changes.append(
                Change(
                    EventType.CONTACT_CREATED, str(contact.pk), contact_data(contact)
                )
            )
        conversation = message.conversation
        reopened = getattr(conversation, "_webhook_reopened", None)
        if reopened is not None:
            previous, activity_id = reopened
            marker = f"{conversation.pk}:activity:{activity_id}"
            changes += _reopening(marker, conversation_data(conversation), previous)
        if getattr(conversation, "_ingest_opened", False):
            changes.append(
                Change(
                    EventType.CONVERSATION_CREATED,
                    str(conversation.pk),
                    conversation_data(conversation),
                )
            )
        changes.append(
            Change(EventType.MESSAGE_CREATED, str(message.pk), message_data(message))
        )
    events_record(messages[0].conversation.business_id, changes)


def message_status_changed(message_id: int, status: str, marker: object = "") -> None:
    """`message.status_changed` for message `message_id`, now `status`
    (`sent`, `delivered`, `read`, `failed`). `marker` tells apart two changes
    to the same status (the time of a failed attempt); a receipt the
    platform repeats has the same key and gives one event. One query when
    no endpoint listens (the business is found inside it)."""
    from conversations.models import Message

    rows = Message.objects.filter(pk=message_id)
    business_id = Subquery(rows.values("conversation__business_id")[:1])

    def changes() -> list[Change]:
        message = rows.only("pk", "error", "conversation_id").first()
        if message is None:
            return []
        return [
            Change(
                EventType.MESSAGE_STATUS_CHANGED,
                f"{message_id}:{status}:{marker}",
                {
                    "id": message_id,
                    "conversation_id": message.conversation_id,
                    "status": status,
                    "error": message.error if status == "failed" else "",
                },
            )
        ]

    events_record(business_id, changes)


def conversations_changed(
    conversations: Sequence[Any],
    before: Mapping[int, tuple[str, int | None, int | None]],
    activities: Sequence[Any] = (),
    *,
    labels: tuple[Sequence[Any], Sequence[tuple[int, int]]] | None = None,
) -> None:
    """Events for conversations changed under their row lock: `before` maps
    each id to its (status, assignee id, team id) before the change, the
    objects hold the values after; `labels`: the label links the change
    created (`ConversationLabel` objects) and deleted ((conversation id,
    label id) pairs). A changed status gives `conversation.status_changed`
    (with `previous_status`), a changed assignee `conversation.assigned`
    (with `previous_assignee_id`), and any change, labels included, one
    `conversation.updated` (with `labels_added` and `labels_removed`,
    `[{"id", "name"}]`, when its labels changed). Keys carry the activity
    entry the change wrote (`activities`), else the time: repeating a
    change that changes nothing records nothing."""
    if not conversations:
        return
    added_ids: dict[int, list[int]] = {}
    removed_ids: dict[int, list[int]] = {}
    if labels is not None:
        for link in labels[0]:
            added_ids.setdefault(link.conversation_id, []).append(link.label_id)
        for conversation_id, label_id in labels[1]:
            removed_ids.setdefault(conversation_id, []).append(label_id)
    activity_of = {a.conversation_id: a.pk for a in activities}
    stamp = timezone.now().isoformat()
    touched = [
        conversation
        for conversation in conversations
        if conversation.pk in before
        and (
            before[conversation.pk]
            != (conversation.status, conversation.assignee_id, conversation.team_id)
            or conversation.pk in added_ids
            or conversation.pk in removed_ids
        )
    ]
    if not touched:
        return

    def changes() -> list[Change]:
        # The labels' names are read only when an endpoint listens.
        from workspace.models import Label

        wanted = {
            pk for ids in (*added_ids.values(), *removed_ids.values()) for pk in ids
        }
        names = (
            dict(Label.objects.filter(pk__in=wanted).values_list("pk", "name"))
            if wanted
            else {}
        )

        def named(ids: list[int]) -> list[dict[str, Any]]:
            return [{"id": pk, "name": names.get(pk, "")} for pk in sorted(ids)]

        found = []
        for conversation in touched:
            status, assignee_id, _team_id = before[conversation.pk]
            marker = (
                f"activity:{activity_of[conversation.pk]}"
                if conversation.pk in activity_of
                else stamp
            )
            key = f"{conversation.pk}:{marker}"
            data = conversation_data(conversation)
            if conversation.status != status:
                found.append(
                    Change(
                        EventType.CONVERSATION_STATUS_CHANGED,
                        key,
                        {**data, "previous_status": status},
                    )
                )
            if conversation.assignee_id != assignee_id:
                found.append(
                    Change(
                        EventType.CONVERSATION_ASSIGNED,
                        key,
                        {**data, "previous_assignee_id": assignee_id},
                    )
                )
            if conversation.pk in added_ids or conversation.pk in removed_ids:
                data = {
                    **data,
                    "labels_added": named(added_ids.get(conversation.pk, [])),
                    "labels_removed": named(removed_ids.get(conversation.pk, [])),
                }
            found.append(Change(EventType.CONVERSATION_UPDATED, key, data))
        return found

    events_record(conversations[0].business_id, changes)


def conversations_mark_reopened(
    conversations: Sequence[Any], activities: Sequence[Any]
) -> None:
    """Mark conversations an ingest has just reopened (call while their
    `status` is still the one loaded), with the activity entry it wrote:
    `messages_created` records their events with the batch's (no query)."""
    activity_of = {a.conversation_id: a.pk for a in activities}
    for conversation in conversations:
        conversation._webhook_reopened = (
            conversation.status,
            activity_of.get(conversation.pk, ""),
        )


def conversations_reopened(
    conversations: Sequence[Any],
    activities: Sequence[Any],
    *,
    previous_status: str | None = None,
) -> None:
    """`conversation.status_changed` (to `open`) and `conversation.updated`
    for conversations an UPDATE has just reopened (their snooze ended), of
    any businesses. `previous_status` is what they all were; without it,
    each object's `status` (as loaded, before the reopening). Their rows are
    read again (one query) only for businesses with an endpoint."""
    from conversations.models import Conversation

    previous = {c.pk: previous_status or c.status for c in conversations}
    activity_of = {a.conversation_id: a.pk for a in activities}
    by_business: dict[object, list[int]] = {}
    for conversation in conversations:
        by_business.setdefault(conversation.business_id, []).append(conversation.pk)

    for business_id, ids in by_business.items():

        def changes(ids: list[int] = ids) -> list[Change]:
            found = []
            for row in Conversation.objects.filter(pk__in=ids).order_by("pk"):
                marker = f"{row.pk}:activity:{activity_of.get(row.pk, '')}"
                found += _reopening(marker, conversation_data(row), previous[row.pk])
            return found

        events_record(business_id, changes)


def conversation_rated(rating: Any) -> None:
    """`conversation.rated`: the customer rated a resolved conversation
    (`rating`: the `SatisfactionRating` just stored, in the caller's
    transaction, with its `conversation`). `data`: the conversation's
    fields and `rating`: `{"id", "score" (1 to 5), "comment" (may be
    empty), "rated_at"}`. A request is rated once, so its key, the rating's
    id, is recorded once."""
    events_record(
        rating.business_id,
        [
            Change(
                EventType.CONVERSATION_RATED,
                str(rating.pk),
                {
                    **conversation_data(rating.conversation),
                    "rating": {
                        "id": rating.pk,
                        "score": rating.score,
                        "comment": rating.comment,
                        "rated_at": _when(rating.created_at),
                    },
                },
            )
        ],
    )


def conversation_state(conversations: Iterable[Any]) -> dict[int, tuple]:
    """Each conversation's (status, assignee id, team id), by id: the `before`
    of `conversations_changed`."""
    return {c.pk: (c.status, c.assignee_id, c.team_id) for c in conversations}


def contacts_mark_new(contacts: Iterable[Any]) -> None:
    """Mark contacts an ingest has just created: `messages_created` records
    their `contact.created` with the batch's other events (no query here)."""
    for contact in contacts:
        contact._webhook_new = True


def contacts_created(contacts: Iterable[Any]) -> None:
    """`contact.created` for each of `contacts` (saved, of one business)."""
    contacts = list(contacts)
    if contacts:
        events_record(
            contacts[0].business_id,
            [
                Change(EventType.CONTACT_CREATED, str(c.pk), contact_data(c))
                for c in contacts
            ],
        )


# While a `contact_changes_together` block runs: contact id -> (the contact,
# the fields changed so far).
_together: ContextVar[dict[int, tuple[Any, list[str]]] | None] = ContextVar(
    "webhook_contact_changes", default=None
)


def contact_updated(contact: Any, changed: Iterable[str]) -> None:
    """`contact.updated` for `contact` (saved, in the caller's transaction):
    `changed` names what changed (`name`, `company`, `note`, `avatar_url`,
    `emails`, `phones`, `custom_attributes`, `labels`, `erased`); nothing
    is recorded when it is empty. Each call is one change (its key is
    unique): call it once per edit, whatever it touched. Inside
    `contact_changes_together`, the calls for one contact are gathered into
    one event when the block ends."""
    changed = list(dict.fromkeys(changed))
    if not changed:
        return
    gathering = _together.get()
    if gathering is not None:
        _, fields = gathering.setdefault(contact.pk, (contact, []))
        gathering[contact.pk] = (contact, list(dict.fromkeys([*fields, *changed])))
        return
    events_record(
        contact.business_id,
        [
            Change(
                EventType.CONTACT_UPDATED,
                f"{contact.pk}:{uuid.uuid4().hex}",
                {**contact_data(contact), "changed": changed},
            )
        ],
    )


@contextmanager
def contact_changes_together() -> Iterator[None]:
    """One edit made of several service calls (a CSV import row, a website's
    identification): the `contact_updated` calls inside the block give one
    `contact.updated` per contact, recorded when the block ends without an
    error, with every field any of them changed. Use it inside the edit's
    transaction. Nested blocks join the outer one."""
    if _together.get() is not None:
        yield
        return
    token = _together.set({})
    try:
        yield
        gathered = _together.get() or {}
    finally:
        _together.reset(token)
    for contact, changed in gathered.values():
        contact_updated(contact, changed)


def contact_merged(kept: Any, other_id: int) -> None:
    """`contact.merged`: contact `other_id` was merged into `kept` (and
    deleted). `data`: the kept contact's fields and `merged_contact_id`."""
    events_record(
        kept.business_id,
        [
            Change(
                EventType.CONTACT_MERGED,
                f"{kept.pk}:{other_id}",
                {**contact_data(kept), "merged_contact_id": other_id},
            )
        ],
    )


# ------------------------------------------------------------------ erasure


def _erased(
    payload: dict[str, Any],
    erased_contact: dict[str, Any],
    contact_ids: set[int],
    conversation_ids: set[int],
    message_ids: set[int],
) -> bool:
    """Empty, in one event `payload` (as sent), what an erased contact's
    data was, as `contact_erase` empties the rows (`erased_contact`: the
    contact's `name` and `company` now); True when it changed."""
    data = payload.get("data")
    kind = str(payload.get("type", ""))
    if not isinstance(data, dict):
        return False
    if kind.startswith("contact."):
        if data.get("id") not in contact_ids:
            return False
        new = {**data, **erased_contact}
    elif kind.startswith("message."):
        if (
            data.get("conversation_id") not in conversation_ids
            and data.get("id") not in message_ids
        ):
            return False
        new = {**data, "text": ""}
    elif kind.startswith("conversation."):
        if data.get("id") not in conversation_ids:
            return False
        new = {**data, "subject": ""}
        if isinstance(data.get("rating"), dict):
            new["rating"] = {**data["rating"], "comment": ""}
    else:
        return False
    if new == data:
        return False
    payload["data"] = new
    return True


def events_erase(
    contact: Any, conversation_ids: Iterable[int], message_ids: Iterable[int]
) -> int:
    """Empty what an erased contact's data was in the stored bodies of its
    business's webhook events (sent, failed or still to send), in the
    caller's transaction: `contact` (saved with its data erased: its name
    and company replace theirs in `contact.*` events, its own and those of
    contacts merged into it), `conversation_ids` (the texts of their
    `message.*` events and the subjects and rating comments of their
    `conversation.*` events are emptied) and `message_ids` (the contact's
    messages in other conversations). Only events recorded since the
    earliest of the contact, its conversations and those messages are read.
    A pending event then goes out with the emptied body; Redeliver sends
    the emptied body too. Returns how many events were changed."""
    from conversations.models import Conversation, Message

    conversation_ids = set(conversation_ids)
    message_ids = set(message_ids)
    moments = [contact.created_at]
    for model, ids in ((Conversation, conversation_ids), (Message, message_ids)):
        if ids:
            earliest = model.objects.filter(pk__in=ids).aggregate(
                earliest=Min("created_at")
            )["earliest"]
            if earliest is not None:
                moments.append(earliest)
    events = WebhookEvent.objects.filter(
        endpoint__business_id=contact.business_id, created_at__gte=min(moments)
    )
    # Contacts merged into this one: their events are the same person's.
    contact_ids = {contact.pk}
    for body in events.filter(type=EventType.CONTACT_MERGED).values_list(
        "body", flat=True
    ):
        data = json.loads(body).get("data") or {}
        if data.get("id") == contact.pk and data.get("merged_contact_id"):
            contact_ids.add(data["merged_contact_id"])
    fresh = contact_data(contact)
    erased_contact = {"name": fresh["name"], "company": fresh["company"]}
    changed: list[WebhookEvent] = []
    for pk, body in events.values_list("pk", "body").iterator(chunk_size=2000):
        try:
            payload = json.loads(body)
        except ValueError:
            continue
        if _erased(payload, erased_contact, contact_ids, conversation_ids, message_ids):
            changed.append(WebhookEvent(pk=pk, body=_payload_json(payload)))
    WebhookEvent.objects.bulk_update(changed, ["body"], batch_size=500)
    return len(changed)

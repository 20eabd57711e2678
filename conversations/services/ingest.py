"""`ingest`: inbound messages, edits and delivery receipts into the inbox.

Consecutive messages are stored as one run, in a number of queries that does
not grow with the number of messages or contacts: the run's identities,
already stored messages and conversations are each read in one query, the
missing ones inserted in bulk, and the conversations' counters updated in one
statement. The result is the one storing the messages one at a time would
give. An edit or a receipt ends the run before it, so it sees every message
that came earlier.

Dedupe is in the database: `Message` is unique on (channel, platform message
id); a message found stored, or seen earlier in the same call, is a duplicate.
When a concurrent ingest stores one of the run's messages or opens one of its
conversations between the read and the insert, the constraint violation sends
the run down the one-message-at-a-time path, where each violation reads as
"already have it".
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Greatest

from automation import triggers as automation_triggers
from billing.models import Member
from channels_app.models import Channel
from channels_app.platforms.base import (
    AttachmentsAdded,
    ChannelAlert,
    ContactOptOut,
    DeliveryStatus,
    IdentityMoved,
    InboundContact,
    InboundItem,
    InboundMessage,
    MessageDeletion,
    MessageEdit,
    Reaction,
)
from contacts.search_text import search_text_refresh
from contacts.services.identities import (
    identities_details_add,
    identities_needing_profile,
    new_contact_fields,
    placeholder_name,
    profiles_fetch_schedule,
)
from conversations import realtime
from conversations.models import Contact, ContactIdentity, Conversation, Message
from conversations.notifications import inbound_notify
from conversations.services.assignment import conversations_auto_assign
from conversations.services.attachments import attachment_needs_fetch
from conversations.services.conversations import (
    activity_entry,
    last_message_at_copy,
)
from conversations.services.platform_events import (
    attachments_added_apply,
    channel_alert_apply,
    contact_opt_out_apply,
    identity_move_apply,
    message_deletion_apply,
    reaction_apply,
)
from conversations.services.receipts import receipt_apply
from conversations.services.replies import message_preview
from reports.services import messages_counted, status_changes_record
from webhooks.services import events as webhook_events
from workspace.services import away_messages_queue

logger = logging.getLogger(__name__)

# Where a run's message goes: the pk of a stored conversation (the one holding
# the message it replies to), or a thread key of the channel.
_ConversationKey = int | str


@dataclass(frozen=True)
class IngestResult:
    """Ids of the messages created, how many items were already known, how
    many receipts and edits changed a stored message, and how many other
    items (album parts added, deletions, reactions, opt-outs, moved
    identities, channel alerts) changed something."""

    created: tuple[int, ...]
    duplicates: int
    statuses_applied: int
    edits_applied: int = 0
    changes_applied: int = 0


class _ConversationGone(Exception):
    """A replied-to message's conversation was deleted between the read of the
    message and the lock of the conversations."""


def ingest(*, channel: Channel, items: Iterable[InboundItem]) -> IngestResult:
    """Store a channel's inbound messages, edits, delivery receipts and the
    platform's other news (`conversations.services.platform_events`), in order.

    For each message: upsert the contact's identity on the channel, continue the
    conversation of the message it replies to or of its thread (reopening a
    resolved, pending or snoozed one, with a "Reopened by the customer"
    activity entry), or open a conversation; store the message; bump the
    conversation's last activity, preview and unread count. On a channel with
    `auto_assign`, opened conversations, and reopened ones whose assignee is
    unset or no longer a member, are auto-assigned
    (`conversations.services.assignment`); with it off this costs nothing.
    Media the platform holds is fetched afterwards, by the
    `fetch_message_media` task; the inbox hears of new messages on commit.

    Runs in one transaction: the caller's if there is one (a worker ingesting
    a batch of events), else its own. Any error other than a duplicate is
    raised and none of the call's work is kept.
    """
    created: list[int] = []
    duplicates = 0
    applied = 0
    edits = 0
    changes = 0
    with transaction.atomic(savepoint=False):
        for part in _runs(items):
            if isinstance(part, list):
                messages = _messages_store(channel, part)
                created += [message.pk for message in messages]
                duplicates += len(part) - len(messages)
            elif isinstance(part, DeliveryStatus):
                applied += receipt_apply(channel=channel, receipt=part)
            elif isinstance(part, MessageEdit):
                edits += _apply_edit(channel, part)
                realtime.publish_message_edited(channel.pk, part.platform_message_id)
            else:
                changes += _apply_change(channel, part)
        inbound_notify(created)  # on commit: sees auto-assignment (notifications)
        away_messages_queue(channel_id=channel.pk, message_ids=created)
    return IngestResult(
        created=tuple(created),
        duplicates=duplicates,
        statuses_applied=applied,
        edits_applied=edits,
        changes_applied=changes,
    )


def _apply_change(channel: Channel, item: InboundItem) -> int:
    match item:
        case AttachmentsAdded():
            return attachments_added_apply(channel=channel, added=item)
        case MessageDeletion():
            return message_deletion_apply(channel=channel, deletion=item)
        case Reaction():
            return reaction_apply(channel=channel, reaction=item)
        case ContactOptOut():
            return contact_opt_out_apply(channel=channel, opt_out=item)
        case IdentityMoved():
            return identity_move_apply(channel=channel, moved=item)
        case ChannelAlert():
            return channel_alert_apply(channel=channel, alert=item)
    raise TypeError(f"ingest cannot apply {type(item).__name__}")


def _runs(
    items: Iterable[InboundItem],
) -> Iterator[list[InboundMessage] | InboundItem]:
    """The items in order, consecutive messages gathered into one list."""
    run: list[InboundMessage] = []
    for item in items:
        if isinstance(item, InboundMessage):
            run.append(item)
            continue
        if run:
            yield run
            run = []
        yield item
    if run:
        yield run


# ---------------------------------------------------------------------- messages


def _messages_store(channel: Channel, items: list[InboundMessage]) -> list[Message]:
    """Store a run of messages; return the new ones, in the items' order."""
    identities = _identities_upsert(channel, [item.contact for item in items])
    stored = _stored_conversation_ids(channel, items)
    new_items = _new_items(items, stored)
    messages = _messages_create(channel, identities, new_items, stored)
    if channel.auto_assign and messages:
        _auto_assign(channel, messages)
    realtime.publish_messages_created(messages)
    webhook_events.messages_created(messages)
    automation_triggers.messages_created(channel.business_id, messages)
    for message in messages:
        if any(attachment_needs_fetch(a) for a in message.attachments):
            _schedule_media_fetch(message.pk)
    logger.info(
        "ingest.batch",
        extra={
            "channel_id": str(channel.id),
            "platform": channel.type,
            "message_count": len(messages),
            "duplicate_count": len(items) - len(messages),
            "conversation_count": len({m.conversation_id for m in messages}),
        },
    )
    return messages


def _stored_conversation_ids(
    channel: Channel, items: Sequence[InboundMessage]
) -> dict[str, int]:
    """Platform id -> conversation id of the channel's stored messages that the
    run's items are, or reply to."""
    platform_ids = {item.platform_message_id for item in items} | {
        item.reply_to_platform_message_id
        for item in items
        if item.reply_to_platform_message_id
    }
    return dict(
        Message.objects.filter(
            channel=channel, platform_message_id__in=platform_ids
        ).values_list("platform_message_id", "conversation_id")
    )


def _new_items(
    items: Sequence[InboundMessage], stored: dict[str, int]
) -> list[InboundMessage]:
    """The items neither stored nor seen earlier in the run."""
    seen: set[str] = set()
    new_items = []
    for item in items:
        if item.platform_message_id in stored or item.platform_message_id in seen:
            continue
        seen.add(item.platform_message_id)
        new_items.append(item)
    return new_items


def _messages_create(
    channel: Channel,
    identities: dict[str, ContactIdentity],
    items: Sequence[InboundMessage],
    stored: dict[str, int],
) -> list[Message]:
    """Store new messages, in bulk where the database returns the inserted
    rows' pks; return them."""
    if not items:
        return []
    if connection.features.can_return_rows_from_bulk_insert:
        try:
            with transaction.atomic():
                return _messages_insert(channel, identities, items, stored)
        except (IntegrityError, _ConversationGone):
            # Another ingest changed the run's messages or conversations since
            # they were read: store each message on its own, as it would be.
            pass
    return _messages_store_each(channel, identities, items)


def _messages_insert(
    channel: Channel,
    identities: dict[str, ContactIdentity],
    items: Sequence[InboundMessage],
    stored: dict[str, int],
) -> list[Message]:
    """Insert new messages in bulk and bump their conversations.

    Raises `IntegrityError` when a concurrent ingest stored one of the messages
    or opened one of the conversations after they were read, and
    `_ConversationGone`.
    """
    keys = _conversation_keys(items, stored)
    conversations = _conversations_get_or_create(channel, identities, items, keys)
    messages = Message.objects.bulk_create(
        [
            _inbound_message(
                channel,
                conversations[key],
                identities[item.contact.external_id],
                item,
            )
            for item, key in zip(items, keys, strict=True)
        ]
    )
    _conversations_bump(messages)
    return messages


def _messages_store_each(
    channel: Channel,
    identities: dict[str, ContactIdentity],
    items: Sequence[InboundMessage],
) -> list[Message]:
    """Store the messages one at a time, each in a savepoint; a constraint
    violation reads as "already stored". Returns the new ones."""
    messages = []
    for item in items:
        identity = identities[item.contact.external_id]
        try:
            with transaction.atomic():
                conversation = _conversation_for(channel, identity, item)
                message = _inbound_message(channel, conversation, identity, item)
                message.save(force_insert=True)
                _conversations_bump([message])
        except IntegrityError:
            # Stored before, or a concurrent delivery of the same message won
            # the race.
            continue
        messages.append(message)
    return messages


def _inbound_message(
    channel: Channel,
    conversation: Conversation,
    identity: ContactIdentity,
    item: InboundMessage,
) -> Message:
    return Message(
        conversation=conversation,
        channel=channel,
        direction=Message.Direction.INBOUND,
        kind=item.kind,
        text=item.text,
        html=item.html,
        attachments=list(item.attachments),
        details=dict(item.details),
        sender_contact=identity.contact,
        platform_message_id=item.platform_message_id,
        reply_to_platform_message_id=item.reply_to_platform_message_id or "",
        status=Message.Status.RECEIVED,
        sent_at=item.sent_at,
    )


def _schedule_media_fetch(message_id: int) -> None:
    from channels_app.tasks import fetch_message_media

    transaction.on_commit(lambda: fetch_message_media.delay(message_id))


def _apply_edit(channel: Channel, edit: MessageEdit) -> int:
    return Message.objects.filter(
        channel=channel,
        platform_message_id=edit.platform_message_id,
        direction=Message.Direction.INBOUND,
    ).update(text=edit.text, edited_at=edit.edited_at)


# ----------------------------------------------------------------- conversations


def _conversation_keys(
    items: Sequence[InboundMessage], stored: dict[str, int]
) -> list[_ConversationKey]:
    """Where each new item goes: the conversation of the message it replies to
    (stored, or earlier in the run), else its thread."""
    keys: list[_ConversationKey] = []
    key_of: dict[str, _ConversationKey] = {}
    for item in items:
        replied = item.reply_to_platform_message_id
        if replied and replied in stored:
            key: _ConversationKey = stored[replied]
        elif replied and replied in key_of:
            key = key_of[replied]
        else:
            key = item.thread_key
        key_of[item.platform_message_id] = key
        keys.append(key)
    return keys


def _conversations_get_or_create(
    channel: Channel,
    identities: dict[str, ContactIdentity],
    items: Sequence[InboundMessage],
    keys: Sequence[_ConversationKey],
) -> dict[_ConversationKey, Conversation]:
    """Lock the conversations the keys name and open the missing threads; return
    them by pk and, for the channel's, by thread key.

    A thread is opened as the first of its items would open it (contact,
    subject, last activity). Raises `IntegrityError` when a concurrent ingest
    opened one of the threads since, and `_ConversationGone`.
    """
    thread_keys = {key for key in keys if isinstance(key, str)}
    # Rows are locked in pk order, and new threads inserted in thread key
    # order, so two workers whose batches share conversations wait for each
    # other instead of each holding a row the other needs (a deadlock).
    found = Conversation.objects.select_for_update().filter(
        Q(pk__in={key for key in keys if isinstance(key, int)})
        | Q(channel=channel, thread_key__in=thread_keys)
    )
    conversations: dict[_ConversationKey, Conversation] = {}
    for conversation in found.order_by("pk"):
        conversations[conversation.pk] = conversation
        if conversation.channel_id == channel.pk:
            conversations[conversation.thread_key] = conversation
    opened: dict[str, Conversation] = {}
    for item, key in zip(items, keys, strict=True):
        if key in conversations or key in opened:
            continue
        if isinstance(key, int):
            raise _ConversationGone(key)
        identity = identities[item.contact.external_id]
        opened[key] = _opened(
            Conversation(
                business_id=channel.business_id,
                channel=channel,
                channel_type=channel.type,
                contact=identity.contact,
                contact_identity=identity,
                thread_key=key,
                last_message_at=item.sent_at,
                subject=item.subject[:255],
            )
        )
    Conversation.objects.bulk_create(
        sorted(opened.values(), key=attrgetter("thread_key"))
    )
    return conversations | opened


def _conversation_for(
    channel: Channel, identity: ContactIdentity, item: InboundMessage
) -> Conversation:
    if item.reply_to_platform_message_id:
        replied = (
            Message.objects.select_related("conversation")
            .filter(
                channel=channel, platform_message_id=item.reply_to_platform_message_id
            )
            .first()
        )
        if replied is not None:
            return replied.conversation
    conversation, created = Conversation.objects.get_or_create(
        channel=channel,
        thread_key=item.thread_key,
        defaults={
            "business_id": channel.business_id,
            "channel_type": channel.type,
            "contact": identity.contact,
            "contact_identity": identity,
            "last_message_at": item.sent_at,
            "subject": item.subject[:255],
        },
    )
    return _opened(conversation) if created else conversation


def _opened(conversation: Conversation) -> Conversation:
    """Mark a conversation as opened by this ingest (for auto-assignment)."""
    conversation._ingest_opened = True
    return conversation


def _conversations_bump(messages: Sequence[Message]) -> None:
    """Record new messages on their conversations, in one statement: reopen,
    add them to the unread count, move the last activity to the newest one,
    and show its preview unless a newer message is already there."""
    counts = Counter(message.conversation_id for message in messages)
    newest: dict[int, Message] = {}
    for message in messages:
        latest = newest.get(message.conversation_id)
        # Of messages sent at the same time, the later one shows, as when they
        # are stored one after the other.
        if latest is None or message.sent_at >= latest.sent_at:
            newest[message.conversation_id] = message
    bumps = [
        Conversation(
            pk=pk,
            last_message_at=Greatest(F("last_message_at"), Value(message.sent_at)),
            # A late, older message must not replace the newest preview.
            last_message_preview=Case(
                When(
                    last_message_at__lte=message.sent_at,
                    then=Value(message_preview(message.text, message.attachments)),
                ),
                default=F("last_message_preview"),
            ),
            unread_count=F("unread_count") + counts[pk],
            status=Conversation.Status.OPEN,
            snoozed_until=None,
        )
        for pk, message in newest.items()
    ]
    Conversation.objects.bulk_update(
        bumps,
        [
            "last_message_at",
            "last_message_preview",
            "unread_count",
            "status",
            "snoozed_until",
        ],
    )
    last_message_at_copy(newest)
    messages_counted(messages)
    _reopened_by_customer(newest.values())


def _reopened_by_customer(messages: Iterable[Message]) -> None:
    """Record "Reopened by the customer" in the threads the messages
    reopened (their conversations as loaded were snoozed, resolved or
    pending; the bump has reopened them), and mark those conversations for
    auto-assignment: one INSERT, and none when every conversation was open."""
    woken = [
        message.conversation
        for message in messages
        if message.conversation.status != Conversation.Status.OPEN
    ]
    if not woken:
        return
    activities = Message.objects.bulk_create(
        [
            activity_entry(conversation, "customer_reopened", by=None)
            for conversation in woken
        ]
    )
    webhook_events.conversations_mark_reopened(woken, activities)
    status_changes_record(woken, Conversation.Status.OPEN)
    for conversation in woken:
        conversation.status = Conversation.Status.OPEN
        conversation.snoozed_until = None
        conversation._ingest_reopened = True
    realtime.publish_messages_created(activities)


def _auto_assign(channel: Channel, messages: Sequence[Message]) -> None:
    """Auto-assign (the channel has `auto_assign`) the conversations the
    messages opened, and those they reopened whose assignee is unset or no
    longer a member of the business (a reopened conversation keeps an
    assignee who still is). Queries do not grow with the messages."""
    opened: dict[int, Conversation] = {}
    reopened: dict[int, Conversation] = {}
    for message in messages:
        conversation = message.conversation
        if getattr(conversation, "_ingest_opened", False):
            opened.setdefault(conversation.pk, conversation)
        elif getattr(conversation, "_ingest_reopened", False):
            reopened.setdefault(conversation.pk, conversation)
    for pk in opened:
        reopened.pop(pk, None)
    assigned = {c.assignee_id for c in reopened.values() if c.assignee_id}
    if assigned:
        members = set(
            Member.objects.filter(
                business_id=channel.business_id, user_id__in=assigned
            ).values_list("user_id", flat=True)
        )
        reopened = {pk: c for pk, c in reopened.items() if c.assignee_id not in members}
    conversations = [*opened.values(), *reopened.values()]
    if conversations:
        conversations_auto_assign(conversations, channel=channel)


# -------------------------------------------------------------------- identities


def _identities_upsert(
    channel: Channel, contacts: Sequence[InboundContact]
) -> dict[str, ContactIdentity]:
    """The channel's identities of the contacts, by external id (with their
    `contact` loaded), created where missing, and with the handle, name and
    avatar the contacts give (the last one given wins; an empty one keeps the
    known one).

    A new identity fills in what it knows (`contacts.services.identities`):
    a WhatsApp or SMS number becomes a phone number of its contact, an
    e-mail sender an address (one INSERT for the run). Identities whose
    platform can tell a missing name or picture (Instagram, X) get one
    background profile fetch, queued on commit."""
    identities: dict[str, ContactIdentity] = {}
    people: dict[int, Contact] = {}
    for identity in ContactIdentity.objects.select_related("contact").filter(
        channel=channel, external_id__in={c.external_id for c in contacts}
    ):
        # Merged contacts have several identities: one object per contact, so
        # that the last profile given wins whichever identity gave it.
        identity.contact = people.setdefault(identity.contact_id, identity.contact)
        identities[identity.external_id] = identity
    first_of: dict[str, InboundContact] = {}
    for contact in contacts:
        if contact.external_id not in identities:
            first_of.setdefault(contact.external_id, contact)
    if first_of:
        identities |= _identities_create(channel, list(first_of.values()))
    _profiles_update(channel, identities, contacts)
    profiles_fetch_schedule(
        identities_needing_profile(channel.type, identities.values())
    )
    return identities


def _identities_create(
    channel: Channel, contacts: Sequence[InboundContact]
) -> dict[str, ContactIdentity]:
    """Create a contact and its identity for each of `contacts` (one per
    external id), in bulk; where a concurrent ingest created one first, read
    it instead."""
    if connection.features.can_return_rows_from_bulk_insert:
        try:
            with transaction.atomic():
                return _identities_insert(channel, contacts)
        except IntegrityError:
            # A concurrent ingest created one of them since they were read.
            pass
    return {c.external_id: _identity_get_or_create(channel, c) for c in contacts}


def _identities_insert(
    channel: Channel, contacts: Sequence[InboundContact]
) -> dict[str, ContactIdentity]:
    # Inserted in external id order, so two workers creating the same
    # identities wait for each other instead of deadlocking.
    contacts = sorted(contacts, key=attrgetter("external_id"))
    people = Contact.objects.bulk_create([_new_contact(channel, c) for c in contacts])
    identities = ContactIdentity.objects.bulk_create(
        [
            _new_identity(channel, person, contact)
            for person, contact in zip(people, contacts, strict=True)
        ]
    )
    identities_details_add(channel.type, identities)
    return {identity.external_id: identity for identity in identities}


def _identity_get_or_create(
    channel: Channel, contact: InboundContact
) -> ContactIdentity:
    try:
        with transaction.atomic():
            person = _new_contact(channel, contact)
            person.save(force_insert=True)
            identity = _new_identity(channel, person, contact)
            identity.save(force_insert=True)
            identities_details_add(channel.type, [identity])
            return identity
    except IntegrityError:
        return ContactIdentity.objects.select_related("contact").get(
            channel=channel, external_id=contact.external_id
        )


def _new_contact(channel: Channel, contact: InboundContact) -> Contact:
    """The contact a new identity creates, named and with its search text
    as `new_contact_fields` says (no query)."""
    return Contact(
        business_id=channel.business_id,
        **new_contact_fields(
            channel.type,
            external_id=contact.external_id,
            handle=contact.handle,
            name=contact.name,
            avatar_url=contact.avatar_url,
        ),
    )


def _new_identity(
    channel: Channel, person: Contact, contact: InboundContact
) -> ContactIdentity:
    return ContactIdentity(
        contact=person,
        channel=channel,
        external_id=contact.external_id,
        handle=contact.handle,
    )


def _profiles_update(
    channel: Channel,
    identities: dict[str, ContactIdentity],
    contacts: Sequence[InboundContact],
) -> None:
    """Apply each contact's handle, name and avatar in turn, then save the
    identities and contacts that changed (one statement each) and refresh
    their search text (only when something changed). A placeholder name
    (the widget's `Visitor 1a2b3c4d`) never replaces a known one."""
    changed_identities: dict[int, ContactIdentity] = {}
    changed_people: dict[int, Contact] = {}
    for contact in contacts:
        identity = identities[contact.external_id]
        if contact.handle and identity.handle != contact.handle:
            identity.handle = contact.handle
            changed_identities[identity.pk] = identity
        person = identity.contact
        name = contact.name
        if name and name == placeholder_name(channel.type, contact.external_id):
            name = ""
        if (name and person.name != name) or (
            contact.avatar_url and person.avatar_url != contact.avatar_url
        ):
            person.name = name or person.name
            person.avatar_url = contact.avatar_url or person.avatar_url
            changed_people[person.pk] = person
    if changed_identities:
        ContactIdentity.objects.bulk_update(changed_identities.values(), ["handle"])
    if changed_people:
        Contact.objects.bulk_update(changed_people.values(), ["name", "avatar_url"])
    if changed_identities or changed_people:
        search_text_refresh(
            {i.contact_id for i in changed_identities.values()} | set(changed_people)
        )

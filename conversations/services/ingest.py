"""`ingest`: inbound messages and delivery receipts into the inbox.

Dedupe is in the database: `Message` is unique on (channel, platform message id)
and a violation reads as "already have it".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Greatest

from channels_app.models import Channel
from channels_app.platforms.base import (
    DeliveryStatus,
    InboundContact,
    InboundItem,
    InboundMessage,
    MessageEdit,
)
from conversations import realtime
from conversations.models import Contact, ContactIdentity, Conversation, Message
from conversations.services.attachments import attachment_needs_fetch
from conversations.services.receipts import receipt_apply
from conversations.services.replies import message_preview

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """Ids of the messages created, how many items were already known, and how
    many receipts and edits changed a stored message."""

    created: tuple[int, ...]
    duplicates: int
    statuses_applied: int
    edits_applied: int = 0


def ingest(*, channel: Channel, items: Iterable[InboundItem]) -> IngestResult:
    """Store a channel's inbound messages, edits and delivery receipts.

    For each message: upsert the contact's identity on the channel, continue the
    conversation of the message it replies to or of its thread (reopening a
    resolved one), or open a conversation; store the message; bump the
    conversation's last activity, preview and unread count. Media the platform
    holds is fetched afterwards, by the `fetch_message_media` task.
    """
    created: list[int] = []
    duplicates = 0
    applied = 0
    edits = 0
    for item in items:
        if isinstance(item, DeliveryStatus):
            applied += receipt_apply(channel=channel, receipt=item)
            continue
        if isinstance(item, MessageEdit):
            edits += _apply_edit(channel, item)
            realtime.publish_message_edited(channel.pk, item.platform_message_id)
            continue
        message = _ingest_message(channel, item)
        if message is None:
            duplicates += 1
        else:
            created.append(message.pk)
    return IngestResult(
        created=tuple(created),
        duplicates=duplicates,
        statuses_applied=applied,
        edits_applied=edits,
    )


def _ingest_message(channel: Channel, item: InboundMessage) -> Message | None:
    # No lookup first: the unique constraint answers "already have it" when the
    # insert fails, which saves a query on every new message (duplicates are
    # rare, as redelivered events are dropped before they are processed).
    identity = _identity_upsert(channel, item.contact)
    try:
        with transaction.atomic():
            conversation = _conversation_for(channel, identity, item)
            message = Message.objects.create(
                conversation=conversation,
                channel=channel,
                direction=Message.Direction.INBOUND,
                kind=item.kind,
                text=item.text,
                html=item.html,
                attachments=list(item.attachments),
                sender_contact=identity.contact,
                platform_message_id=item.platform_message_id,
                reply_to_platform_message_id=item.reply_to_platform_message_id or "",
                status=Message.Status.RECEIVED,
                sent_at=item.sent_at,
            )
            Conversation.objects.filter(pk=conversation.pk).update(
                last_message_at=Greatest(F("last_message_at"), item.sent_at),
                # A late, older message must not replace the newest preview.
                last_message_preview=Case(
                    When(
                        last_message_at__lte=item.sent_at,
                        then=Value(message_preview(item.text, item.attachments)),
                    ),
                    default=F("last_message_preview"),
                ),
                unread_count=F("unread_count") + 1,
                status=Conversation.Status.OPEN,
            )
            realtime.publish_message_created(message)
            if any(attachment_needs_fetch(a) for a in item.attachments):
                _schedule_media_fetch(message.pk)
    except IntegrityError:
        # Stored before, or a concurrent delivery of the same message won the
        # race.
        return None
    logger.info(
        "ingest.message",
        extra={
            "channel_id": str(channel.id),
            "platform": channel.type,
            "message_id": message.pk,
            "conversation_id": conversation.pk,
        },
    )
    return message


def _schedule_media_fetch(message_id: int) -> None:
    from channels_app.tasks import fetch_message_media

    transaction.on_commit(lambda: fetch_message_media.delay(message_id))


def _apply_edit(channel: Channel, edit: MessageEdit) -> int:
    return Message.objects.filter(
        channel=channel,
        platform_message_id=edit.platform_message_id,
        direction=Message.Direction.INBOUND,
    ).update(text=edit.text, edited_at=edit.edited_at)


def _identity_upsert(channel: Channel, contact: InboundContact) -> ContactIdentity:
    identity = (
        ContactIdentity.objects.select_related("contact")
        .filter(channel=channel, external_id=contact.external_id)
        .first()
    )
    if identity is None:
        try:
            with transaction.atomic():
                person = Contact.objects.create(
                    business_id=channel.business_id,
                    name=contact.name or contact.handle,
                    avatar_url=contact.avatar_url,
                )
                return ContactIdentity.objects.create(
                    contact=person,
                    channel=channel,
                    external_id=contact.external_id,
                    handle=contact.handle,
                )
        except IntegrityError:
            return ContactIdentity.objects.select_related("contact").get(
                channel=channel, external_id=contact.external_id
            )
    if contact.handle and identity.handle != contact.handle:
        identity.handle = contact.handle
        identity.save(update_fields=["handle"])
    person = identity.contact
    if (contact.name and person.name != contact.name) or (
        contact.avatar_url and person.avatar_url != contact.avatar_url
    ):
        person.name = contact.name or person.name
        person.avatar_url = contact.avatar_url or person.avatar_url
        person.save(update_fields=["name", "avatar_url"])
    return identity


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
    conversation, _ = Conversation.objects.get_or_create(
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
    return conversation

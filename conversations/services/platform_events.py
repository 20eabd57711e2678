"""What a platform tells about messages and customers beyond new messages:
later parts of a message sent in parts (albums), deletions, reactions,
opt-outs, a customer's new id, and alerts about the channel itself. Called
by `ingest`, in its transaction, in the order the platform sent them.

Each function returns how many stored rows it changed (0 when it concerns
nothing PingBack has: a reaction to a message it never stored, say), so a
replayed event changes nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from channels_app.models import Channel
from channels_app.platforms.base import (
    AttachmentsAdded,
    ChannelAlert,
    ContactOptOut,
    IdentityMoved,
    MessageDeletion,
    Reaction,
)
from channels_app.services.channels import channel_alert_set
from conversations import realtime
from conversations.models import ContactIdentity, Conversation, Message
from conversations.services.attachments import attachment_needs_fetch
from conversations.services.replies import message_preview


def attachments_added_apply(*, channel: Channel, added: AttachmentsAdded) -> int:
    """Append an album part's attachments and caption to the customer's stored
    message (see `AttachmentsAdded`); returns 1 when it changed, else 0 (a
    redelivered part, the part that stored the message, or no such message).

    Safe with parts ingested at once by several workers: the message row is
    locked (`SELECT ... FOR UPDATE`) and re-read before it is changed, so each
    part appends to what the others wrote. A part whose ingest stores the
    album message is not visible to the others before its commit: their
    insert of the same platform id waits on the unique constraint, then reads
    as a duplicate, and their append comes after. Attachments are only ever
    appended, so the indexes a running media fetch writes back to stay right.
    The conversation's preview follows when the message is its newest. New
    attachments the platform holds are fetched (`fetch_message_media`)
    after commit."""
    message = (
        Message.objects.select_for_update()
        .filter(
            channel=channel,
            platform_message_id=added.platform_message_id,
            direction=Message.Direction.INBOUND,
        )
        .only("pk", "conversation_id", "text", "attachments", "sent_at")
        .first()
    )
    if message is None:
        return 0
    attachments = list(message.attachments or ())
    refs = {a.get("ref") for a in attachments if a.get("ref")}
    new = [
        dict(a)
        for a in added.attachments
        if not (a.get("ref") in refs if a.get("ref") else a in attachments)
    ]
    text = message.text
    if added.caption and added.caption not in text:
        text = f"{text}\n{added.caption}" if text else added.caption
    if not new and text == message.text:
        return 0
    Message.objects.filter(pk=message.pk).update(
        attachments=attachments + new, text=text, updated_at=timezone.now()
    )
    # The inbox preview, when this message is the conversation's newest:
    # the caption may come with a later part than the one that stored it.
    Conversation.objects.filter(
        pk=message.conversation_id, last_message_at=message.sent_at
    ).update(last_message_preview=message_preview(text, attachments + new))
    if new:
        realtime.publish_message_attachments(message, channel.business_id)
    if text != message.text:
        realtime.publish_message_edited(channel.pk, added.platform_message_id)
    if any(attachment_needs_fetch(a) for a in new):
        from channels_app.tasks import fetch_message_media

        transaction.on_commit(lambda: fetch_message_media.delay(message.pk))
    return 1


def message_deletion_apply(*, channel: Channel, deletion: MessageDeletion) -> int:
    """Mark the customer's message deleted (kept for the agents, shown as
    deleted). An earlier deletion time stands."""
    changed = Message.objects.filter(
        channel=channel,
        platform_message_id=deletion.platform_message_id,
        direction=Message.Direction.INBOUND,
        deleted_at__isnull=True,
    ).update(deleted_at=deletion.deleted_at)
    if changed:
        realtime.publish_message_edited(channel.pk, deletion.platform_message_id)
    return changed


def reaction_apply(*, channel: Channel, reaction: Reaction) -> int:
    """Set (or with an empty emoji, remove) the customer's reaction to a
    message of the channel, inbound or outbound. A customer has at most one
    reaction per message, as on every platform PingBack connects."""
    message = (
        Message.objects.select_for_update()
        .filter(channel=channel, platform_message_id=reaction.platform_message_id)
        .only("pk", "reactions")
        .first()
    )
    if message is None:
        return 0
    reactions = reactions_with(
        message.reactions, by="contact", emoji=reaction.emoji, at=reaction.reacted_at
    )
    if reactions == message.reactions:
        return 0
    Message.objects.filter(pk=message.pk).update(reactions=reactions)
    realtime.publish_message_edited(channel.pk, reaction.platform_message_id)
    return 1


def reactions_with(
    reactions: list[dict],
    *,
    by: str,
    emoji: str,
    at: datetime,
    author_id: int | None = None,
) -> list[dict]:
    """`reactions` (a `Message.reactions` list) with the reaction of `by`
    (`contact`, or `agent` with `author_id`) replaced by `emoji`, or removed
    when `emoji` is empty."""
    mine = {"by": by} if author_id is None else {"by": by, "author_id": author_id}
    kept = [
        item
        for item in reactions or []
        if any(item.get(key) != value for key, value in mine.items())
    ]
    if emoji:
        kept.append({**mine, "emoji": emoji, "at": at.isoformat()})
    return kept


def contact_opt_out_apply(*, channel: Channel, opt_out: ContactOptOut) -> int:
    """Record that the customer stopped (or resumed) accepting messages on
    the channel. Returns 0 for a customer PingBack has never heard from."""
    identities = ContactIdentity.objects.filter(
        channel=channel, external_id=opt_out.external_id
    )
    if opt_out.opted_out:
        return identities.filter(
            Q(opted_out_at__isnull=True) | ~Q(opted_out_reason=opt_out.reason[:255])
        ).update(
            opted_out_at=opt_out.occurred_at, opted_out_reason=opt_out.reason[:255]
        )
    return identities.filter(opted_out_at__isnull=False).update(
        opted_out_at=None, opted_out_reason=""
    )


def identity_move_apply(*, channel: Channel, moved: IdentityMoved) -> int:
    """Move the customer's identity, and the threads keyed by their old id
    (or `old_thread_key`), to their new id (or `new_thread_key`). Nothing
    moves when the new id already has an identity on the channel (the
    customer wrote from it first): the two contacts are then the same
    person, which the merge suggestions offer."""
    if ContactIdentity.objects.filter(
        channel=channel, external_id=moved.new_external_id
    ).exists():
        return 0
    changed = ContactIdentity.objects.filter(
        channel=channel, external_id=moved.old_external_id
    ).update(external_id=moved.new_external_id)
    old_key = moved.old_thread_key or moved.old_external_id
    new_key = moved.new_thread_key or moved.new_external_id
    if (
        changed
        and not Conversation.objects.filter(
            channel=channel, thread_key=new_key
        ).exists()
    ):
        Conversation.objects.filter(channel=channel, thread_key=old_key).update(
            thread_key=new_key
        )
    return changed


def channel_alert_apply(*, channel: Channel, alert: ChannelAlert) -> int:
    """Show the platform's alert about the channel to its admins."""
    channel_alert_set(channel=channel, alert=alert.alert)
    return 1

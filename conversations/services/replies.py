"""`post_reply`: an agent's reply, queued and handed to the delivery worker."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, Message
from pingback.errors import ApplicationError, ChannelInactive

MAX_REPLY_LENGTH = 10_000


def post_reply(
    *, conversation: Conversation, author: AbstractBaseUser, text: str
) -> Message:
    """Store an outbound message as `queued` and, once committed, schedule
    `deliver_message` for it. Returns the message.

    Raises `ChannelInactive` (409) when the conversation's channel is deactivated
    or deleted, and `ApplicationError` (400) for an empty or too long text.
    """
    from channels_app.tasks import deliver_message as deliver_message_task

    text = text.strip()
    if not text:
        raise ApplicationError("A reply needs some text.", code="empty_reply")
    if len(text) > MAX_REPLY_LENGTH:
        raise ApplicationError(
            f"A reply may have at most {MAX_REPLY_LENGTH} characters.",
            code="reply_too_long",
        )
    channel = conversation.channel
    if channel is None:
        raise ChannelInactive(
            "This conversation's channel was deleted; it cannot send replies."
        )
    if not channel.is_active:
        raise ChannelInactive(
            f"The {channel.get_type_display()} channel is deactivated; "
            "reactivate it to send replies."
        )
    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            channel=channel,
            direction=Message.Direction.OUTBOUND,
            text=text,
            author=author,
            status=Message.Status.QUEUED,
            sent_at=now,
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=now, last_message_preview=text[:200], unread_count=0
        )
        transaction.on_commit(lambda: deliver_message_task.delay(message.pk))
    return message

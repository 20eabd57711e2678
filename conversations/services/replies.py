"""`post_reply`: an agent's reply, queued and handed to the delivery worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from conversations import realtime
from conversations.models import Conversation, Message
from conversations.services.attachments import attachments_store_uploads
from pingback.errors import ApplicationError, ChannelInactive

MAX_REPLY_LENGTH = 10_000
PREVIEW_LENGTH = 200


def message_preview(text: str, attachments: Sequence[dict[str, Any]] = ()) -> str:
    """The inbox's one-line preview: the text, or `[image]`-style labels."""
    if text:
        return text[:PREVIEW_LENGTH]
    labels = " ".join(f"[{a.get('kind') or 'file'}]" for a in attachments)
    return labels[:PREVIEW_LENGTH]


def template_text(template: dict[str, Any]) -> str:
    """How a template message reads in the thread, e.g.
    `Template order_update (en_US): 4521, Friday`."""
    parameters = ", ".join(template.get("parameters") or ())
    text = f"Template {template['name']} ({template['language']})"
    return f"{text}: {parameters}" if parameters else text


def post_reply(
    *,
    conversation: Conversation,
    author: AbstractBaseUser,
    text: str = "",
    files: Sequence[UploadedFile] = (),
    template: dict[str, Any] | None = None,
) -> Message:
    """Store an outbound message as `queued` (the outbox row: what must be
    sent) and, once committed, hand it to the delivery workers
    (`channels_app.services.outbox`); a broker outage delays it, never loses
    it. Returns the message.

    `files` are stored and sent with the text (a reply needs text or files).
    `template` (`{name, language, parameters: [str]}`) sends an approved
    template instead of free-form text, on platforms that support templates
    (WhatsApp: the only way to write outside the 24-hour window).

    Raises `ChannelInactive` (409) when the conversation's channel is deactivated
    or deleted, and `ApplicationError` (400) for an empty or too long reply, too
    many or too large files, or a template the channel cannot send.
    """
    from channels_app.platforms import get_platform
    from channels_app.services.outbox import outbox_due_at, outbox_hand_off

    text = text.strip()
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
    kind = "message"
    if template is not None:
        if not get_platform(channel.type).supports_templates:
            raise ApplicationError(
                f"{channel.get_type_display()} channels do not send templates.",
                code="templates_unsupported",
            )
        if files:
            raise ApplicationError(
                "A template message cannot carry files.", code="template_with_files"
            )
        kind, text = "template", template_text(template)
    elif not text and not files:
        raise ApplicationError("A reply needs some text or a file.", code="empty_reply")
    attachments = attachments_store_uploads(
        business_id=conversation.business_id, uploads=files
    )
    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            channel=channel,
            direction=Message.Direction.OUTBOUND,
            kind=kind,
            text=text,
            attachments=attachments,
            template=template,
            author=author,
            status=Message.Status.QUEUED,
            sent_at=now,
            next_attempt_at=outbox_due_at(now=now),
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=now,
            last_message_preview=message_preview(text, attachments),
            unread_count=0,
        )
        realtime.publish_message_created(message)
        transaction.on_commit(lambda: outbox_hand_off(message.pk))
    return message

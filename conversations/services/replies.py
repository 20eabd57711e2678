"""`post_reply`: an agent's reply, queued and handed to the delivery worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from conversations import realtime
from conversations.models import Conversation, DeliveryAttempt, Message
from conversations.services.attachments import attachments_store_uploads
from conversations.services.conversations import last_message_at_copy
from pingback.errors import ApplicationError, ChannelInactive, MessageStateConflict
from reports.services import reply_recorded
from webhooks.services import events as webhook_events

MAX_REPLY_LENGTH = 10_000
PREVIEW_LENGTH = 200


class ReplyRefused(ApplicationError):
    """A reply its channel cannot carry (400): `field` names what is wrong,
    `text` (empty or too long) or `files` (too many, too large, or none
    allowed on this channel)."""

    def __init__(self, detail: str, *, code: str, field: str) -> None:
        super().__init__(detail, code=code)
        self.field = field


def file_size_label(size: int) -> str:
    """Bytes as people read them: `512 bytes`, `300 KB`, `16 MB`, `30.2 MB`."""
    if size < 1024:
        return f"{size} bytes"
    if size < 2**20:
        return f"{size / 1024:.0f} KB"
    return f"{size / 2**20:.1f}".removesuffix(".0") + " MB"


def reply_check(
    *, conversation: Conversation, text: str, files: Sequence[UploadedFile] = ()
) -> None:
    """Refuse a reply `conversation`'s channel cannot carry, by the
    capabilities table (`channels_app.platforms.capabilities.capabilities_for`):
    no text and no file, text over the channel's limit, files on a channel that
    takes none, more files than it takes, or a file over its size limit.
    `text` is checked as given (strip it first). Raises `ReplyRefused` (400,
    `field` `text` or `files`); returns None when the reply fits."""
    from channels_app.platforms.capabilities import capabilities_for

    capabilities = capabilities_for(conversation)
    if not text and not files:
        raise ReplyRefused(
            "A reply needs some text or a file.", code="empty_reply", field="text"
        )
    refusal = capabilities.text_refusal(len(text))
    if refusal:
        raise ReplyRefused(refusal, code="reply_too_long", field="text")
    if files and not capabilities.supports_files:
        raise ReplyRefused(
            f"PingBack cannot send files on {capabilities.label}; send the text alone.",
            code="attachments_unsupported",
            field="files",
        )
    if len(files) > capabilities.max_files:
        raise ReplyRefused(
            f"{capabilities.text_noun} may carry at most {capabilities.max_files} "
            f"files; this reply has {len(files)}.",
            code="too_many_attachments",
            field="files",
        )
    limit = capabilities.max_file_bytes
    for upload in files:
        if (upload.size or 0) > limit:
            raise ReplyRefused(
                f"{capabilities.label} takes files up to {file_size_label(limit)}; "
                f"{upload.name} is {file_size_label(upload.size or 0)}.",
                code="attachment_too_large",
                field="files",
            )


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
    or deleted; `ReplyRefused` (400, naming `text` or `files`) for an empty
    reply or one over the channel's limits (`reply_check`: text length, number
    and size of files, by the capabilities table); `ApplicationError` (400) for
    a template the channel cannot send. Nothing is stored or queued when it
    refuses.
    """
    from channels_app.platforms import get_platform
    from channels_app.services.outbox import outbox_due_at, outbox_hand_off

    text = text.strip()
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
    else:
        reply_check(conversation=conversation, text=text, files=files)
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
        last_message_at_copy([conversation.pk])
        reply_recorded(message)
        realtime.publish_message_created(message)
        webhook_events.messages_created([message])
        transaction.on_commit(lambda: outbox_hand_off(message.pk))
    return message


def post_automatic_reply(
    *, conversation: Conversation, text: str, automatic: str
) -> Message:
    """Queue a message PingBack itself writes to the customer (no author),
    through the same outbox and delivery workers as an agent's reply. It is
    marked `details["automatic"] = automatic` (`away_message`), which the
    thread and the API show, so agents see nobody typed it. Unlike an agent's
    reply it leaves the conversation's unread count, preview and last
    activity alone: the customer's message is still the one to answer.

    The caller checks the channel is active and the text fits it
    (`reply_check`); this only stores and hands off. Returns the message."""
    from channels_app.services.outbox import outbox_due_at, outbox_hand_off

    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            channel_id=conversation.channel_id,
            direction=Message.Direction.OUTBOUND,
            text=text,
            details={"automatic": automatic},
            status=Message.Status.QUEUED,
            sent_at=now,
            next_attempt_at=outbox_due_at(now=now),
        )
        realtime.publish_message_created(message)
        transaction.on_commit(lambda: outbox_hand_off(message.pk))
    return message


def post_note(
    *, conversation: Conversation, author: AbstractBaseUser, text: str
) -> Message:
    """Store an agent's private note in the thread: a message of kind `note`,
    outbound, status `received` (nothing to deliver), authored by `author`.
    A note is never queued, never handed to the outbox and never sent through
    the channel, so it can be written on a deactivated or deleted channel's
    conversation too. It leaves the conversation's `last_message_at`,
    `last_message_preview` and unread count as they are (the inbox list shows
    the conversation with the customer). Agents hear of it on commit. Agents
    it names with `@name` are mentioned (`conversations.services.mentions`);
    their user ids are set on the note as `mentioned_user_ids`. Returns the
    note.

    Raises `ApplicationError` (400) for an empty or too long text."""
    from conversations.services.mentions import mentions_create

    text = text.strip()
    if not text:
        raise ApplicationError("A note needs some text.", code="empty_note")
    if len(text) > MAX_REPLY_LENGTH:
        raise ApplicationError(
            f"A note may have at most {MAX_REPLY_LENGTH} characters.",
            code="note_too_long",
        )
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            channel_id=conversation.channel_id,
            direction=Message.Direction.OUTBOUND,
            kind=Message.NOTE,
            text=text,
            author=author,
            status=Message.Status.RECEIVED,
            sent_at=timezone.now(),
        )
        realtime.publish_message_created(message)
        message.mentioned_user_ids = mentions_create(note=message, author=author)
    return message


def message_retry(*, message: Message) -> Message:
    """Send an outbound message again at an agent's request: one that
    `failed`, or one left `uncertain` by a worker that died mid-send (the
    agent has judged the customer did not get it). Puts it back to `queued`
    with a fresh run of retries and hands it to the delivery workers once
    committed. Returns the message as updated.

    Raises `MessageStateConflict` (409) unless the message is outbound and
    failed or uncertain, and `ChannelInactive` (409) when its channel is
    deactivated or deleted.
    """
    from channels_app.services.outbox import outbox_due_at, outbox_hand_off

    with transaction.atomic():
        locked = _outbound_locked(
            message, {Message.Status.FAILED, Message.Status.UNCERTAIN}
        )
        channel = locked.channel
        if channel is None or not channel.is_active:
            raise ChannelInactive(
                "This message's channel is deactivated or deleted; it cannot be sent."
            )
        locked.status = Message.Status.QUEUED
        locked.error = ""
        locked.next_attempt_at = outbox_due_at()
        locked.save(update_fields=["status", "error", "next_attempt_at", "updated_at"])
        DeliveryAttempt.objects.create(
            message=locked, outcome=DeliveryAttempt.Outcome.RETRIED
        )
        realtime.publish_message_status(locked.pk)
        transaction.on_commit(lambda: outbox_hand_off(locked.pk))
    return locked


def messages_retry(*, business_id: object, message_ids: Sequence[int]) -> list[int]:
    """Retry several of a business's failed or uncertain replies at once (an
    admin's bulk Retry); those that no longer fit (already retried, sent, or
    on a deactivated channel) are skipped. Returns the ids retried. Ids of
    another business's messages are ignored."""
    retried = []
    for message in Message.objects.filter(
        pk__in=message_ids, conversation__business_id=business_id
    ).order_by("pk"):
        try:
            message_retry(message=message)
        except ApplicationError:
            continue
        retried.append(message.pk)
    return retried


def message_mark_sent(*, message: Message) -> Message:
    """Record, at an agent's word, that an `uncertain` outbound message did
    reach the customer (e.g. they answered it): it becomes `sent`, with no
    platform message id, and is never sent again. Returns the message.

    Raises `MessageStateConflict` (409) unless the message is outbound and
    uncertain.
    """
    with transaction.atomic():
        locked = _outbound_locked(message, {Message.Status.UNCERTAIN})
        locked.status = Message.Status.SENT
        locked.error = ""
        locked.save(update_fields=["status", "error", "updated_at"])
        DeliveryAttempt.objects.create(
            message=locked, outcome=DeliveryAttempt.Outcome.MARKED_SENT
        )
        realtime.publish_message_status(locked.pk)
        webhook_events.message_status_changed(locked.pk, locked.status, "marked")
    return locked


def _outbound_locked(message: Message, allowed: set[str]) -> Message:
    locked = (
        Message.objects.select_for_update(of=("self",))
        .select_related("channel")
        .get(pk=message.pk)
    )
    if locked.direction != Message.Direction.OUTBOUND or locked.status not in allowed:
        raise MessageStateConflict(
            f"This message is {locked.get_status_display().lower()}; "
            "only failed or uncertain replies can be retried, and only "
            "uncertain ones marked as sent.",
            code="message_state",
        )
    return locked

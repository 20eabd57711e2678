"""Attachments: agents' uploads, inbound media fetched from platforms, and the
signed links that show them to agents and hand them to platforms.

An attachment is a descriptor dict in `Message.attachments` (keys documented on
`channels_app.platforms.base.InboundMessage`); once PingBack holds the file,
`stored` names it in the default storage: the local file system under
`settings.MEDIA_ROOT`, or the S3-compatible bucket every host shares
(`settings.STORAGES`, `pingback.storage`). Files are only ever read and written
through Django's storage API.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse

from conversations import realtime
from conversations.models import Message
from pingback.errors import ApplicationError

logger = logging.getLogger(__name__)

MAX_FILES_PER_REPLY = 10
_LINK_SALT = "pingback.attachment"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def attachment_kind(content_type: str) -> str:
    """`image`, `video`, `audio` or `document`, from a MIME type."""
    major = content_type.split("/", 1)[0]
    return major if major in {"image", "video", "audio"} else "document"


def _safe_name(filename: str) -> str:
    name = _UNSAFE_NAME.sub("_", filename.rsplit("/", 1)[-1]).strip("._")
    return name[:100] or "file"


def attachment_store_upload(
    *, business_id: Any, upload: UploadedFile
) -> dict[str, Any]:
    """Store an agent's uploaded file; return its attachment descriptor
    `{kind, filename, content_type, size, stored}`.

    Raises `ApplicationError` (400) for an empty or too large file
    (`settings.MEDIA_MAX_BYTES`).
    """
    size = upload.size or 0
    if size == 0:
        raise ApplicationError(f"{upload.name} is empty.", code="empty_attachment")
    if size > settings.MEDIA_MAX_BYTES:
        raise ApplicationError(
            f"{upload.name} is larger than {settings.MEDIA_MAX_BYTES // 2**20} MB.",
            code="attachment_too_large",
        )
    filename = upload.name or "file"
    content_type = (
        upload.content_type
        or mimetypes.guess_type(filename)[0]
        or "application/octet-stream"
    )
    stored = default_storage.save(
        f"attachments/{business_id}/outbound/{uuid.uuid4().hex}-{_safe_name(filename)}",
        upload,
    )
    return {
        "kind": attachment_kind(content_type),
        "filename": filename,
        "content_type": content_type,
        "size": size,
        "stored": stored,
    }


def attachments_store_uploads(
    *, business_id: Any, uploads: Sequence[UploadedFile]
) -> list[dict[str, Any]]:
    """Store up to `MAX_FILES_PER_REPLY` uploads; see `attachment_store_upload`."""
    if len(uploads) > MAX_FILES_PER_REPLY:
        raise ApplicationError(
            f"A reply may carry at most {MAX_FILES_PER_REPLY} files.",
            code="too_many_attachments",
        )
    return [
        attachment_store_upload(business_id=business_id, upload=upload)
        for upload in uploads
    ]


# ------------------------------------------------------------------------ links


def attachment_link(
    message_id: int, index: int, *, absolute: bool = False, for_platform: bool = False
) -> str:
    """A signed link to attachment `index` of message `message_id`, valid for
    `settings.ATTACHMENT_LINK_MAX_AGE` seconds. `absolute` prefixes
    `PINGBACK_PUBLIC_BASE_URL`, for platforms that fetch media by URL.
    `for_platform` links (handed to Twilio MMS, Instagram, ...) always stream
    the file through PingBack, even where agents' links redirect to a
    pre-signed storage URL: a platform's fetcher gets the bytes in one answer,
    whenever it comes."""
    payload = [message_id, index, 1] if for_platform else [message_id, index]
    token = signing.dumps(payload, salt=_LINK_SALT, compress=True)
    path = reverse("attachment", kwargs={"token": token})
    return settings.PINGBACK_PUBLIC_BASE_URL + path if absolute else path


@dataclass(frozen=True)
class ResolvedAttachment:
    """What a signed link points at: the message and its attachment dict;
    `for_platform` when the link was made for a platform to fetch."""

    message: Message
    attachment: dict[str, Any]
    for_platform: bool = False


def attachment_resolve(token: str) -> ResolvedAttachment | None:
    """The attachment a link from `attachment_link` names, or None when the
    token is forged, expired or names nothing."""
    try:
        message_id, index, *flags = signing.loads(
            token, salt=_LINK_SALT, max_age=settings.ATTACHMENT_LINK_MAX_AGE
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(index, int):
        return None
    message = Message.objects.filter(pk=message_id).first()
    if message is None or not 0 <= index < len(message.attachments):
        return None
    return ResolvedAttachment(
        message=message,
        attachment=message.attachments[index],
        for_platform=bool(flags and flags[0]),
    )


def attachment_file_open(stored: str) -> tuple[BinaryIO, int | None]:
    """The stored file `stored` opened for reading, and its size in bytes when
    the storage tells it without reading (an S3 object, streamed from the
    bucket as it is read); None when the file itself tells (the file
    system). Close it after use. Raises `FileNotFoundError` when the file is
    gone (erased, or removed from the storage)."""
    open_stream = getattr(default_storage, "open_stream", None)
    if open_stream is not None:
        return open_stream(stored)
    return default_storage.open(stored, "rb"), None


def attachment_redirect_url(
    stored: str, *, content_type: str, filename: str, inline: bool
) -> str | None:
    """Where to redirect a browser for `stored` instead of streaming it: a
    pre-signed storage URL that answers with `content_type` and an `inline`
    or `attachment` disposition naming `filename`, valid
    `PINGBACK_MEDIA_REDIRECT_MAX_AGE` seconds; None unless the storage is a
    bucket with the `redirect` option (`pingback.storage_s3`)."""
    if not getattr(default_storage, "redirect", False):
        return None
    return default_storage.signed_url(
        stored, content_type=content_type, filename=filename, inline=inline
    )


# ----------------------------------------------------------------- inbound media


def attachment_needs_fetch(attachment: dict[str, Any]) -> bool:
    """Whether an inbound attachment has media PingBack has not fetched yet
    (never for a `link_only` one: a link the platform forbids storing or that
    points at someone else's post, shown as the link)."""
    return bool(
        (attachment.get("ref") or attachment.get("url"))
        and not attachment.get("stored")
        and not attachment.get("fetch_error")
        and not attachment.get("link_only")
    )


def message_media_fetch(*, message_id: int, final_attempt: bool = False) -> int:
    """Download the media of inbound message `message_id` through its channel's
    platform (`Platform.fetch_media`) and store it. Returns how many files were
    stored. Idempotent: stored attachments are skipped.

    A permanent refusal or an oversized file is recorded as the attachment's
    `fetch_error` (shown to agents); a `TransientDeliveryError` propagates so
    the task retries, unless `final_attempt`, when it is recorded too.
    """
    from channels_app.platforms import get_platform
    from channels_app.platforms.base import (
        DeliveryError,
        TransientDeliveryError,
    )

    message = Message.objects.select_related("channel").filter(pk=message_id).first()
    if message is None or message.channel is None:
        return 0
    platform = get_platform(message.channel.type)
    updates: dict[int, dict[str, Any]] = {}
    for index, attachment in enumerate(message.attachments):
        if not attachment_needs_fetch(attachment):
            continue
        try:
            media = platform.fetch_media(message.channel, attachment)
        except TransientDeliveryError as error:
            if not final_attempt:
                raise
            updates[index] = {"fetch_error": error.reason}
            continue
        except DeliveryError as error:
            updates[index] = {"fetch_error": error.reason}
            continue
        if media is None:
            continue
        if len(media.content) > settings.MEDIA_MAX_BYTES:
            updates[index] = {"fetch_error": "The file is too large to keep."}
            continue
        filename = attachment.get("filename") or media.filename or f"{index}"
        if "." not in filename:
            extension = mimetypes.guess_extension(media.content_type) or ""
            filename += extension
        stored = default_storage.save(
            f"attachments/{message.channel.business_id}/{message.pk}/"
            f"{index}-{_safe_name(filename)}",
            ContentFile(media.content),
        )
        updates[index] = {
            "stored": stored,
            "filename": filename,
            "content_type": attachment.get("content_type") or media.content_type,
            "size": len(media.content),
        }
    if updates:
        with transaction.atomic():
            locked = Message.objects.select_for_update().get(pk=message.pk)
            attachments = list(locked.attachments)
            for index, changes in updates.items():
                attachments[index] = {**attachments[index], **changes}
            locked.attachments = attachments
            locked.save(update_fields=["attachments", "updated_at"])
            realtime.publish_message_attachments(locked, message.channel.business_id)
    stored_count = sum(1 for changes in updates.values() if "stored" in changes)
    logger.info(
        "media.fetched",
        extra={"message_id": message_id, "stored": stored_count, "tried": len(updates)},
    )
    return stored_count

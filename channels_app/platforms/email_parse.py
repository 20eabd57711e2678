"""Reading one RFC 822 message with the stdlib (`email.policy.default`):
ids, threading headers, auto-reply rules, bodies, attachments. What the
customer wrote apart from quoted history and signature: `email_reply`.

Pure functions, no ORM and no network. Sources: RFC 5322 (Message-ID,
In-Reply-To, References), RFC 3834 (Auto-Submitted), RFC 2919 (List-Id),
RFC 3676 (format=flowed), RFC 2392 (Content-ID), docs/platforms/email.md,
"Parsing" and "Threading".
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import mimetypes
import re
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.message import EmailMessage
from typing import Any, cast

from channels_app.platforms.base import InboundContact, MalformedPayload

MAX_ID_LENGTH = 255
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond")

# ------------------------------------------------------------------- the message


def mail_parse(raw: bytes) -> EmailMessage:
    """Parse raw RFC 822 bytes; raise `MalformedPayload` unless they are a
    message with a sender (`From` with an address)."""
    if not raw.strip():
        raise MalformedPayload("body: empty")
    mail = cast(
        EmailMessage, email.message_from_bytes(raw, policy=email.policy.default)
    )
    if mail.get("From") is None:
        raise MalformedPayload("From: missing (the body is not an e-mail message)")
    if not sender_address(mail):
        raise MalformedPayload("From: no address")
    return mail


def _header(mail: EmailMessage, name: str) -> str:
    try:
        value = mail.get(name)
    except (HeaderParseError, IndexError, ValueError):
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def sender(mail: EmailMessage) -> InboundContact:
    """The contact: the `From` address, lower-cased, and its display name."""
    return InboundContact(
        external_id=sender_address(mail),
        name=mail["From"].addresses[0].display_name or "",
    )


def sender_address(mail: EmailMessage) -> str:
    """The `From` address, lower-cased, or "" when there is none."""
    try:
        addresses = mail["From"].addresses
    except (AttributeError, HeaderParseError, IndexError, ValueError):
        return ""
    if not addresses or "@" not in addresses[0].addr_spec:
        return ""
    return addresses[0].addr_spec.lower()


def subject(mail: EmailMessage) -> str:
    """The subject, RFC 2047 words decoded and folding undone."""
    return _header(mail, "Subject")


def sent_at(mail: EmailMessage) -> datetime:
    """`Date`, else the newest `Received` stamp, else now (UTC when the header
    gives no zone)."""
    stamps = [_header(mail, "Date")]
    stamps += [value.rpartition(";")[2] for value in mail.get_all("Received") or ()]
    for stamp in stamps:
        try:
            moment = email.utils.parsedate_to_datetime(stamp.strip())
        except (TypeError, ValueError, IndexError):
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(tz=UTC)


# --------------------------------------------------------------------------- ids


def id_normalise(value: str) -> str:
    """A Message-ID as PingBack stores it: angle brackets and whitespace
    stripped; an id longer than 255 characters is replaced by `sha256:<hex>` of
    it. The case is kept: ids are compared exactly by the mail clients our
    replies must thread in (RFC 5322 §3.6.4), so `In-Reply-To` must repeat them
    as they were written."""
    found = _ANGLE_ID.search(value)
    normalised = found.group(1) if found else value.strip().strip("<>")
    if len(normalised) > MAX_ID_LENGTH:
        return "sha256:" + hashlib.sha256(normalised.encode()).hexdigest()
    return normalised


def header_ids(mail: EmailMessage, name: str) -> list[str]:
    """The normalised ids in `Message-ID`, `In-Reply-To` or `References`, in
    order (`<…>` tokens; a bare token when a client left out the brackets)."""
    value = _header(mail, name)
    tokens = _ANGLE_ID.findall(value) or value.split()[:1]
    return [id_normalise(token) for token in tokens]


def is_real_id(platform_id: str) -> bool:
    """Whether a platform id is a Message-ID (not a hash standing in for one)."""
    return bool(platform_id) and not platform_id.startswith("sha256:")


def event_key(mail: EmailMessage, raw: bytes) -> str:
    """The dedupe key: the normalised Message-ID lower-cased, or `sha256:` +
    the SHA-256 of the raw bytes when the message has none (docs/platforms/email.md,
    "Parsing")."""
    ids = header_ids(mail, "Message-ID")
    return ids[0].lower() if ids else "sha256:" + hashlib.sha256(raw).hexdigest()


def thread_key(mail: EmailMessage, own_id: str) -> str:
    """The thread root: the first id of `References`, else `In-Reply-To`, else
    the message's own id (docs/platforms/email.md, "Threading")."""
    for name in ("References", "In-Reply-To"):
        ids = header_ids(mail, name)
        if ids:
            return ids[0]
    return own_id


# ---------------------------------------------------------------- what to ignore


def ignore_reason(mail: EmailMessage, own_address: str) -> str:
    """Why an inbound mail must not become a message (auto-replies, bounces,
    mailing lists, our own mail looping back), or "" (docs/platforms/email.md,
    "Parsing")."""
    auto_submitted = _header(mail, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"automatic message (Auto-Submitted: {auto_submitted})"
    precedence = _header(mail, "Precedence").lower()
    if precedence in BULK_PRECEDENCE:
        return f"bulk mail (Precedence: {precedence})"
    if _header(mail, "List-Id"):
        return f"mailing list mail (List-Id: {_header(mail, 'List-Id')})"
    for name in AUTOREPLY_HEADERS:
        if _header(mail, name):
            return f"automatic reply ({name})"
    if "Return-Path" in mail and _header(mail, "Return-Path") in ("<>", ""):
        return "bounce (empty Return-Path)"
    if own_address and sender_address(mail) == own_address.lower():
        return "mail from the channel's own address (loop)"
    return ""


# ------------------------------------------------------------- bodies, attachments


def _text_of(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, ValueError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def body_parts(mail: EmailMessage) -> tuple[EmailMessage | None, EmailMessage | None]:
    """The text/plain and text/html bodies (`EmailMessage.get_body`), if any."""
    return mail.get_body(("plain",)), mail.get_body(("html",))


def flowed_decode(text: str, *, delsp: bool = False) -> str:
    """A `format=flowed` text as its writer wrote it (RFC 3676 §4): a line
    ending in a space goes on in the next line of the same quote depth (the
    space dropped when `delsp`), the space stuffed at a line's start goes,
    and quoted lines are written back as `> ` per level. The signature line
    `-- ` is never joined."""
    paragraphs: list[tuple[int, str]] = []
    pending: str | None = None
    pending_depth = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        if pending is not None and depth != pending_depth:
            paragraphs.append((pending_depth, pending))
            pending = None
        if content.endswith(" ") and content != "-- ":
            pending = (pending or "") + (content[:-1] if delsp else content)
            pending_depth = depth
            continue
        paragraphs.append((depth, (pending or "") + content))
        pending = None
    if pending is not None:
        paragraphs.append((pending_depth, pending))
    return "\n".join(
        ("> " * depth if depth else "") + content for depth, content in paragraphs
    )


def _plain_text_of(part: EmailMessage) -> str:
    text = _text_of(part)
    if str(part.get_param("format", "")).lower() == "flowed":
        delsp = str(part.get_param("delsp", "")).lower() == "yes"
        return flowed_decode(text, delsp=delsp)
    return text


def bodies(mail: EmailMessage) -> tuple[str, str]:
    """The plain and HTML bodies as text ("" when absent); a `format=flowed`
    plain body is unwrapped (`flowed_decode`)."""
    plain, rich = body_parts(mail)
    return (
        _plain_text_of(plain) if plain is not None else "",
        _text_of(rich) if rich is not None else "",
    )


def _leaves(part: EmailMessage):
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        yield part
        return
    for child in part.iter_parts():
        yield from _leaves(child)


def attachment_parts(mail: EmailMessage) -> list[EmailMessage]:
    """Every part that is not one of the bodies, in document order: files,
    inline images (`cid:`), attached messages. The index in this list is the
    attachment's number in its `ref`."""
    shown = [part for part in body_parts(mail) if part is not None]
    if not mail.is_multipart():
        return []
    return [part for part in _leaves(mail) if not any(part is body for body in shown)]


def part_bytes(part: EmailMessage) -> bytes:
    """An attachment part's decoded content (an attached message as RFC 822)."""
    if part.get_content_type() == "message/rfc822":
        return part.get_payload(0).as_bytes()
    return part.get_payload(decode=True) or b""


def part_filename(part: EmailMessage, index: int) -> str:
    """The part's file name, else `attachment-<n>` with an extension guessed
    from its content type."""
    try:
        name = part.get_filename()
    except (HeaderParseError, ValueError):
        name = None
    if name:
        return name
    extension = mimetypes.guess_extension(part.get_content_type()) or ""
    return f"attachment-{index + 1}{extension}"


def attachment_descriptor(part: EmailMessage, index: int, key: str) -> dict[str, Any]:
    """The descriptor ingest stores (see `InboundMessage`): the bytes stay in
    the stored raw message, named by `ref` = `<event key>#<index>`. A part
    with a `Content-ID` (an inline image the HTML shows as `cid:<id>`, RFC
    2392) has it, without angle brackets, in `content_id`."""
    content_type = part.get_content_type()
    major = part.get_content_maintype()
    descriptor = {
        "kind": major if major in ("image", "video", "audio") else "document",
        "filename": part_filename(part, index),
        "content_type": content_type,
        "size": len(part_bytes(part)),
        "ref": f"{key}#{index}",
    }
    content_id = _header(part, "Content-ID").strip().strip("<>").strip()
    if content_id:
        descriptor["content_id"] = content_id
    return descriptor

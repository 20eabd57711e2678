"""The fake WhatsApp Cloud API: the Graph endpoints PingBack calls
(docs/platforms/whatsapp.md, "Sending").

- `GET /v<N.N>/{phone_number_id}?fields=…` → `{id, display_phone_number,
  verified_name}`;
- `POST /v<N.N>/{phone_number_id}/messages` → `{messaging_product, contacts,
  messages: [{id}]}`;
- `POST /v<N.N>/{phone_number_id}/media` (multipart `messaging_product`,
  `file`, `type`) → `{id}`;
- `GET /v<N.N>/{media_id}` → `{messaging_product, url, mime_type, sha256,
  file_size, id}`;
- `GET /_media/whatsapp/{media_id}`: the file's bytes (the `url` above).

The Graph path space is shared with the Instagram stand-in, so only paths
naming a registered phone number id or a media id issued here are claimed
(:func:`claims`). Every call needs `Authorization: Bearer <the number's access
token>`: an unknown token is refused with 190, another number's token with 100
(the object cannot be loaded). Refusals are Graph error envelopes
(:func:`sandbox.platforms.meta.graph_error`).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from sandbox.core.http import BadRequestBody, Request, Response, json_response
from sandbox.core.modes import RATE_LIMITED, SERVER_ERROR
from sandbox.platforms.meta import graph_error
from sandbox.platforms.whatsapp.payloads import (
    MESSAGING_PRODUCT,
    WINDOW_CLOSED,
    BusinessNumber,
    new_media_id,
    new_wamid,
)
from sandbox.platforms.whatsapp.state import StoredMedia

if TYPE_CHECKING:
    from sandbox.platforms.whatsapp.standin import WhatsAppStandIn

GRAPH_OBJECT = re.compile(
    r"/v\d+\.\d+/(?P<object_id>\d+)(?:/(?P<edge>messages|media))?"
)
MEDIA_DOWNLOAD = re.compile(r"/_media/whatsapp/(?P<media_id>\d+)")
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
CAPTIONED = ("image", "video", "document")
MAX_TEXT = 4096
MAX_CAPTION = 1024


class GraphRefusal(Exception):
    """A refused call, answered as a Graph error envelope."""

    def __init__(
        self, status: int, code: int, message: str, details: str = "", **extra: Any
    ) -> None:
        super().__init__(message)
        self.response = graph_error(status, code, message, details=details, **extra)


def _invalid(details: str) -> GraphRefusal:
    return GraphRefusal(400, 100, "(#100) Invalid parameter", details)


def claims(standin: WhatsAppStandIn, req: Request) -> bool:
    """Whether `req` is a Graph call for a number or media this stand-in
    holds, or a download of its media."""
    if MEDIA_DOWNLOAD.fullmatch(req.path):
        return True
    found = GRAPH_OBJECT.fullmatch(req.path)
    if found is None:
        return False
    object_id = found["object_id"]
    if standin.state.number(object_id) is not None:
        return True
    return found["edge"] is None and standin.state.media_item(object_id) is not None


def handle_graph_request(standin: WhatsAppStandIn, req: Request) -> Response:
    """Answer one claimed call; refusals become Graph error envelopes."""
    try:
        return _route(standin, req)
    except GraphRefusal as refusal:
        return refusal.response


def _route(standin: WhatsAppStandIn, req: Request) -> Response:
    download = MEDIA_DOWNLOAD.fullmatch(req.path)
    if download is not None and req.method == "GET":
        return download_media(standin, req, download["media_id"])
    found = GRAPH_OBJECT.fullmatch(req.path)
    object_id, edge = (found["object_id"], found["edge"]) if found else ("", None)
    number = standin.state.number(object_id)
    media = standin.state.media_item(object_id)
    if req.method == "GET" and edge is None and number is not None:
        _authorize(standin, req, number, object_id)
        return get_phone_number(req, number)
    owner = standin.state.number(media.phone_number_id) if media else None
    if req.method == "GET" and edge is None and media and owner:
        _authorize(standin, req, owner, object_id)
        return get_media(standin, media)
    if req.method == "POST" and edge == "messages" and number is not None:
        _authorize(standin, req, number, object_id)
        return send_message(standin, req, number)
    if req.method == "POST" and edge == "media" and number is not None:
        _authorize(standin, req, number, object_id)
        return upload_media(standin, req, number)
    raise GraphRefusal(
        400,
        100,
        f"Unsupported {req.method.lower()} request. Object with ID '{object_id}' "
        "does not support this operation.",
        subcode=33,
    )


def _bearer(req: Request) -> str:
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _authorize(
    standin: WhatsAppStandIn, req: Request, owner: BusinessNumber, object_id: str
) -> None:
    """Refuse unless the Bearer token is `owner`'s: 190 for a token Meta does
    not know, 100 (subcode 33) for a token that cannot see the object."""
    token = _bearer(req)
    if token == owner.access_token:
        return
    if token and standin.state.knows_token(token):
        raise GraphRefusal(
            400,
            100,
            f"Unsupported {req.method.lower()} request. Object with ID "
            f"'{object_id}' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.",
            subcode=33,
        )
    raise GraphRefusal(
        401, 190, "Invalid OAuth access token - Cannot parse access token"
    )


# ------------------------------------------------------------ phone numbers


def get_phone_number(req: Request, number: BusinessNumber) -> Response:
    """`GET /{phone_number_id}?fields=display_phone_number,verified_name`;
    without `fields`, both."""
    known = {
        "display_phone_number": number.display_phone_number,
        "verified_name": number.verified_name,
        "quality_rating": "GREEN",
    }
    asked = req.query.get("fields") or "display_phone_number,verified_name"
    answer = {name: known[name] for name in asked.split(",") if name in known}
    return json_response(200, {**answer, "id": number.phone_number_id})


# ----------------------------------------------------------------- messages


def _forced_failure(standin: WhatsAppStandIn) -> None:
    failure = standin.state.modes.take_failure()
    if failure == RATE_LIMITED:
        raise GraphRefusal(
            429,
            130429,
            "(#130429) Rate limit hit",
            "Cloud API message throughput has been reached.",
        )
    if failure == SERVER_ERROR:
        raise GraphRefusal(
            500, 131000, "(#131000) Something went wrong", "Something went wrong."
        )


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise _invalid(f"Param {key} must be an object")
    return value


def _text(body: dict[str, Any]) -> str:
    text = _object(body, "text")
    value = text.get("body")
    if not isinstance(value, str) or not value.strip():
        raise _invalid("Param text['body'] is required")
    if len(value) > MAX_TEXT:
        raise _invalid(f"Param text['body'] must be at most {MAX_TEXT} characters")
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise _invalid("Param text['preview_url'] must be a boolean")
    return value


def _media(
    standin: WhatsAppStandIn, body: dict[str, Any], kind: str, number: BusinessNumber
) -> dict[str, Any]:
    """Check a media object `{id | link, caption?, filename?}`."""
    media = _object(body, kind)
    media_id, link = media.get("id"), media.get("link")
    if media_id is not None:
        stored = standin.state.media_item(str(media_id))
        if stored is None or stored.phone_number_id != number.phone_number_id:
            raise GraphRefusal(
                400,
                131053,
                "(#131053) Media upload error",
                f"Unknown media id {media_id}",
            )
    elif not isinstance(link, str) or not link.startswith(("http://", "https://")):
        raise _invalid(f"Param {kind} must have an id or a link")
    caption = media.get("caption")
    if caption is not None and (
        kind not in CAPTIONED
        or not isinstance(caption, str)
        or len(caption) > MAX_CAPTION
    ):
        raise _invalid(f"Param {kind}['caption'] is not valid for {kind} messages")
    if "filename" in media and kind != "document":
        raise _invalid(f"Param {kind}['filename'] is only valid for documents")
    return media


def _reaction(body: dict[str, Any]) -> dict[str, Any]:
    """`reaction {message_id, emoji}` ("" removes the business's reaction)
    as the send record's `text` (the emoji) and `context_message_id`.
    Source: Cloud API reference, messages > reaction messages."""
    reaction = _object(body, "reaction")
    if not isinstance(reaction.get("message_id"), str):
        raise _invalid("Param reaction['message_id'] is required")
    if not isinstance(reaction.get("emoji"), str):
        raise _invalid("Param reaction['emoji'] is required")
    return {"text": reaction["emoji"], "context_message_id": reaction["message_id"]}


def _template(body: dict[str, Any], number: BusinessNumber) -> dict[str, Any]:
    """Check a template against the number's approved templates: 132001 for
    an unknown name or language, 132000 for a wrong parameter count."""
    template = _object(body, "template")
    name = template.get("name")
    language = template.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(name, str) or not isinstance(code, str):
        raise _invalid("Param template must have a name and language['code']")
    approved = number.template(name, code)
    if approved is None:
        raise GraphRefusal(
            404,
            132001,
            "(#132001) Template name does not exist in the translation",
            f"template name ({name}) does not exist in {code}",
        )
    values: list[str] = []
    for component in template.get("components") or ():
        if isinstance(component, dict) and component.get("type") == "body":
            for parameter in component.get("parameters") or ():
                if not isinstance(parameter, dict) or parameter.get("type") != "text":
                    raise _invalid("Template body parameters must be of type text")
                values.append(str(parameter.get("text", "")))
    if len(values) != approved.parameter_count:
        raise GraphRefusal(
            400,
            132000,
            "(#132000) Number of parameters does not match the expected number "
            "of params",
            f"body: number of localizable_params ({len(values)}) does not match "
            f"the expected number of params ({approved.parameter_count})",
        )
    return {
        "name": name,
        "language": code,
        "parameters": values,
        "text": approved.render(values),
    }


def send_message(
    standin: WhatsAppStandIn, req: Request, number: BusinessNumber
) -> Response:
    """`POST /{phone_number_id}/messages`: validate like Meta, enforce the
    24-hour window for free-form messages (131047, as a 400 or as a later
    `failed` status per the `window_errors` mode), record the send and
    schedule the `auto_statuses`."""
    _forced_failure(standin)
    try:
        body = req.json_object()
    except BadRequestBody as error:
        raise _invalid(str(error)) from error
    if body.get("messaging_product") != MESSAGING_PRODUCT:
        raise _invalid(
            "The parameter messaging_product is required and must be whatsapp"
        )
    to = body.get("to")
    if not isinstance(to, str) or not to.lstrip("+").isdigit():
        raise _invalid("Param to must be the recipient's phone number")
    wa_id = to.lstrip("+")
    kind = body.get("type", "text")
    record: dict[str, Any] = {
        "wamid": new_wamid(),
        "phone_number_id": number.phone_number_id,
        "to": wa_id,
        "type": kind,
        "text": "",
        "media_id": None,
        "filename": None,
        "template": None,
        "context_message_id": None,
        "payload": body,
        "window_error": None,
        "received_at": time.time(),
    }
    if kind == "text":
        record["text"] = _text(body)
    elif kind in MEDIA_TYPES:
        media = _media(standin, body, kind, number)
        record.update(
            text=media.get("caption") or "",
            media_id=media.get("id"),
            filename=media.get("filename"),
        )
    elif kind == "template":
        template = _template(body, number)
        record["text"] = template.pop("text")
        record["template"] = template
    elif kind == "reaction":
        record.update(_reaction(body))
    else:
        raise _invalid(f"Param type {kind!r} is not supported by the sandbox")
    context = body.get("context")
    if context is not None:
        if not isinstance(context, dict) or not isinstance(
            context.get("message_id"), str
        ):
            raise _invalid("Param context['message_id'] must be a string")
        record["context_message_id"] = context["message_id"]
    if kind != "template" and not standin.state.window_open(
        number.phone_number_id, wa_id
    ):
        if standin.state.modes["window_errors"] == "response":
            raise GraphRefusal(
                400,
                WINDOW_CLOSED["code"],
                f"(#{WINDOW_CLOSED['code']}) {WINDOW_CLOSED['title']}",
                WINDOW_CLOSED["details"],
            )
        record["window_error"] = WINDOW_CLOSED["code"]
    standin.state.record_send(record)
    if record["window_error"]:
        standin.schedule_statuses(record["wamid"], ["failed"])
    else:
        standin.schedule_statuses(record["wamid"], standin.state.modes["auto_statuses"])
    answer: dict[str, Any] = {
        "messaging_product": MESSAGING_PRODUCT,
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [{"id": record["wamid"]}],
    }
    if kind == "template":
        answer["messages"][0]["message_status"] = "accepted"
    return json_response(200, answer)


# -------------------------------------------------------------------- media


def _multipart(req: Request) -> dict[str, tuple[str | None, str, bytes]]:
    """A `multipart/form-data` body: field name → (filename, content type,
    bytes). Raises `GraphRefusal` when the body is not one."""
    content_type = req.headers.get("content-type", "")
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or match is None:
        raise _invalid("Upload media as multipart/form-data")
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, tuple[str | None, str, bytes]] = {}
    for part in req.body.split(delimiter)[1:-1]:
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if name is None:
            continue
        fields[name.group(1)] = (
            filename.group(1) if filename else None,
            headers.get("content-type", "text/plain"),
            content.removesuffix(b"\r\n"),
        )
    return fields


def upload_media(
    standin: WhatsAppStandIn, req: Request, number: BusinessNumber
) -> Response:
    """`POST /{phone_number_id}/media` with `messaging_product`, `file` and
    `type` (the file's MIME type) → `{id}`."""
    fields = _multipart(req)
    product = fields.get("messaging_product")
    if product is None or product[2] != MESSAGING_PRODUCT.encode():
        raise _invalid(
            "The parameter messaging_product is required and must be whatsapp"
        )
    file = fields.get("file")
    if file is None or file[0] is None or not file[2]:
        raise _invalid("The parameter file is required")
    mime_type = fields.get("type")
    if mime_type is None or "/" not in mime_type[2].decode("utf-8", "replace"):
        raise _invalid("The parameter type is required (the file's MIME type)")
    media = StoredMedia(
        media_id=new_media_id(),
        phone_number_id=number.phone_number_id,
        content=file[2],
        mime_type=mime_type[2].decode(),
        filename=file[0],
        origin="upload",
    )
    standin.state.add_media(media)
    return json_response(200, {"id": media.media_id})


def get_media(standin: WhatsAppStandIn, media: StoredMedia) -> Response:
    """`GET /{media_id}` → where to download the file, and what it is."""
    return json_response(
        200,
        {
            "messaging_product": MESSAGING_PRODUCT,
            "url": f"{standin.base_url}/_media/whatsapp/{media.media_id}",
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": len(media.content),
            "id": media.media_id,
        },
    )


def download_media(standin: WhatsAppStandIn, req: Request, media_id: str) -> Response:
    """The file behind a media `url`; needs the owner's Bearer token, like
    Meta's download URLs (401 without it, 404 for a media id not held)."""
    media = standin.state.media_item(media_id)
    if media is None:
        return Response(404, b"Not Found", "text/plain")
    owner = standin.state.number(media.phone_number_id)
    if owner is None or _bearer(req) != owner.access_token:
        return Response(401, b"Unauthorized", "text/plain")
    return Response(200, media.content, media.mime_type)

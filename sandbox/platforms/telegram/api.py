"""The fake Telegram Bot API: ``/bot<token>/<method>`` and file downloads.

Serves what PingBack calls through python-telegram-bot
(docs/platforms/telegram.md, "Basics", "Webhook setup and secret token",
"Sending", "python-telegram-bot 22.8"): ``getMe``, ``setWebhook``,
``deleteWebhook``, ``getWebhookInfo``, ``sendMessage``, ``sendPhoto``,
``sendDocument``, ``getFile``, and ``GET /file/bot<token>/<file_path>``. Method
names are case-insensitive; parameters come from the query string and an
urlencoded, JSON or multipart body (the SDK posts urlencoded, with nested values
as JSON strings, and multipart for uploads).

Answers copy Telegram: ``{"ok": true, "result": …}`` or ``{"ok": false,
"error_code", "description", ["parameters"]}``; 404 "Not Found" for a
malformed token or an unknown method, 401 "Unauthorized" for an unknown token.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from email.message import Message as HeaderBlock
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sandbox.core.http import Request, Response, json_response
from sandbox.core.modes import RATE_LIMITED
from sandbox.platforms.telegram.state import (
    BLOCKED,
    TOKEN_FORMAT,
    TelegramBot,
    TelegramCustomer,
    TelegramGroup,
    TelegramState,
)

API_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)")
FILE_PATH = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)")
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
DOWNLOAD_LIMIT = 20 * 1024 * 1024
SECRET_TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,256}")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ApiError(Exception):
    """A refused call: Telegram's ``error_code`` and ``description``."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def response(self) -> Response:
        """The error envelope Telegram answers with."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return json_response(self.code, body)


def _bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _not_found() -> ApiError:
    return ApiError(404, "Not Found")


def ok(result: Any, description: str = "") -> Response:
    """``{"ok": true, "result": …}``, with Telegram's optional description."""
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return json_response(200, body)


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart part."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Params:
    """A call's parameters: ``values`` (strings, or JSON values from a JSON
    body) and ``uploads`` (multipart files, by part name)."""

    values: dict[str, Any]
    uploads: dict[str, Upload]

    def text(self, name: str) -> str:
        """A parameter as text ('' when absent)."""
        value = self.values.get(name)
        return "" if value is None else str(value)

    def json(self, name: str) -> Any:
        """A nested parameter: sent as a JSON string in forms, as is in JSON."""
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise _bad_request(f"can't parse {name} JSON object") from exc
        return value

    def file(self, name: str) -> Upload | str | None:
        """A file parameter: an upload (directly or ``attach://<part>``), or a
        ``file_id`` / URL string."""
        if name in self.uploads:
            return self.uploads[name]
        value = self.text(name)
        if value.startswith("attach://"):
            return self.uploads.get(value.removeprefix("attach://"))
        return value or None


def parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, Upload]]:
    """Split a ``multipart/form-data`` body into fields and uploads.

    Raises :class:`ApiError` 400 when the boundary is missing.
    """
    headers = HeaderBlock()
    headers["content-type"] = content_type
    boundary = headers.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise _bad_request("multipart body without a boundary")
    fields: dict[str, str] = {}
    uploads: dict[str, Upload] = {}
    for section in body.split(b"--" + boundary.encode())[1:]:
        if section.startswith(b"--"):
            break
        head, _, content = section.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        part = HeaderBlock()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            part[name.strip()] = value.strip()
        field_name = part.get_param("name", header="content-disposition")
        if not isinstance(field_name, str):
            continue
        filename = part.get_filename()
        if filename is None:
            fields[field_name] = content.decode("utf-8", "replace")
        else:
            uploads[field_name] = Upload(
                filename, part.get_content_type() or "application/octet-stream", content
            )
    return fields, uploads


def read_params(req: Request) -> Params:
    """The parameters of a Bot API call, from the query string and the body."""
    values: dict[str, Any] = dict(parse_qsl(req.raw_query, keep_blank_values=True))
    uploads: dict[str, Upload] = {}
    content_type = req.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        fields, uploads = parse_multipart(content_type, req.body)
        values.update(fields)
    elif content_type.startswith("application/json"):
        body = req.json_or_none()
        if not isinstance(body, dict):
            raise _bad_request("can't parse request JSON object")
        values.update(body)
    elif req.body:
        values.update(req.form())
    return Params(values, uploads)


# --------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------


def _message(
    state: TelegramState, bot: TelegramBot, customer: TelegramCustomer | TelegramGroup
) -> dict[str, Any]:
    """A new Message the bot sends in its private chat with ``customer``, or
    in a group it is in."""
    return {
        "message_id": state.next_message_id(bot.token, customer.id),
        "from": bot.as_user(),
        "chat": customer.as_chat(),
        "date": int(time.time()),
    }


def _recipient(
    state: TelegramState, bot: TelegramBot, params: Params
) -> TelegramCustomer | TelegramGroup:
    """The open private chat (or the group) ``chat_id`` names; 400 "chat not
    found" else."""
    chat_id = params.text("chat_id")
    if not chat_id:
        raise _bad_request("chat_id is empty")
    customer = (
        state.chat(bot.token, int(chat_id)) if chat_id.lstrip("-").isdigit() else None
    )
    if customer is None:
        raise _bad_request("chat not found")
    return customer


def _forced_failure(state: TelegramState, method: str, *, is_send: bool) -> None:
    """Raise the failure a mode forces on this call, if any."""
    failure = state.take_failure(method, is_send=is_send)
    if failure is None:
        return
    kind, retry_after = failure
    if kind == RATE_LIMITED:
        raise ApiError(
            429,
            f"Too Many Requests: retry after {retry_after}",
            {"retry_after": retry_after},
        )
    if kind == BLOCKED:
        raise ApiError(403, "Forbidden: bot was blocked by the user")
    raise ApiError(500, "Internal Server Error")


def _caption(params: Params) -> str:
    caption = params.text("caption")
    if len(caption) > CAPTION_LIMIT:
        raise _bad_request("message caption is too long")
    return caption


def _upload(
    state: TelegramState, bot: TelegramBot, params: Params, name: str
) -> Upload:
    """The file of ``sendPhoto`` / ``sendDocument``: an upload, or the
    ``file_id`` of a file the bot holds."""
    given = params.file(name)
    if isinstance(given, Upload):
        if not given.content:
            raise _bad_request("file must be non-empty")
        return given
    stored = state.file(bot.token, given) if given else None
    if stored is None:
        raise _bad_request(f"there is no {name} in the request")
    return Upload(
        stored.file_path.rsplit("/", 1)[-1], "application/octet-stream", stored.content
    )


def get_me(state: TelegramState, bot: TelegramBot, params: Params) -> Response:
    """``getMe`` → the bot's User."""
    return ok(bot.as_user())


def _allowed_webhook_url(url: str) -> bool:
    """HTTPS, as Telegram requires, or plain HTTP on loopback for tests and
    the demo."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def set_webhook(state: TelegramState, bot: TelegramBot, params: Params) -> Response:
    """``setWebhook``: record ``url``, ``secret_token``, ``allowed_updates``.
    The failure modes apply only when ``failing_method`` names it."""
    if state.modes["failing_method"].lower() == "setwebhook":
        _forced_failure(state, "setWebhook", is_send=False)
    url = params.text("url")
    if url and not _allowed_webhook_url(url):
        raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret_token = params.text("secret_token")
    if secret_token and not SECRET_TOKEN_FORMAT.fullmatch(secret_token):
        raise _bad_request("secret token contains unallowed characters")
    allowed = (
        params.json("allowed_updates") if "allowed_updates" in params.values else []
    )
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise _bad_request("can't parse allowed updates")
    state.set_webhook(bot.token, url, secret_token, allowed)
    return ok(True, "Webhook was set" if url else "Webhook was deleted")


def delete_webhook(state: TelegramState, bot: TelegramBot, params: Params) -> Response:
    """``deleteWebhook``."""
    existed = state.delete_webhook(bot.token)
    return ok(True, "Webhook was deleted" if existed else "Webhook is already deleted")


def get_webhook_info(
    state: TelegramState, bot: TelegramBot, params: Params
) -> Response:
    """``getWebhookInfo``: the WebhookInfo object (empty ``url`` when none)."""
    hook = state.webhook(bot.token)
    if hook is None:
        return ok(
            {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        )
    info: dict[str, Any] = {
        "url": hook["url"],
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 40,
        "ip_address": "127.0.0.1",
    }
    if hook["allowed_updates"]:
        info["allowed_updates"] = hook["allowed_updates"]
    if hook["last_error_date"]:
        info["last_error_date"] = hook["last_error_date"]
        info["last_error_message"] = hook["last_error_message"]
    return ok(info)


def send_message(state: TelegramState, bot: TelegramBot, params: Params) -> Response:
    """``sendMessage``: ``chat_id`` and ``text`` (1 to 4096 characters)."""
    customer = _recipient(state, bot, params)
    text = params.text("text")
    if not text.strip():
        raise _bad_request("message text is empty")
    if len(text) > TEXT_LIMIT:
        raise _bad_request("message is too long")
    _forced_failure(state, "sendMessage", is_send=True)
    message = {**_message(state, bot, customer), "text": text}
    state.record_send(
        {
            "method": "sendMessage",
            "bot": bot.username,
            "chat_id": customer.id,
            "message_id": message["message_id"],
            "text": text,
            "sent_at": time.time(),
        }
    )
    return ok(message)


def _send_file(
    state: TelegramState, bot: TelegramBot, params: Params, method: str, name: str
) -> Response:
    customer = _recipient(state, bot, params)
    upload = _upload(state, bot, params, name)
    caption = _caption(params)
    _forced_failure(state, method, is_send=True)
    message = _message(state, bot, customer)
    if name == "photo":
        stored = state.store_file(bot.token, "photos", "jpg", upload.content)
        thumbnail = state.store_file(bot.token, "photos", "jpg", upload.content[:256])
        message["photo"] = [
            thumbnail.as_photo_size(90, 90),
            stored.as_photo_size(800, 800),
        ]
    else:
        extension = (
            upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else "bin"
        )
        stored = state.store_file(bot.token, "documents", extension, upload.content)
        message["document"] = {
            "file_name": upload.filename,
            "mime_type": upload.content_type,
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(upload.content),
        }
    if caption:
        message["caption"] = caption
    state.record_send(
        {
            "method": method,
            "bot": bot.username,
            "chat_id": customer.id,
            "message_id": message["message_id"],
            "caption": caption,
            "file_name": upload.filename,
            "file_size": len(upload.content),
            "content_type": upload.content_type,
            "sent_at": time.time(),
        }
    )
    return ok(message)


def send_photo(state: TelegramState, bot: TelegramBot, params: Params) -> Response:
    """``sendPhoto``: ``chat_id``, ``photo`` (upload or file_id), ``caption``."""
    return _send_file(state, bot, params, "sendPhoto", "photo")


def send_document(state: TelegramState, bot: TelegramBot, params: Params) -> Response:
    """``sendDocument``: ``chat_id``, ``document``, ``caption``."""
    return _send_file(state, bot, params, "sendDocument", "document")


def get_file(state: TelegramState, bot: TelegramBot, params: Params) -> Response:
    """``getFile``: the File with its ``file_path``; 400 for an unknown id or a
    file over 20 MB, which bots cannot download."""
    stored = state.file(bot.token, params.text("file_id"))
    if stored is None:
        raise _bad_request("wrong file_id or the file is temporarily unavailable")
    if len(stored.content) > DOWNLOAD_LIMIT:
        raise _bad_request("file is too big")
    _forced_failure(state, "getFile", is_send=False)
    return ok(stored.as_file())


METHODS = {
    "getme": get_me,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "sendmessage": send_message,
    "sendphoto": send_photo,
    "senddocument": send_document,
    "getfile": get_file,
}
"""Served methods by lower-case name (Telegram's names are case-insensitive)."""


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------


def is_bot_api_path(path: str) -> bool:
    """Whether ``path`` is a Bot API call or a file download."""
    path = unquote(path)
    return bool(API_PATH.fullmatch(path) or FILE_PATH.fullmatch(path))


def _authenticate(state: TelegramState, token: str) -> TelegramBot:
    if not TOKEN_FORMAT.fullmatch(token):
        raise _not_found()
    bot = state.bot(token)
    if bot is None:
        raise ApiError(401, "Unauthorized")
    return bot


def handle_bot_api(state: TelegramState, req: Request) -> Response:
    """Answer one Bot API call or file download (``is_bot_api_path``)."""
    try:
        found = API_PATH.fullmatch(unquote(req.path))
        if found is None:
            return _download(state, req)
        bot = _authenticate(state, found["token"])
        method = METHODS.get(found["method"].lower())
        if method is None:
            raise _not_found()
        return method(state, bot, read_params(req))
    except ApiError as error:
        return error.response()


def _download(state: TelegramState, req: Request) -> Response:
    """``GET /file/bot<token>/<file_path>``: the file's bytes. The SDK
    percent-encodes the path (the token's ``:`` included)."""
    found = FILE_PATH.fullmatch(unquote(req.path))
    if found is None or req.method != "GET":
        raise _not_found()
    bot = _authenticate(state, found["token"])
    stored = state.file_at(bot.token, found["path"])
    if stored is None:
        raise _not_found()
    return Response(200, stored.content, "application/octet-stream")

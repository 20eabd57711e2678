"""A cap on request bodies, counted on the bytes actually read, in front of
Django (ASGI and WSGI).

Django checks `DATA_UPLOAD_MAX_MEMORY_SIZE` against the `Content-Length`
header only, and its ASGI handler reads the whole body (into memory, then a
temporary file) before any view runs: a chunked request (no
`Content-Length`) of any size would be read in full, even one that is then
refused for its signature. These wrappers answer 413 as soon as a body is
known to be too large:

- a `Content-Length` over the cap: at once, nothing read;
- a chunked body: as its chunks arrive, when their total passes the cap; the
  rest is never read (the answer carries `Connection: close`).

The cap depends on the path (`body_limit`): platform webhooks
`WEBHOOK_MAX_BODY_BYTES`, everything else (the e-mail providers' webhooks,
which post whole messages, the API, uploads, pages) `REQUEST_MAX_BODY_BYTES`.

    application = BodyLimitMiddleware(django_asgi_app)   # pingback/asgi.py
    application = BodyLimitWSGI(get_wsgi_application())  # pingback/wsgi.py
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# The platform webhooks (`pingback/urls.py`); the e-mail providers' webhooks
# under them carry whole messages and take the general cap.
WEBHOOK_PREFIX = "/api/v1/webhooks/"
EMAIL_WEBHOOK_PREFIX = "/api/v1/webhooks/email/"
TOO_LARGE_BODY = b'{"detail": "Body too large."}'
_TOO_LARGE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(TOO_LARGE_BODY)).encode()),
    (b"connection", b"close"),
]
_COPY_CHUNK = 64 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def body_limit(path: str) -> int:
    """The largest request body accepted at `path`, in bytes."""
    if path.startswith(WEBHOOK_PREFIX) and not path.startswith(EMAIL_WEBHOOK_PREFIX):
        return settings.WEBHOOK_MAX_BODY_BYTES
    return settings.REQUEST_MAX_BODY_BYTES


def _log_refused(path: str, limit: int, declared: int | None) -> None:
    logger.warning(
        "request.body_too_large",
        extra={"path": path, "limit": limit, "content_length": declared},
    )


def _declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """`Content-Length` as an int; None when absent. A value that is not a
    number was already refused by the HTTP server (uvicorn answers 400)."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    """ASGI middleware: HTTP requests whose body is larger than
    `body_limit(path)` are answered 413 `{"detail": "Body too large."}` with
    `Connection: close`, before the application sees them; the application
    receives `http.disconnect` in place of the body (Django then drops the
    request). Other scopes (websocket, lifespan) pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = body_limit(path)
        declared = _declared_length(scope.get("headers", ()))
        if declared is not None:
            if declared > limit:
                _log_refused(path, limit, declared)
                await _send_too_large(send)
                return
            # The server delivers no more than Content-Length bytes.
            await self.app(scope, receive, send)
            return
        await _LimitedExchange(self.app, scope, receive, send, limit).run()


class _LimitedExchange:
    """One request without a `Content-Length`: counts its body chunks as the
    application reads them."""

    def __init__(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int
    ) -> None:
        self.app = app
        self.scope = scope
        self.server_receive = receive
        self.server_send = send
        self.limit = limit
        self.received = 0
        self.refused = False
        self.started = False

    async def run(self) -> None:
        await self.app(self.scope, self.receive, self.send)

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self.server_receive()
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.received <= self.limit:
            return message
        self.refused = True
        _log_refused(self.scope.get("path", ""), self.limit, None)
        if not self.started:
            self.started = True
            await _send_too_large(self.server_send)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self.server_send(message)


async def _send_too_large(send: Send) -> None:
    await send(
        {"type": "http.response.start", "status": 413, "headers": _TOO_LARGE_HEADERS}
    )
    await send({"type": "http.response.body", "body": TOO_LARGE_BODY})


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class BodyLimitWSGI:
    """WSGI middleware with the same cap: a `Content-Length` over
    `body_limit(path)` is answered 413 without reading; a chunked body is
    read up to one byte past the cap (answered 413 if it gets there) and
    handed on with its `Content-Length` set, since Django reads no body from
    a request without one. Bodies are spooled to a temporary file past
    `FILE_UPLOAD_MAX_MEMORY_SIZE`."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        limit = body_limit(path)
        length = environ.get("CONTENT_LENGTH") or ""
        if length:
            declared = int(length) if length.isdigit() else 0
            if declared > limit:
                _log_refused(path, limit, declared)
                return _wsgi_too_large(start_response)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = tempfile.SpooledTemporaryFile(
                max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE
            )
            copied = _copy_at_most(environ["wsgi.input"], body, limit + 1)
            if copied > limit:
                body.close()
                _log_refused(path, limit, None)
                return _wsgi_too_large(start_response)
            body.seek(0)
            environ["wsgi.input"] = body
            environ["CONTENT_LENGTH"] = str(copied)
        return self.app(environ, start_response)


def _copy_at_most(source: Any, target: Any, most: int) -> int:
    copied = 0
    while copied < most:
        chunk = source.read(min(_COPY_CHUNK, most - copied))
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    return copied


def _wsgi_too_large(start_response: Callable[..., Any]) -> list[bytes]:
    # No `Connection: close`: WSGI applications may not set hop-by-hop
    # headers; gunicorn's sync workers close every connection anyway, and its
    # threaded workers drain a bounded amount before reusing one.
    start_response(
        "413 Request Entity Too Large",
        [
            (name.decode(), value.decode())
            for name, value in _TOO_LARGE_HEADERS
            if name != b"connection"
        ],
    )
    return [TOO_LARGE_BODY]

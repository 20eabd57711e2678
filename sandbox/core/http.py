"""HTTP for the stand-ins: werkzeug serves, handlers see plain values.

:func:`make_server` serves a ``dispatch(request) -> Response`` callable with
werkzeug's threaded WSGI server. Each request reaches the handlers as a frozen
:class:`Request` (the raw path and query as the client sent them, lower-case
header names, the body as bytes); a handler answers a :class:`Response`.
Handlers find their endpoint in a route table with :func:`match_route`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.serving import make_server as werkzeug_server
from werkzeug.wrappers import Request as WsgiRequest
from werkzeug.wrappers import Response as WsgiResponse

logger = logging.getLogger(__name__)
T = TypeVar("T")


class BadRequestBody(ValueError):
    """The request body is not the JSON object the endpoint expects."""


@dataclass(frozen=True)
class Request:
    """One incoming HTTP request.

    ``headers`` has lower-case names; ``params`` holds the named groups of the
    matched route pattern; ``auth`` is what a stand-in made of the request's
    credentials, if it checks them itself (X).
    """

    method: str
    path: str
    raw_query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    auth: Any = None

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, last value winning, blanks kept."""
        return dict(parse_qsl(self.raw_query, keep_blank_values=True))

    def form_lists(self) -> dict[str, list[str]]:
        """An urlencoded body with every value of repeated keys."""
        values: dict[str, list[str]] = {}
        for key, value in parse_qsl(
            self.body.decode("utf-8", "replace"), keep_blank_values=True
        ):
            values.setdefault(key, []).append(value)
        return values

    def json_or_none(self) -> Any:
        """The parsed JSON body, or ``None`` when absent or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; an empty body counts as ``{}``.

        Raises :class:`BadRequestBody` for anything else.
        """
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise BadRequestBody(f"body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BadRequestBody("body must be a JSON object")
        return data

    def parsed(self, parse: Callable[[dict[str, Any]], T], what: str) -> T:
        """The JSON object body read by ``parse`` (e.g. a ``from_dict``);
        what it refuses (``KeyError``, ``TypeError``, ``ValueError``) raises
        :class:`BadRequestBody` ``invalid <what>: …``."""
        try:
            return parse(self.json_object())
        except (KeyError, TypeError, ValueError) as error:
            raise BadRequestBody(f"invalid {what}: {error!r}") from error

    def form(self) -> dict[str, str]:
        """The body as ``application/x-www-form-urlencoded`` fields."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace")))

    def with_match(self, params: dict[str, str]) -> Request:
        """A copy carrying the route's path parameters."""
        return replace(self, params=params)


@dataclass(frozen=True)
class Response:
    """An HTTP response ready to be written."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def json_response(
    status: int, data: Any, headers: dict[str, str] | None = None
) -> Response:
    """A compact JSON response (``application/json; charset=utf-8``)."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return Response(
        status, body.encode("utf-8"), "application/json; charset=utf-8", headers or {}
    )


def html_response(page: str, status: int = 200) -> Response:
    """An HTML page."""
    return Response(status, page.encode("utf-8"), "text/html; charset=utf-8")


def redirect(location: str, status: int = 303) -> Response:
    """A redirect (``303 See Other`` after a form POST)."""
    return Response(status, headers={"Location": location})


def no_content() -> Response:
    """An empty ``204 No Content``."""
    return Response(204)


Handler = Callable[[Any, Request], Response]
"""``handler(owner, request) -> Response``; ``owner`` is the stand-in (or
state) the route table belongs to."""


@dataclass(frozen=True)
class Route:
    """A method + full-match path regex + handler.

    ``auth`` is what credentials the endpoint needs, in the stand-in's own
    words (X: ``"user"``, ``"app"``, ``"either"``); ``"none"`` by default.
    """

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: str = "none"


def route(method: str, pattern: str, handler: Handler, auth: str = "none") -> Route:
    """Build a :class:`Route`; ``pattern`` uses ``(?P<name>…)`` for parameters."""
    return Route(method, re.compile(pattern), handler, auth)


def match_route(
    routes: Sequence[Route], method: str, path: str
) -> tuple[Route, dict[str, str]] | None:
    """The first route matching ``method`` and the whole ``path``, with its params."""
    for candidate in routes:
        if candidate.method != method:
            continue
        found = candidate.pattern.fullmatch(path)
        if found:
            return candidate, found.groupdict()
    return None


# --------------------------------------------------------------------------
# Serving (werkzeug)
# --------------------------------------------------------------------------

Dispatch = Callable[[Request], Response]


def _request(environ: dict[str, Any]) -> Request:
    """The :class:`Request` of a WSGI environ, path and query undecoded."""
    wsgi = WsgiRequest(environ)
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or wsgi.full_path
    path, _, raw_query = raw.partition("?")
    headers = {name.lower(): value for name, value in wsgi.headers.items()}
    return Request(wsgi.method, path, raw_query, headers, wsgi.get_data())


def _wsgi_response(response: Response) -> WsgiResponse:
    """The werkzeug response for a :class:`Response` (no ``Content-Type``
    header when it has none, e.g. a redirect)."""
    answer = WsgiResponse(response.body, response.status, response.headers)
    if response.content_type:
        answer.headers["Content-Type"] = response.content_type
    else:
        del answer.headers["Content-Type"]
    return answer


def wsgi_app(dispatch: Dispatch) -> Callable[..., Any]:
    """A WSGI application answering each request with ``dispatch``; a handler
    that raises answers 500 ``{"error": "sandbox crashed"}``."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        req = _request(environ)
        try:
            response = dispatch(req)
        except Exception:
            logger.exception("sandbox handler crashed on %s %s", req.method, req.path)
            response = json_response(500, {"error": "sandbox crashed"})
        return _wsgi_response(response)(environ, start_response)

    return app


# Telegram's Bot API puts the whole token in the path: `/bot<id>:<secret>/<method>`
# and `/file/bot<id>:<secret>/<file path>` (https://core.telegram.org/bots/api,
# "Making requests"); the SDK percent-encodes the colon in file paths.
BOT_TOKEN_IN_PATH = re.compile(r"(/bot\d+)(?::|%3A)[^/]+", re.IGNORECASE)


def recorded_path(path: str) -> str:
    """``path`` for the log and the access lines: a bot token's secret part
    becomes ``***`` (``/bot123:***/getMe``); other paths are unchanged."""
    return BOT_TOKEN_IN_PATH.sub(r"\1:***", path)


class _QuietHandler(WSGIRequestHandler):
    """Access lines at DEBUG rather than werkzeug's INFO."""

    server_version = "PingBackSandbox/1.0"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log the access line at DEBUG."""
        logger.debug('"%s" %s %s', recorded_path(self.requestline), code, size)


def make_server(host: str, port: int, dispatch: Dispatch) -> BaseWSGIServer:
    """A threaded werkzeug server bound to ``host:port`` (0: a free port),
    not serving yet: call ``serve_forever()``, stop with ``shutdown()``."""
    return werkzeug_server(
        host, port, wsgi_app(dispatch), threaded=True, request_handler=_QuietHandler
    )

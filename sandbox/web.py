"""Tiny request/response/route primitives for the sandbox HTTP server.

No framework: :mod:`sandbox.server` turns each ``http.server`` request into a
:class:`Request`, finds a :class:`Route` in a route table with
:func:`match_route`, and writes back the :class:`Response` the handler returns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

from sandbox.x_auth import AuthResult


class BadRequestBody(ValueError):
    """The request body is not the JSON object the endpoint expects."""


@dataclass(frozen=True)
class Request:
    """One incoming HTTP request.

    ``headers`` has lower-case names; ``params`` holds the named groups of the
    matched route pattern; ``auth`` is set for X API paths only.
    """

    method: str
    path: str
    raw_query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    auth: AuthResult | None = None

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
"""``handler(state, request) -> Response``; ``state`` is the sandbox state."""


@dataclass(frozen=True)
class Route:
    """A method + full-match path regex + handler.

    ``auth`` is what an X endpoint needs: ``"user"`` (OAuth 1.0a or OAuth 2.0
    user context), ``"app"`` (app-only bearer) or ``"none"`` (sandbox paths).
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

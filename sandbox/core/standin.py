"""The interface each platform's stand-in implements, and what they share.

`SandboxServer` (sandbox/server.py) holds one stand-in per platform. For each
request it asks the stand-ins in turn whether they serve the path
(`handles`); the first that does answers it (`serve`: `handle`, then a record
in the shared request log with the stand-in's `name`). Paths under
`/_sandbox/<name>/...` go to that stand-in's `control`: `GET state` and
`GET/POST mode` are served here for every stand-in, the rest by the
stand-in's `control_routes` (customer actions, registrations, demo-page
forms). `reset` forgets everything but registered accounts.

A stand-in keeps its state in memory, guarded by locks (the server is
threaded). `base_url` is the sandbox's own URL (for links it hands out, e.g.
file downloads), set by the server once it is bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from sandbox.core.http import (
    BadRequestBody,
    Handler,
    Request,
    Response,
    Route,
    json_response,
    match_route,
    redirect,
)
from sandbox.core.log import RequestLog, api_record
from sandbox.core.modes import Modes


class ControlError(Exception):
    """A control request (a customer action, a mode, a registration) that
    cannot be done; `status` is the HTTP answer and `message` its
    `{"error": ...}` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error(status: int, message: str) -> Response:
    """`{"error": message}` with `status`: every control error looks so."""
    return json_response(status, {"error": message})


def flash(message: str) -> Response:
    """303 back to the demo page, which shows `message` on top."""
    return redirect("/?" + urlencode({"flash": message}))


FormAction = Callable[[Any, Request], str]
"""``action(stand_in, request) -> notice``: what a demo-page form does."""


def form_endpoint(action: FormAction, label: str = "") -> Handler:
    """A demo-page form around ``action``: 303 back to ``/`` with its notice,
    or with the reason it was refused (``ValueError``, ``ControlError``),
    after ``label`` (the platform's name) when given."""

    def endpoint(standin: Any, req: Request) -> Response:
        try:
            notice = action(standin, req)
        except (ValueError, ControlError) as exc:
            notice = f"{label}: {exc}" if label else str(exc)
        return flash(notice)

    endpoint.__doc__ = f"Form endpoint for {action.__name__} (303 to /)."
    return endpoint


class StandIn:
    """Base class: override `handles`, `handle`, `snapshot`, `reset`, set
    `modes` and `control_routes`; optionally `ui_section` (HTML for the demo
    page at `/`).

    `control_routes` match the part of the path after `/_sandbox/<name>/`;
    their handlers take `(stand_in, request)`. An exception of
    `bad_request_errors` they raise answers 400, a `ControlError` its status.
    """

    name: str = ""
    control_routes: tuple[Route, ...] = ()
    bad_request_errors: tuple[type[Exception], ...] = (BadRequestBody, ValueError)

    def __init__(self, modes: Modes | None = None) -> None:
        self.lock = threading.RLock()
        self.base_url = ""
        self.modes = modes or Modes({}, {})

    def handles(self, req: Request) -> bool:
        """Whether `req` is an API call this stand-in serves."""
        return False

    def handle(self, req: Request) -> Response:
        """Answer an API call (`handles(req)` was true)."""
        return error(404, f"{self.name}: no such endpoint")

    def serve(self, req: Request, log: RequestLog) -> Response:
        """Answer an API call and record it in `log`."""
        response = self.handle(req)
        log.append(api_record(self.name, req, response))
        return response

    def set_modes(
        self, changes: dict[str, Any] | None = None, **modes: Any
    ) -> dict[str, Any]:
        """Force failures: some of the platform's modes, as a dict or as
        keywords (``ValueError`` if one is unknown or bad); answer all modes."""
        return self.modes.set({**(changes or {}), **modes})

    def control(self, req: Request, subpath: str) -> Response:
        """Answer `/_sandbox/<name>/<subpath>`."""
        try:
            if subpath == "state" and req.method == "GET":
                return json_response(200, self.snapshot())
            if subpath == "mode" and req.method in ("GET", "POST"):
                changes = req.json_object() if req.method == "POST" else {}
                return json_response(200, self.modes.set(changes))
            found = match_route(self.control_routes, req.method, subpath)
            if found is None:
                return error(404, f"no sandbox endpoint {req.method} {req.path}")
            endpoint, params = found
            return endpoint.handler(self, req.with_match(params))
        except self.bad_request_errors as exc:
            return error(400, str(exc))
        except ControlError as exc:
            return error(exc.status, exc.message)

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON (sends, registrations, modes; no secrets)."""
        return {"modes": self.modes.get()}

    def reset(self) -> None:
        """Forget sends, webhooks and modes; keep registered accounts."""
        self.modes.reset()

    def ui_section(self) -> str:
        """An HTML fragment for the demo page (forms posting to `control`)."""
        return ""

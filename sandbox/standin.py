"""The interface each platform's stand-in in the sandbox implements.

`SandboxServer` (sandbox/server.py) holds one stand-in per platform besides X.
For each request it asks the stand-ins in turn whether they serve the path
(`handles`); the first that does answers it, and the request is recorded in the
shared request log with the stand-in's `name`. Paths under
`/_sandbox/<name>/...` go to that stand-in's `control` (customer actions, modes,
state, demo-page forms). `reset` forgets everything but registered accounts.

A stand-in keeps its state in memory, guarded by its own lock (the server is
threaded). `base_url` is the sandbox's own URL (for links it hands out, e.g.
file downloads), set by the server once it is bound.
"""

from __future__ import annotations

import threading
from typing import Any

from sandbox.web import Request, Response, json_response


class ControlError(Exception):
    """A control request (a customer action, a mode, a registration) that
    cannot be done; `status` is the HTTP answer and `message` its
    `{"error": ...}` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StandIn:
    """Base class: override `handles`, `handle`, `control`, `snapshot`, `reset`;
    optionally `ui_section` (HTML for the demo page at `/`)."""

    name: str = ""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.base_url = ""

    def handles(self, req: Request) -> bool:
        """Whether `req` is an API call this stand-in serves."""
        return False

    def handle(self, req: Request) -> Response:
        """Answer an API call (`handles(req)` was true)."""
        return json_response(404, {"error": f"{self.name}: no such endpoint"})

    def control(self, req: Request, subpath: str) -> Response:
        """Answer `/_sandbox/<name>/<subpath>`. `state` is served for free."""
        if subpath == "state" and req.method == "GET":
            return json_response(200, self.snapshot())
        return json_response(
            404, {"error": f"no sandbox endpoint {req.method} {req.path}"}
        )

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON (sends, registrations; no secrets)."""
        return {}

    def reset(self) -> None:
        """Forget sends, webhooks and modes; keep registered accounts."""

    def ui_section(self) -> str:
        """An HTML fragment for the demo page (forms posting to `control`)."""
        return ""

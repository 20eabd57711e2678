"""``StandInServer``: one loopback HTTP server for a set of stand-ins.

Each request goes, in this order, to:

- ``/_sandbox/<name>/…``: that stand-in's ``control`` (customer actions,
  modes, state, demo-page forms);
- the first stand-in whose ``handles`` claims it (API calls, recorded in the
  request log);
- the sandbox's own endpoints below; anything else is 404 ``{"error"}``.

| method, path | answer |
| --- | --- |
| ``GET /`` | the demo page: every stand-in's section, ``?flash=`` on top |
| ``GET /_sandbox/requests?since=<seq>`` | ``{"requests": [...]}`` |
| ``POST /_sandbox/reset`` | ``{"reset": true}``; registered accounts are kept |

Serving is werkzeug's threaded server (:func:`sandbox.core.http.make_server`).

``latency`` (seconds, default 0) makes every API call wait that long before
the stand-in handles it, as a real platform's API takes 100-500 ms to answer:
a send is recorded (``received_at``) and answered after the wait. The
benchmark's delivery part sets it (bench/delivery.py); control and demo
endpoints never wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Self

from sandbox.core.http import (
    Request,
    Response,
    html_response,
    json_response,
    make_server,
)
from sandbox.core.log import RequestLog
from sandbox.core.page import render_page
from sandbox.core.standin import StandIn, error


class StandInServer:
    """The stand-ins on loopback; binds at construction, serves after
    :meth:`start` (a daemon thread) or :meth:`serve_forever`."""

    def __init__(
        self,
        standins: Sequence[StandIn],
        host: str,
        port: int,
        *,
        latency: float = 0.0,
    ) -> None:
        self.standins = tuple(standins)
        # Seconds each API call waits before it is handled (settable live).
        self.latency = latency
        self.log = RequestLog()
        self._httpd = make_server(host, port, self.dispatch)
        self._thread: threading.Thread | None = None
        for standin in self.standins:
            standin.base_url = self.url

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._httpd.server_address[1])

    def dispatch(self, req: Request) -> Response:
        """Answer one request (see the module docstring)."""
        for standin in self.standins:
            prefix = f"/_sandbox/{standin.name}/"
            if req.path.startswith(prefix):
                return standin.control(req, req.path[len(prefix) :])
            if standin.handles(req):
                if self.latency > 0:
                    time.sleep(self.latency)
                return standin.serve(req, self.log)
        if req.method == "GET" and req.path == "/":
            sections = "".join(standin.ui_section() for standin in self.standins)
            return html_response(render_page(sections, req.query.get("flash")))
        if req.method == "GET" and req.path == "/_sandbox/requests":
            try:
                since = int(req.query.get("since") or 0)
            except ValueError:
                return error(400, "since must be an integer")
            return json_response(200, {"requests": self.requests(since)})
        if req.method == "POST" and req.path == "/_sandbox/reset":
            self.reset()
            return json_response(200, {"reset": True})
        return error(404, f"no sandbox endpoint {req.method} {req.path}")

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """Recorded API requests with ``seq`` greater than ``since``."""
        return self.log.since(since)

    def reset(self) -> None:
        """Forget requests, sends, webhooks, subscriptions and modes; keep
        registered accounts (same as ``POST /_sandbox/reset``)."""
        for standin in self.standins:
            standin.reset()
        self.log.clear()

    def start(self) -> Self:
        """Serve in a daemon thread; return ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                args=(0.05,),
                name=f"sandbox-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` or KeyboardInterrupt."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        """Start serving (context manager)."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop serving (context manager)."""
        self.stop()

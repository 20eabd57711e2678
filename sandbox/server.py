"""``SandboxServer``: loopback HTTP stand-ins for the platform APIs: X
(docs/platforms/x.md, "Sandbox stand-in"), and Telegram, WhatsApp, Instagram
and Twilio through the stand-ins of :mod:`sandbox.standin`.

Standard library ``ThreadingHTTPServer``; each request becomes a
:class:`~sandbox.web.Request` and is dispatched through a route table:

- X API paths (``/2/…``) go to :func:`sandbox.x_api.handle_x_request` after
  authentication (:mod:`sandbox.x_auth`) and are recorded in the request log;
- everything else goes to :func:`sandbox.control.handle_control_request`
  (``/_sandbox/…`` control endpoints and the demo page ``/``).

Usage in tests::

    with SandboxServer() as sandbox:        # port 0: a free port
        client.session.mount("https://api.twitter.com", Redirect(..., sandbox.url))
        ...
        assert sandbox.x.sent_dms[0]["text"] == "hello"

The command ``python manage.py run_sandbox --port 8765`` serves it for the demo.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from sandbox.control import handle_control_request
from sandbox.instagram import InstagramStandIn
from sandbox.sms import SmsStandIn
from sandbox.standin import StandIn
from sandbox.telegram import TelegramStandIn
from sandbox.web import Request, Response
from sandbox.whatsapp import WhatsAppStandIn
from sandbox.x_api import (
    TON_REAL_HOST,
    handle_x_request,
    is_public_media_path,
    is_x_api_path,
    serve_public_media,
)
from sandbox.x_auth import authenticate
from sandbox.x_delivery import run_crc
from sandbox.x_state import RequestLog, XState

logger = logging.getLogger(__name__)

DEFAULT_X_REAL_HOST = "https://api.twitter.com"
POLL_INTERVAL_S = 0.05
"""How often the serving loop checks for :meth:`SandboxServer.stop`."""


@dataclass
class SandboxState:
    """Everything the handlers share.

    ``x_real_host`` is the origin clients sign OAuth 1.0a requests for;
    ``crc`` runs a CRC against a URL (replaceable in tests).
    """

    x: XState = field(default_factory=XState)
    log: RequestLog = field(default_factory=RequestLog)
    x_real_host: str = DEFAULT_X_REAL_HOST
    crc: Callable[[str, str], bool] = run_crc
    telegram: TelegramStandIn = field(default_factory=TelegramStandIn)
    whatsapp: WhatsAppStandIn = field(default_factory=WhatsAppStandIn)
    instagram: InstagramStandIn = field(default_factory=InstagramStandIn)
    sms: SmsStandIn = field(default_factory=SmsStandIn)

    @property
    def standins(self) -> tuple[StandIn, ...]:
        """The stand-ins of the platforms besides X, in dispatch order."""
        return (self.telegram, self.whatsapp, self.instagram, self.sms)

    def reset(self) -> None:
        """Forget requests, sends, webhooks, subscriptions and modes."""
        self.x.reset()
        for standin in self.standins:
            standin.reset()
        self.log.clear()


def _recorded_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers for the log, with ``Authorization`` reduced to its scheme."""
    recorded = dict(headers)
    if "authorization" in recorded:
        scheme = recorded["authorization"].strip().split(" ", 1)[0]
        recorded["authorization"] = scheme
    return recorded


def serve_x_api(state: SandboxState, req: Request) -> Response:
    """Authenticate, answer and record one X API request."""
    real_host = state.x_real_host.rstrip("/")
    if req.path.startswith("/1.1/ton/"):
        real_host = TON_REAL_HOST
    auth = authenticate(
        method=req.method,
        real_url=real_host + req.path,
        raw_query=req.raw_query,
        authorization=req.headers.get("authorization"),
        apps=state.x.app_list(),
    )
    req = replace(req, auth=auth)
    response = handle_x_request(state, req)
    state.log.append(
        {
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "headers": _recorded_headers(req.headers),
            "json": req.json_or_none(),
            "auth": auth.as_record(),
            "status": response.status,
        }
    )
    return response


def serve_standin(state: SandboxState, standin: StandIn, req: Request) -> Response:
    """Answer and record one API request to a platform stand-in."""
    response = standin.handle(req)
    content_type = req.headers.get("content-type", "")
    body: Any = req.json_or_none()
    if body is None and content_type.startswith("application/x-www-form-urlencoded"):
        body = req.form()
    state.log.append(
        {
            "platform": standin.name,
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "headers": _recorded_headers(req.headers),
            "json": body if isinstance(body, dict | list) else None,
            "content_type": content_type,
            "status": response.status,
        }
    )
    return response


def dispatch(state: SandboxState, req: Request) -> Response:
    """Send X API paths, other platforms' API paths, each stand-in's
    `/_sandbox/<name>/…` paths and the remaining sandbox paths to their
    handlers."""
    if is_x_api_path(req.path):
        return serve_x_api(state, req)
    if is_public_media_path(req.path):
        return serve_public_media(state, req)
    for standin in state.standins:
        prefix = f"/_sandbox/{standin.name}/"
        if req.path.startswith(prefix):
            return standin.control(req, req.path[len(prefix) :])
        if standin.handles(req):
            return serve_standin(state, standin, req)
    return handle_control_request(state, req)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Adapts ``http.server`` requests to :func:`dispatch`."""

    server: _SandboxHTTPServer
    server_version = "PingBackSandbox/1.0"

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve()

    def do_PUT(self) -> None:
        """Serve a PUT."""
        self._serve()

    def do_DELETE(self) -> None:
        """Serve a DELETE."""
        self._serve()

    def _read_request(self) -> Request:
        """Build a :class:`Request` from the raw HTTP request."""
        path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        return Request(self.command, path, raw_query, headers, body)

    def _serve(self) -> None:
        """Dispatch and write the response; a crash becomes a 500."""
        try:
            response = dispatch(self.server.state, self._read_request())
        except Exception:
            logger.exception(
                "sandbox handler crashed on %s %s", self.command, self.path
            )
            response = Response(500, b'{"error":"sandbox crashed"}', "application/json")
        self._write(response)

    def _write(self, response: Response) -> None:
        """Send status, headers and body."""
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Log access lines at DEBUG instead of printing to stderr."""
        logger.debug("%s - " + format, self.address_string(), *args)


class _SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the shared :class:`SandboxState`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        self.state = state
        super().__init__(address, SandboxRequestHandler)


class SandboxServer:
    """The X sandbox on loopback; binds at construction, serves after start().

    ``x_real_host`` is the origin the clients sign OAuth 1.0a requests for
    (tweepy always uses ``https://api.twitter.com``, docs/platforms/x.md,
    "Hosts").
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        x_real_host: str = DEFAULT_X_REAL_HOST,
    ) -> None:
        self.state = SandboxState(x_real_host=x_real_host)
        self._httpd = _SandboxHTTPServer((host, port), self.state)
        self._thread: threading.Thread | None = None
        for standin in self.state.standins:
            standin.base_url = self.url

    @property
    def telegram(self) -> TelegramStandIn:
        """The Telegram Bot API stand-in."""
        return self.state.telegram

    @property
    def whatsapp(self) -> WhatsAppStandIn:
        """The WhatsApp Cloud API (Graph) stand-in."""
        return self.state.whatsapp

    @property
    def instagram(self) -> InstagramStandIn:
        """The Instagram messaging (Graph) stand-in."""
        return self.state.instagram

    @property
    def sms(self) -> SmsStandIn:
        """The Twilio Messaging stand-in."""
        return self.state.sms

    @property
    def x(self) -> XState:
        """The X state (apps, webhooks, subscriptions, ``sent_dms``, ``tweets``)."""
        return self.state.x

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._httpd.server_address[1])

    def start(self) -> Self:
        """Serve in a daemon thread; return ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                args=(POLL_INTERVAL_S,),
                name=f"x-sandbox-{self.port}",
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

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """Recorded X API requests with ``seq`` greater than ``since``."""
        return self.state.log.since(since)

    def reset(self) -> None:
        """Same as ``POST /_sandbox/reset``."""
        self.state.reset()

    def __enter__(self) -> Self:
        """Start serving (context manager)."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop serving (context manager)."""
        self.stop()

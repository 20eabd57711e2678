"""What the stand-ins' tests share: PingBack's side of the wire (a
:class:`Receiver` for webhooks, handshakes and file downloads) and calls to
the sandbox's control endpoints. The fixtures are in ``conftest.py``."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any, Self
from urllib.parse import parse_qs, parse_qsl

import httpx
import requests

from sandbox.core.http import Request, Response, json_response, make_server
from sandbox.platforms.x.payloads import DEMO_APP, crc_response_token


class Receiver:
    """PingBack as a stand-in sees it, on a free loopback port.

    POSTs are recorded in ``posts`` as ``(headers, raw body)`` (their URLs in
    ``post_urls``) and answered
    ``status`` with ``answer`` (``content_type``). GETs are recorded in
    ``gets`` (path and query) and answered with a file of ``files`` (by
    path), an X CRC with ``crc_secret``, Meta's handshake (the challenge
    when the verify token is ``verify_token``, else 403), or 404.
    """

    def __init__(
        self,
        path: str = "/hook",
        *,
        status: int = 200,
        answer: bytes = b'{"status":"accepted"}',
        content_type: str = "application/json",
        verify_token: str = "my-verify-token",
        crc_secret: str = DEMO_APP.consumer_secret,
    ) -> None:
        self.status, self.answer, self.content_type = status, answer, content_type
        self.verify_token, self.crc_secret = verify_token, crc_secret
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.post_urls: list[str] = []
        self.gets: list[str] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        self._server = make_server("127.0.0.1", 0, self._answer)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = self.base + path

    def _answer(self, req: Request) -> Response:
        if req.method == "POST":
            self.posts.append((req.headers, req.body))
            query = f"?{req.raw_query}" if req.raw_query else ""
            self.post_urls.append(self.base + req.path + query)
            return Response(self.status, self.answer, self.content_type)
        self.gets.append(req.path + (f"?{req.raw_query}" if req.raw_query else ""))
        query = req.query
        if req.path in self.files:
            content, content_type = self.files[req.path]
            return Response(200, content, content_type)
        if "crc_token" in query:
            token = crc_response_token(query["crc_token"], self.crc_secret)
            return json_response(200, {"response_token": token})
        if query.get("hub.verify_token") == self.verify_token:
            return Response(200, query["hub.challenge"].encode(), "text/plain")
        if "hub.verify_token" in query:
            return Response(403, b"wrong token", "text/plain")
        return Response(404, b"gone", "text/plain")

    def queries(self) -> list[dict[str, list[str]]]:
        """The query of each GET, every value a list."""
        return [parse_qs(get.partition("?")[2]) for get in self.gets]

    def json_bodies(self) -> list[Any]:
        """Each POSTed body, parsed as JSON."""
        return [json.loads(body) for _, body in self.posts]

    def forms(self) -> list[dict[str, str]]:
        """Each POSTed body, parsed as an urlencoded form."""
        return [
            dict(parse_qsl(body.decode(), keep_blank_values=True))
            for _, body in self.posts
        ]

    def __enter__(self) -> Self:
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def control(
    sandbox: Any, method: str, path: str, timeout: float = 15, **kwargs: Any
) -> requests.Response:
    """Call one of the sandbox's own endpoints (``path`` from the root, e.g.
    ``/_sandbox/sms/mode``), never through a proxy; redirects not followed."""
    kwargs.setdefault("allow_redirects", False)
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, sandbox.url + path, timeout=timeout, **kwargs)


GRAPH_VERSION = "v23.0"
"""The Graph API version PingBack's Meta platforms call."""


def graph(
    sandbox: Any, method: str, path: str, token: str | None, **kwargs: Any
) -> httpx.Response:
    """Call the Graph API stand-ins (WhatsApp, Instagram) as PingBack does,
    with ``token`` as the bearer (none when ``None``)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{sandbox.url}/{GRAPH_VERSION}/{path}"
    return httpx.request(method, url, headers=headers, timeout=10, **kwargs)


def meta_delivery(
    receiver: Receiver, app_secret: str, answer: dict[str, Any], object_type: str
) -> dict[str, Any]:
    """The one webhook the receiver got, checked to be JSON signed with
    ``app_secret`` as Meta signs (``X-Hub-Signature-256``, computed here
    independently of the stand-in), the payload the control call
    ``answer``ed, for ``object_type``; its one ``entry``."""
    [(headers, body)] = receiver.posts
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == f"sha256={digest}"
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert payload == answer["payload"]
    assert payload["object"] == object_type
    [entry] = payload["entry"]
    return entry

"""Realtime latency: a signed webhook posted to PingBack until the agent's
open inbox hears of the message on its websocket.

An agent of a new business (with an X channel of the sandbox's demo app)
holds the inbox websocket open (`/ws/inbox/`, with a session cookie, on the
ASGI server); webhooks (`bench.ingest.signed_requests`: one X DM each) are
POSTed to the web tier at a steady rate while the Celery worker processes
them. Each message's latency is from just before its POST was sent until
the websocket delivered its `{"type": "message", "change": "created"}`
event, matched by the message's platform id (the DM event id).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from contextlib import ExitStack
from urllib.parse import urlsplit

from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from bench.data import bench_business_create, x_channel_create
from bench.ingest import SIGNATURE_HEADER, signed_requests
from bench.stats import summary_ms
from channels_app.models import Channel
from conversations.models import Message
from sandbox.platforms.x.payloads import new_id

EVENT_WAIT_S = 60.0


def realtime_benchmark(
    *, web_url: str, ws_url: str, rate: float, duration: float
) -> dict:
    """POST `rate` webhooks a second for `duration` seconds to `web_url` and
    time each message's event on an inbox websocket at `ws_url` (the ASGI
    server's base URL, `http://host:port`).

    Returns `{"target_rate", "posted", "posted_per_s", "received",
    "missing", "p50_ms", "p95_ms", "p99_ms", "max_ms"}`: `missing` counts
    messages stored without an event within `EVENT_WAIT_S` s after the
    last POST. Raises `RuntimeError` when a webhook is not acknowledged
    with 200 or the websocket is refused."""
    bench = bench_business_create(f"Bench realtime {new_id()}", agents=1)
    channel = x_channel_create(bench.business)
    requests = signed_requests(max(1, int(rate * duration)))
    heard: dict[int, float] = {}
    with InboxSocket(ws_url, bench.admin.user, heard):
        sent = _post_paced(web_url, channel, requests, rate)
        posting_s = max(sent.values()) - min(sent.values()) if len(sent) > 1 else 0.0
        stored = _wait_stored(channel, len(sent))
        deadline = time.monotonic() + EVENT_WAIT_S
        while time.monotonic() < deadline and not set(stored.values()) <= set(heard):
            time.sleep(0.05)
    latencies = [
        (heard[message_id] - sent[event_id]) * 1000
        for event_id, message_id in stored.items()
        if message_id in heard
    ]
    return {
        "target_rate": rate,
        "posted": len(sent),
        "posted_per_s": round(len(sent) / posting_s, 1) if posting_s else 0.0,
        "received": len(latencies),
        "missing": len(stored) - len(latencies),
        **summary_ms(latencies or [0.0]),
    }


class InboxSocket:
    """An agent's inbox websocket (logged in with a new session), read by a
    thread that records `heard[message_id] = time.time()` for each created
    message until exit."""

    def __init__(self, ws_url: str, user, heard: dict[int, float]) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        parts = urlsplit(ws_url)
        self.origin = f"http://{parts.netloc}"
        self.url = f"ws://{parts.netloc}/ws/inbox/"
        self.headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"}
        self.heard = heard
        self.stop = threading.Event()

    def __enter__(self) -> InboxSocket:
        self.closing = ExitStack()
        self.socket = self.closing.enter_context(
            connect(self.url, origin=self.origin, additional_headers=self.headers)
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.closing.close()

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                frame = self.socket.recv(timeout=0.2)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            now = time.time()
            event = json.loads(frame)
            if event.get("type") == "message" and event.get("change") == "created":
                self.heard.setdefault(event["message_id"], now)


def _post_paced(web_url: str, channel: Channel, requests, rate: float) -> dict:
    """POST each signed request at `rate` a second (one connection, kept
    alive); `{event_id: time.time() just before sending}`."""
    parts = urlsplit(web_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = f"/api/v1/webhooks/x/{channel.pk}"
    sent: dict[str, float] = {}
    started = time.monotonic()
    try:
        for index, request in enumerate(requests):
            wait = started + index / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            sent[request.event_id] = time.time()
            connection.request(
                "POST",
                path,
                body=request.body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: request.signature,
                },
            )
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"POST {path} answered {response.status}")
    finally:
        connection.close()
    return sent


def _wait_stored(channel: Channel, expected: int) -> dict[str, int]:
    """`{platform message id: message id}` of the channel's messages, once
    `expected` are stored (or after `EVENT_WAIT_S` s)."""
    deadline = time.monotonic() + EVENT_WAIT_S
    while True:
        stored = dict(
            Message.objects.filter(channel=channel).values_list(
                "platform_message_id", "pk"
            )
        )
        if len(stored) >= expected or time.monotonic() > deadline:
            return stored
        time.sleep(0.1)


def realtime_markdown(results: dict) -> list[str]:
    """The realtime part as Markdown lines."""
    run = results["realtime"]
    return [
        "",
        "### Realtime",
        "",
        "Signed webhook POSTed until the agent's inbox websocket hears of the "
        "message, in ms, with the worker processing.",
        "",
        "| webhooks/s (target) | posted | posted/s | received | missing | p50 | "
        "p95 | p99 | max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {run['target_rate']:.0f} | {run['posted']} | {run['posted_per_s']} | "
        f"{run['received']} | {run['missing']} | {run['p50_ms']} | "
        f"{run['p95_ms']} | {run['p99_ms']} | {run['max_ms']} |",
    ]

"""Helpers for the agents' websocket tests (presence, live events, hostile
frames): a clean presence store, agents' sockets, and waiting for an event."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.test import Client

from channels_app.tests.widget.communicator import WebsocketCommunicator
from conversations import presence

# PingBack's own origin, as its pages are served from (no server listens
# there: the consumer runs in process).
OWN_ORIGIN = settings.PINGBACK_PUBLIC_BASE_URL
TIMEOUT = 5


def presence_reset() -> None:
    """Forget every presence entry (Redis keys `presence:*`, or this
    process's store)."""
    for store in [presence._store(), *presence._stores.values()]:
        if isinstance(store, presence._RedisStore):
            try:
                keys = list(store.client.scan_iter("presence:*"))
                if keys:
                    store.client.delete(*keys)
            except redis.exceptions.ConnectionError:
                pass  # a test's unreachable Redis
    presence._stores.clear()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def inbox_socket(
    cookie: str | None, origin: str | None = OWN_ORIGIN
) -> WebsocketCommunicator:
    """A connection to `/ws/inbox/` with a session cookie (`session_cookie`,
    made outside the event loop) and an `Origin` (None: without the header).
    In process: `OWN_ORIGIN` is only the name PingBack expects, no server
    listens there."""
    from pingback.asgi import application

    headers = []
    if origin:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/inbox/", headers=headers)


async def wait_for(
    socket, predicate: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT
) -> dict[str, Any]:
    """The first event the socket receives that satisfies `predicate`
    (others are skipped); `AssertionError` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    skipped = []
    while (left := deadline - time.monotonic()) > 0:
        if await socket.receive_nothing(timeout=min(left, 0.1), interval=0.02):
            continue
        event = await socket.receive_json_from(timeout=1)
        if predicate(event):
            return event
        skipped.append(event)
    raise AssertionError(f"no such event; got {skipped}")


def presence_of(conversation_id: int, **expected) -> Callable[[dict], bool]:
    """A predicate: a `presence` event of the conversation whose `viewing`
    and/or `typing` names are as given (lists of names)."""

    def matches(event: dict) -> bool:
        if event.get("type") != "presence":
            return False
        if event.get("conversation_id") != conversation_id:
            return False
        return all(
            [person["name"] for person in event[key]] == names
            for key, names in expected.items()
        )

    return matches

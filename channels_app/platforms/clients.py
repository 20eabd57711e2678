"""Platform SDK and HTTP clients kept per thread.

Replies are sent from threads (the `delivery` worker's Celery thread pool,
`DELIVERY_CONCURRENCY` threads per process, docs/deployment.md). A client
built for each send opens a new TCP connection for each send, and in
production makes a TLS handshake too: one to three round trips to the
platform before the request itself. A client the thread keeps reuses its
open connection (HTTP/1.1 keep-alive) for the thread's next sends.

Each thread keeps its own clients: their connection pools, and what an SDK
client remembers of its last call (twilio's `Retry-After`,
`sms._TwilioHostClient`), are never shared between threads. The platforms
using this: X (tweepy, `x._client`), the Graph API for WhatsApp and
Instagram (httpx, `meta.GraphClient`), Twilio (`sms.TwilioApi`) and
Telegram (python-telegram-bot on a kept event loop, `telegram.TelegramApi`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

# Clients one thread keeps per platform at most: the keys (credentials,
# settings) it used last. A thread sending for more channels than this
# builds a client again for the least recently used one.
CLIENTS_PER_THREAD = 16

K = TypeVar("K", bound=Hashable)
C = TypeVar("C")


class ThreadClients(Generic[K, C]):
    """Clients made by `build(key)`, kept per thread and per `key`.

    `key` holds everything the client is built from: the platform's base URL
    and timeout settings, and the credentials when the client carries them.
    A client is reused only for the same key, so a changed setting (tests
    point the base URLs at sandboxes on free ports) gets a new client rather
    than one with the old values. Each thread keeps the `size` keys it used
    last; the least recently used client is closed (`close(client)`) when a
    new one would exceed that. A thread's clients are not closed when the
    thread ends: the garbage collector closes their sockets (delivery
    threads live as long as their worker). In a process forked from one
    that kept clients, the inherited ones are dropped without being closed:
    their connections are the parent's.
    """

    def __init__(
        self,
        build: Callable[[K], C],
        close: Callable[[C], object],
        size: int = CLIENTS_PER_THREAD,
    ) -> None:
        self._build = build
        self._close = close
        self._size = size
        self._local = threading.local()

    def get(self, key: K) -> C:
        """This thread's client for `key`, built on first use. Raises what
        `build` raises (nothing is kept then)."""
        clients = self._clients()
        client = clients.get(key)
        if client is not None:
            clients.move_to_end(key)
            return client
        client = clients[key] = self._build(key)
        while len(clients) > self._size:
            _, oldest = clients.popitem(last=False)
            self._close_quietly(oldest)
        return client

    def _clients(self) -> OrderedDict[K, C]:
        local = self._local
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:
            local.pid = pid
            local.clients = OrderedDict()
        return local.clients

    def _close_quietly(self, client: C) -> None:
        """Close a dropped client; a failure to close is logged, never
        raised into the send that dropped it."""
        try:
            self._close(client)
        except Exception:
            logger.warning("platform_client.close_failed", exc_info=True)

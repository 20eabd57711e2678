"""Prometheus metrics: what PingBack counts, where the counts live, the scrape.

Counters and the delivery-latency histogram are counted where the event
happens (a web process for webhooks, a Celery worker for replies) into one
Redis hash, `pingback:metrics`, so a scrape of any web process sees the totals
of every process on every host, whatever the process model (gunicorn, uvicorn,
Celery prefork). Each process adds its counts up in memory and one daemon
thread writes them (one pipelined round trip of HINCRBYFLOAT) at most every
`FLUSH_SECONDS`, and at exit, rather than one round trip per webhook in the
ack itself (bench/README.md, "Ingest at 32 connections").
A scrape writes its own process's counts first, so other processes' counts
reach it at most `FLUSH_SECONDS` late; a process killed outright (SIGKILL)
loses at most its last `FLUSH_SECONDS` of counts. Without `REDIS_URL` (the
single-process development default) they are kept in the process's memory. A
count Redis does not take (it is down) is dropped, and the event goes on:
metrics never fail a webhook or a delivery.

Gauges are computed at scrape time: the backlog ones from PostgreSQL with
indexed queries (`InboundEvent (status, received_at)`, the outbox's partial
index on queued/sending messages, the small channel table), and websocket
connections from a per-process count each process publishes to Redis with a
60-second expiry (refreshed every 15 s), so a process that dies stops counting
within a minute.

Names (`/metrics`, Prometheus text format 0.0.4):
- `pingback_webhooks_received_total{platform, outcome}`: outcome `accepted`,
  `duplicate`, `ignored` (stored, nothing to do), `forged` (bad or missing
  signature, 403), `malformed` (kept, 400), `too_large` (413).
- `pingback_replies_total{platform, outcome}`: each delivery try of an
  outbound message; outcome `sent`, `failed`, `retry`.
- `pingback_reply_delivery_seconds{platform}`: histogram, seconds from the
  reply being written (queued) to the platform accepting it.
- `pingback_inbound_oldest_unprocessed_seconds`: age of the oldest stored
  inbound event not processed yet (`received` or `processing`), 0 when none.
- `pingback_outbound_messages_waiting{status}`: outbound messages `queued` or
  `sending`.
- `pingback_channels_paused`, `pingback_channels_in_alert`: active channels
  paused by a platform rate limit, and with an alert set.
- `pingback_websocket_connections{kind}`: open websockets, `inbox` (agents)
  and `widget` (visitors).

Source: https://prometheus.github.io/client_python/collector/custom/
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

COUNTERS_KEY = "pingback:metrics"
WEBSOCKETS_KEY_PREFIX = "pingback:metrics:websockets:"
# Seconds a process's published websocket count lives without a refresh, and
# how often a process with open websockets refreshes it.
WEBSOCKETS_TTL = 60
WEBSOCKETS_REFRESH = 15.0
# Seconds a process keeps its counts before writing them to Redis.
FLUSH_SECONDS = 1.0

WEBHOOK_OUTCOMES = (
    "accepted",
    "duplicate",
    "ignored",
    "forged",
    "malformed",
    "too_large",
)
REPLY_OUTCOMES = ("sent", "failed", "retry")
WEBSOCKET_KINDS = ("inbox", "widget")
# Seconds, queued → sent: a send is one HTTP call (under a second), a retry
# waits DELIVERY_RETRY_BACKOFF * 2**n seconds, a channel pause minutes.
DELIVERY_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


# ------------------------------------------------------------- counter store


class _MemoryStore:
    """Counts of this process only (no Redis: one process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = defaultdict(float)

    def add(self, increments: dict[str, float]) -> None:
        with self._lock:
            for field, amount in increments.items():
                self._values[field] += amount

    def read(self) -> dict[str, float]:
        with self._lock:
            return dict(self._values)


_memory = _MemoryStore()
_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis | None:
    """A client of `REDIS_URL` waiting at most `REDIS_TIMEOUT`, or None."""
    url = settings.REDIS_URL
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(
            url,
            socket_connect_timeout=settings.REDIS_TIMEOUT,
            socket_timeout=settings.REDIS_TIMEOUT,
        )
    return client


class _Pending:
    """Counts of this process not yet written to Redis, and the daemon thread
    that writes them at most every `FLUSH_SECONDS` (see the module
    docstring). Started on first use in each process, so a fork (gunicorn,
    Celery prefork) counts and writes its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = defaultdict(float)
        self._wanted = threading.Event()
        self._pid: int | None = None

    def add(self, increments: dict[str, float]) -> None:
        with self._lock:
            if self._pid != os.getpid():
                # A forked child: what the parent had pending is the
                # parent's to write.
                self._values = defaultdict(float)
                self._wanted = threading.Event()
                threading.Thread(
                    target=self._run,
                    args=(self._wanted,),
                    name="metrics-flush",
                    daemon=True,
                ).start()
                self._pid = os.getpid()
            for field, amount in increments.items():
                self._values[field] += amount
            self._wanted.set()

    def _run(self, wanted: threading.Event) -> None:
        while True:
            wanted.wait()
            # Counts added while waiting go out with this write; later ones
            # set `wanted` again.
            threading.Event().wait(FLUSH_SECONDS)
            wanted.clear()
            self.flush()

    def flush(self) -> None:
        """Write this process's pending counts to Redis now (one pipelined
        round trip; nothing when there are none); dropped if Redis fails."""
        with self._lock:
            if self._pid != os.getpid() or not self._values:
                return
            values, self._values = self._values, defaultdict(float)
        client = _redis()
        if client is None:
            _memory.add(values)
            return
        try:
            with client.pipeline(transaction=False) as pipe:
                for field, amount in values.items():
                    pipe.hincrbyfloat(COUNTERS_KEY, field, amount)
                pipe.execute()
        except redis.RedisError as error:
            logger.debug("metrics.dropped", extra={"error": str(error)})

    def after_fork(self) -> None:
        """In a forked child: a new lock (the parent's may have been held by
        its writer thread at the fork) and nothing pending."""
        self._lock = threading.Lock()
        self._values = defaultdict(float)
        self._pid = None


_pending = _Pending()
atexit.register(_pending.flush)
os.register_at_fork(after_in_child=_pending.after_fork)


def _add(increments: dict[str, float]) -> None:
    if not settings.REDIS_URL:
        _memory.add(increments)
        return
    _pending.add(increments)


def _read() -> dict[str, float]:
    client = _redis()
    if client is None:
        return _memory.read()
    _pending.flush()
    return {
        field.decode(): float(value)
        for field, value in client.hgetall(COUNTERS_KEY).items()
    }


def _field(*parts: str) -> str:
    return "|".join(parts)


# ------------------------------------------------------------ instrumentation


def webhook_received(platform: str, outcome: str) -> None:
    """Count one webhook delivery to a known channel of type `platform`."""
    _add({_field("webhooks_received", platform, outcome): 1})


def reply_tried(platform: str, outcome: str, latency: float | None = None) -> None:
    """Count one delivery try of a reply (`sent`, `failed`, `retry`); for a
    sent reply, `latency` is the seconds from queued to sent."""
    increments = {_field("replies", platform, outcome): 1.0}
    if latency is not None:
        bucket = next((str(b) for b in DELIVERY_BUCKETS if latency <= b), "+Inf")
        increments[_field("reply_delivery", platform, "bucket", bucket)] = 1.0
        increments[_field("reply_delivery", platform, "count")] = 1.0
        increments[_field("reply_delivery", platform, "sum")] = latency
    _add(increments)


class _Websockets:
    """This process's open websockets per kind, published to Redis (when set)
    by a daemon thread on every change and every `WEBSOCKETS_REFRESH` s."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = defaultdict(int)
        self._changed = threading.Event()
        self._thread: threading.Thread | None = None

    def change(self, kind: str, delta: int) -> None:
        with self._lock:
            self.counts[kind] += delta
            if settings.REDIS_URL and (
                self._thread is None or not self._thread.is_alive()
            ):
                self._thread = threading.Thread(
                    target=self._publish_forever, name="metrics-websockets", daemon=True
                )
                self._thread.start()
        self._changed.set()

    def _publish_forever(self) -> None:
        while True:
            self._changed.wait(WEBSOCKETS_REFRESH)
            self._changed.clear()
            client = _redis()
            if client is None:
                return
            key = f"{WEBSOCKETS_KEY_PREFIX}{socket.gethostname()}:{os.getpid()}"
            with self._lock:
                counts = {kind: self.counts[kind] for kind in WEBSOCKET_KINDS}
            try:
                with client.pipeline(transaction=False) as pipe:
                    pipe.hset(key, mapping=counts)
                    pipe.expire(key, WEBSOCKETS_TTL)
                    pipe.execute()
            except redis.RedisError as error:
                logger.debug("metrics.dropped", extra={"error": str(error)})

    def totals(self) -> dict[str, int]:
        client = _redis()
        if client is None:
            with self._lock:
                return dict(self.counts)
        totals: dict[str, int] = defaultdict(int)
        for key in client.scan_iter(match=WEBSOCKETS_KEY_PREFIX + "*", count=500):
            for kind, value in client.hgetall(key).items():
                totals[kind.decode()] += int(value)
        return totals


_websockets = _Websockets()


def websocket_opened(kind: str) -> None:
    """A websocket of `kind` (`inbox`, `widget`) was accepted."""
    _websockets.change(kind, +1)


def websocket_closed(kind: str) -> None:
    """A websocket counted by `websocket_opened` ended."""
    _websockets.change(kind, -1)


# -------------------------------------------------------------------- scrape


def _platforms() -> list[str]:
    from channels_app.models import Channel

    return list(Channel.Type.values)


class PingBackCollector(Collector):
    """Builds every metric family from the counter store, the database and
    the websocket counts, at scrape time."""

    def collect(self) -> Iterator:
        yield from self._counters()
        yield from self._database_gauges()
        websockets = GaugeMetricFamily(
            "pingback_websocket_connections",
            "Open websocket connections, all processes.",
            labels=["kind"],
        )
        try:
            totals = _websockets.totals()
        except redis.RedisError as error:
            logger.warning("metrics.redis_unavailable", extra={"error": str(error)})
        else:
            for kind in WEBSOCKET_KINDS:
                websockets.add_metric([kind], totals.get(kind, 0))
        yield websockets

    def _counters(self) -> Iterator:
        try:
            values = _read()
        except redis.RedisError as error:
            logger.warning("metrics.redis_unavailable", extra={"error": str(error)})
            return
        # Known platforms first (their counters start at 0), then any other
        # label counted (`unknown`: a reply whose channel was deleted).
        platforms = _platforms()
        platforms += sorted({f.split("|")[1] for f in values} - set(platforms))
        webhooks = CounterMetricFamily(
            "pingback_webhooks_received",
            "Webhook deliveries to known channels, by platform and outcome.",
            labels=["platform", "outcome"],
        )
        replies = CounterMetricFamily(
            "pingback_replies",
            "Delivery tries of outbound messages, by platform and outcome.",
            labels=["platform", "outcome"],
        )
        latency = HistogramMetricFamily(
            "pingback_reply_delivery_seconds",
            "Seconds from a reply being queued to the platform accepting it.",
            labels=["platform"],
        )
        for platform in platforms:
            for outcome in WEBHOOK_OUTCOMES:
                field = _field("webhooks_received", platform, outcome)
                webhooks.add_metric([platform, outcome], values.get(field, 0.0))
            for outcome in REPLY_OUTCOMES:
                field = _field("replies", platform, outcome)
                replies.add_metric([platform, outcome], values.get(field, 0.0))
            buckets, cumulative = [], 0.0
            for bound in (*DELIVERY_BUCKETS, "+Inf"):
                bound = str(bound)
                cumulative += values.get(
                    _field("reply_delivery", platform, "bucket", bound), 0.0
                )
                buckets.append((bound, cumulative))
            latency.add_metric(
                [platform],
                buckets,
                values.get(_field("reply_delivery", platform, "sum"), 0.0),
            )
        yield from (webhooks, replies, latency)

    def _database_gauges(self) -> Iterator:
        from channels_app.models import Channel, InboundEvent
        from conversations.models import Message

        try:
            now = timezone.now()
            oldest = [
                InboundEvent.objects.filter(status=status)
                .order_by("received_at")
                .values_list("received_at", flat=True)
                .first()
                for status in (
                    InboundEvent.Status.RECEIVED,
                    InboundEvent.Status.PROCESSING,
                )
            ]
            oldest = [at for at in oldest if at is not None]
            waiting = dict.fromkeys((Message.Status.QUEUED, Message.Status.SENDING), 0)
            for status in waiting:
                waiting[status] = Message.objects.filter(status=status).count()
            active = Channel.objects.filter(is_active=True)
            paused = active.filter(paused_until__gt=now).count()
            in_alert = active.exclude(alert="").count()
        except DatabaseError as error:
            logger.warning("metrics.database_unavailable", extra={"error": str(error)})
            return
        yield GaugeMetricFamily(
            "pingback_inbound_oldest_unprocessed_seconds",
            "Age of the oldest stored inbound event not processed yet (0: none).",
            value=max(0.0, (now - min(oldest)).total_seconds()) if oldest else 0.0,
        )
        gauge = GaugeMetricFamily(
            "pingback_outbound_messages_waiting",
            "Outbound messages waiting to be sent, by status.",
            labels=["status"],
        )
        for status, count in waiting.items():
            gauge.add_metric([str(status)], count)
        yield gauge
        yield GaugeMetricFamily(
            "pingback_channels_paused",
            "Active channels paused by a platform's rate limit.",
            value=paused,
        )
        yield GaugeMetricFamily(
            "pingback_channels_in_alert",
            "Active channels with an alert set (e.g. revoked access).",
            value=in_alert,
        )


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(PingBackCollector())


def scrape() -> bytes:
    """The metrics in Prometheus' text format."""
    return generate_latest(REGISTRY)

"""Waking the workers that process stored inbound events.

A webhook's stored row is its hand-off to the workers (`inbound.py`); what is
left is to make sure a drain (`channels.process_inbound_events`) runs after
the row is committed, without paying for a task message, or even a Redis
round trip, per webhook.

- The wake flag (a Redis key with `REDIS_URL`, a cache entry otherwise) says
  "a drain is coming". Setting it with `SET NX` tells who set it: only that
  caller enqueues a drain. A drain clears the flag before each claim, so an
  event committed after a claim that missed it is followed by a `SET NX` that
  either succeeds (and enqueues a new drain) or finds the flag set by someone
  whose drain is still to come. The flag expires after
  `INBOUND_WAKE_SECONDS`, in case its drain was lost.
- Each process coalesces its own wake-ups: `inbound_processing_wake` only
  marks a wake-up as wanted (no I/O), and one daemon thread per process does
  the `SET NX` (and the enqueue) after it, then waits `WAKE_COALESCE_SECONDS`
  (`WAKE_HELD_SECONDS` when the flag was already set: a drain is coming)
  before doing it again for the wake-ups wanted meanwhile. Under load a web
  process sends at most 50 `SET NX` per second (10 while a drain is pending)
  instead of one per webhook; a message waits at most that long more before
  its drain is enqueued, and only when a drain that was coming ended before
  the message was committed.
- Without a broker (tasks run eagerly) the drain runs at once, inline.
- A process that exits with a wake-up wanted sends it at exit; if it is
  killed, Celery beat's periodic drain (`INBOUND_SWEEP_INTERVAL`) picks the
  events up.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache

logger = logging.getLogger(__name__)

WAKE_FLAG = "pingback:inbound:wake"
# Seconds a process's wake-up thread waits after a wake-up before the next.
WAKE_COALESCE_SECONDS = 0.02
# Seconds it waits instead after a wake-up that found the flag already set: a
# drain is coming, and it claims every event committed before its claim. At
# 0.02 s each web process sent 50 `SET NX` a second under a steady flow of
# webhooks whatever its share of them, and the thread took 7-10 % of a
# gunicorn worker's CPU time at 280-550 webhooks/s (bench/README.md, "Ingest
# at 32 connections").
WAKE_HELD_SECONDS = 0.1
# Seconds the thread waits before trying again after Redis or the broker failed.
WAKE_RETRY_SECONDS = 1.0


def inbound_processing_wake() -> None:
    """Make sure a drain will process the events committed so far.

    Eager tasks (no broker): the drain runs now, in this call. Otherwise this
    process's wake-up thread is told to wake the workers, and the call
    returns at once (no I/O).
    """
    if tasks_eager():
        from channels_app.tasks import process_inbound_events

        process_inbound_events.delay()
        return
    _waker.want()


def inbound_wake_now() -> bool:
    """Set the wake flag, and enqueue a drain if this call set it; return
    whether it did. Raises the broker's or Redis's connection errors; when
    the enqueue fails, the flag is cleared again, so the caller's retry
    enqueues the drain instead of finding the flag set by a drain that is
    not coming."""
    if not _wake_flag_add():
        return False
    from channels_app.tasks import process_inbound_events

    try:
        process_inbound_events.delay()
    except Exception:
        inbound_wake_flag_clear()
        raise
    return True


def inbound_wake_flag_set() -> None:
    """Set the wake flag (a drain is coming): wake-ups enqueue nothing until
    a drain clears it or it expires after `INBOUND_WAKE_SECONDS`."""
    _flag_store().set(WAKE_FLAG, 1, settings.INBOUND_WAKE_SECONDS)


def inbound_wake_flag_clear() -> None:
    """Clear the wake flag: the next wake-up enqueues a drain."""
    _flag_store().delete(WAKE_FLAG)


def tasks_eager() -> bool:
    """True when Celery runs tasks inline (no broker): a drain then runs in
    the process that wakes it."""
    from pingback.celery import app

    return bool(app.conf.task_always_eager)


class _RedisFlags:
    """The cache calls the wake flag needs, on one Redis client per process:
    Django's cache builds a new client object for every call, which cost more
    than the SET itself."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)

    def add(self, key: str, value: int, timeout: float) -> bool:
        return bool(self._client.set(key, value, nx=True, px=_ms(timeout)))

    def set(self, key: str, value: int, timeout: float) -> None:
        self._client.set(key, value, px=_ms(timeout))

    def delete(self, key: str) -> None:
        self._client.delete(key)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


@functools.cache
def _flag_store() -> _RedisFlags | BaseCache:
    """Where the wake flag lives: Redis (`REDIS_URL`), else Django's cache."""
    return _RedisFlags(settings.REDIS_URL) if settings.REDIS_URL else cache


def _wake_flag_add() -> bool:
    return bool(_flag_store().add(WAKE_FLAG, 1, settings.INBOUND_WAKE_SECONDS))


class _Waker:
    """This process's wake-up thread (see the module docstring). Started on
    first use in each process, so a fork (gunicorn, Celery prefork) gets its
    own."""

    def __init__(self) -> None:
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def want(self) -> None:
        if self._pid != os.getpid():
            self._start()
        self._wanted.set()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._wanted = threading.Event()
            threading.Thread(
                target=self._run, name="pingback-inbound-wake", daemon=True
            ).start()
            self._pid = os.getpid()

    def _run(self) -> None:
        wanted = self._wanted
        while True:
            wanted.wait()
            # Cleared before the SET NX: a wake-up wanted from here on gets
            # a SET NX of its own, after its commit.
            wanted.clear()
            try:
                enqueued = inbound_wake_now()
            except Exception:
                logger.warning("inbound.wake_failed", exc_info=True)
                wanted.set()
                threading.Event().wait(WAKE_RETRY_SECONDS)
                continue
            threading.Event().wait(
                WAKE_COALESCE_SECONDS if enqueued else WAKE_HELD_SECONDS
            )

    def flush(self) -> None:
        """At exit: send a wake-up still wanted, in the calling thread."""
        if self._pid == os.getpid() and self._wanted.is_set():
            self._wanted.clear()
            try:
                inbound_wake_now()
            except Exception:
                logger.warning("inbound.wake_failed", exc_info=True)


_waker = _Waker()
atexit.register(_waker.flush)

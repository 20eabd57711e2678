"""Locks shared by every process and host, held in the cache (Redis when
`REDIS_URL` is set; the per-process memory cache otherwise, enough for one
process in development).

A lock is a cache key added only if absent (Redis `SET NX` with an expiry),
so a holder that dies frees it when the expiry passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache


def lock_take(key: str, seconds: float, holder: str = "1") -> bool:
    """Take the lock `key` for `seconds` (whole seconds: the cache rounds
    down, so give at least 1) unless someone holds it. Returns whether it was
    taken. The lock is never released here: it expires. Raises what the cache
    raises when it is unreachable (e.g. `redis.ConnectionError`)."""
    return cache.add(key, holder, timeout=seconds)


@contextmanager
def held_lock(key: str, seconds: float) -> Iterator[bool]:
    """Take the lock `key` for at most `seconds` (`lock_take`); yields whether
    it was taken (False: someone else holds it) and frees it on the way out
    when it was, so the next holder need not wait for the expiry."""
    taken = lock_take(key, seconds)
    try:
        yield taken
    finally:
        if taken:
            cache.delete(key)

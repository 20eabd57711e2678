"""Helpers the test suites share (imported by tests only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Call `predicate` every `interval` seconds until it returns a truthy
    value, and return that value. Raises `AssertionError` after `timeout`
    seconds: for waiting on another thread or process (a worker, a live
    server, the sandbox), never for timing anything."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")

"""Failure modes: what a test or the demo page tells a stand-in to do wrong.

Every stand-in has modes, set with ``POST /_sandbox/<platform>/mode`` (any
subset) and read with ``GET``; a reset puts the defaults back. The failures
every platform knows are the same counters everywhere:

- ``server_error_next``: the next N calls answer the platform's 5xx;
- ``rate_limit_next`` (Telegram: ``flood_next``): the next N calls answer the
  platform's 429, with its way of saying when to retry (``Retry-After``,
  ``retry_after``, ``x-rate-limit-reset``).

:meth:`Modes.take_failure` uses one of them up, server errors first. What the
failure looks like on the wire (status, body, headers) is the platform's own.
Other modes (refused credentials, exhausted credits, slow answers, blocked
customers...) are plain values the platform reads with ``modes[key]``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

SERVER_ERROR = "server_error"
RATE_LIMITED = "rate_limited"

Check = Callable[[Any], bool]
"""True when a value is acceptable for a mode."""


def is_count(value: Any) -> bool:
    """A non-negative integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_flag(value: Any) -> bool:
    """True or false."""
    return isinstance(value, bool)


def is_seconds(value: Any) -> bool:
    """A non-negative number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


COUNT = (is_count, "must be a non-negative integer")
FLAG = (is_flag, "must be true or false")
SECONDS = (is_seconds, "must be a non-negative number of seconds")


def one_of(choices: Iterable[Any], message: str) -> tuple[Check, str]:
    """A mode that takes one of ``choices``; ``message`` follows the key name
    in the error."""
    allowed = tuple(choices)
    return (lambda value: value in allowed, message)


class Modes:
    """A stand-in's modes, safe to use from several threads.

    ``defaults`` maps every mode to its value after a reset; ``checks`` maps
    a mode to ``(check, message)`` (see :data:`COUNT`, :data:`FLAG`,
    :data:`SECONDS`, :func:`one_of`). ``rate_limit`` names the counter of
    429s.
    """

    def __init__(
        self,
        defaults: Mapping[str, Any],
        checks: Mapping[str, tuple[Check, str]],
        *,
        rate_limit: str = "rate_limit_next",
    ) -> None:
        self.defaults = copy.deepcopy(dict(defaults))
        self.checks = dict(checks)
        self.rate_limit = rate_limit
        self._lock = threading.Lock()
        self._values = copy.deepcopy(self.defaults)

    def __getitem__(self, key: str) -> Any:
        """The current value of one mode."""
        with self._lock:
            return copy.deepcopy(self._values[key])

    def get(self) -> dict[str, Any]:
        """A copy of every mode."""
        with self._lock:
            return copy.deepcopy(self._values)

    def validate(self, changes: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the first unknown key or bad value."""
        for key, value in changes.items():
            if key not in self.defaults:
                raise ValueError(
                    f"unknown mode {key!r}; known: {sorted(self.defaults)}"
                )
            check, message = self.checks.get(key, (lambda _value: True, ""))
            if not check(value):
                raise ValueError(f"{key} {message}")

    def set(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a checked update (``ValueError`` if bad); return all modes."""
        self.validate(changes)
        with self._lock:
            self._values.update(copy.deepcopy(dict(changes)))
            return copy.deepcopy(self._values)

    def reset(self) -> None:
        """Back to the defaults."""
        with self._lock:
            self._values = copy.deepcopy(self.defaults)

    def take(self, *counters: str) -> str | None:
        """Use up one of the first of ``counters`` that is above zero and
        return its name, or ``None`` when all are zero."""
        with self._lock:
            for counter in counters:
                if self._values[counter] > 0:
                    self._values[counter] -= 1
                    return counter
        return None

    def take_failure(self) -> str | None:
        """Use up one forced failure: :data:`SERVER_ERROR` while
        ``server_error_next`` is above zero, else :data:`RATE_LIMITED` while
        the rate-limit counter is, else ``None``."""
        taken = self.take("server_error_next", self.rate_limit)
        if taken is None:
            return None
        return SERVER_ERROR if taken == "server_error_next" else RATE_LIMITED

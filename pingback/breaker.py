"""A per-process circuit breaker for optional dependencies of a request.

Some of what a request does with Redis is optional: API throttle counters and
live-inbox notices. When Redis is down or frozen each such call waits up to
`REDIS_TIMEOUT` before failing; a breaker makes a process skip the dependency
for a few seconds after one failure, so only the first requests of an outage
pay that wait, not every request of it.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)


class Breaker:
    """Open (skip the dependency) for `cooldown` seconds after `trip()`.

    Per process, lock-free: a race only lets one more call try the
    dependency.
    """

    def __init__(self, name: str, *, cooldown: float = 2.0) -> None:
        self.name = name
        self.cooldown = cooldown
        self._open_until = 0.0
        BREAKERS.append(self)

    @property
    def is_open(self) -> bool:
        """Whether calls should skip the dependency now."""
        return time.monotonic() < self._open_until

    def trip(self) -> None:
        """Record a failure: skip the dependency for `cooldown` seconds."""
        if not self.is_open:
            logger.warning("breaker.opened", extra={"dependency": self.name})
        self._open_until = time.monotonic() + self.cooldown

    def reset(self) -> None:
        """Close the breaker (tests, between cases)."""
        self._open_until = 0.0


BREAKERS: list[Breaker] = []
"""Every breaker of this process."""

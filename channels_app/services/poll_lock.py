"""One poll of a channel at a time, across processes and hosts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pingback.locks import held_lock

# Longest a poll may hold its channel's lock, in seconds (the poll tasks'
# hard time limit): a crashed poll frees the channel after this.
POLL_LOCK_SECONDS = 300


@contextmanager
def channel_poll_lock(kind: str, channel_id: object) -> Iterator[bool]:
    """Take the lock `pingback:<kind>-poll:<channel id>` (`held_lock`) for at
    most `POLL_LOCK_SECONDS`; yields whether it was taken (False: another
    poll of this channel is running) and frees it on the way out when it
    was."""
    with held_lock(f"pingback:{kind}-poll:{channel_id}", POLL_LOCK_SECONDS) as taken:
        yield taken

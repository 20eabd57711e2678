"""Celery beat's scheduler: each periodic task is sent once per period, even
when `celery beat` runs on several hosts at once (by mistake, or on purpose
so that losing one host does not stop the periodic tasks).

Before sending an entry of `CELERY_BEAT_SCHEDULE`, a beat takes the lock
`pingback:beat:<entry name>:<period number>` (`pingback.locks.lock_take`),
where the period number is the current Unix time divided by the entry's
interval (a crontab entry's period is the minute). The first beat to reach
a period sends the task; any other beat skips it for that period and logs
`beat.skipped`. Periods are counted from the epoch, so every host computes
the same numbers as long as the hosts' clocks agree (NTP) to well under the
shortest interval.

When the cache (Redis) cannot be reached, the beat sends anyway and logs
`beat.lock_unavailable`: every periodic task is safe to run twice, and a
missed sweep is worse than a repeated one.

`CELERY_BEAT_SCHEDULER` names this class, so `celery -A pingback beat` uses
it without an option. See docs/deployment.md, "Periodic tasks".

Source: https://docs.celeryq.dev/en/stable/userguide/periodic-tasks.html
"""

from __future__ import annotations

import logging
import os
import socket
import time

from celery.beat import PersistentScheduler, ScheduleEntry
from celery.schedules import schedule as interval_schedule

from pingback.locks import lock_take

logger = logging.getLogger(__name__)

# The period of an entry that is not a fixed interval (crontab, solar): they
# fire at most once a minute.
OTHER_SCHEDULE_PERIOD = 60.0


def entry_period(entry: ScheduleEntry) -> float:
    """Seconds between two runs of `entry`: its interval, or
    `OTHER_SCHEDULE_PERIOD` for a crontab or solar schedule."""
    if isinstance(entry.schedule, interval_schedule):
        return max(entry.schedule.run_every.total_seconds(), 1.0)
    return OTHER_SCHEDULE_PERIOD


class LockedScheduler(PersistentScheduler):
    """`PersistentScheduler` (the default, with its local schedule file)
    that sends each entry at most once per period across every beat sharing
    the cache."""

    holder = f"{socket.gethostname()}:{os.getpid()}"

    def apply_entry(self, entry: ScheduleEntry, producer=None) -> None:
        """Send `entry`'s task if this beat is the first to reach the current
        period; otherwise skip it (logged)."""
        period = entry_period(entry)
        number = int(time.time() // period)
        key = f"pingback:beat:{entry.name}:{number}"
        fields = {"entry": entry.name, "period": number, "beat": self.holder}
        try:
            # Kept two periods, so a late beat still finds it.
            taken = lock_take(key, max(2 * period, 1), holder=self.holder)
        except Exception as error:
            logger.warning(
                "beat.lock_unavailable", extra={**fields, "error": repr(error)}
            )
            taken = True
        if not taken:
            logger.info("beat.skipped", extra=fields)
            return
        logger.info("beat.sent", extra=fields)
        super().apply_entry(entry, producer=producer)

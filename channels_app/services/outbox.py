"""The outbox: how committed outbound messages reach the delivery workers.

An outbound message is committed as `queued`, with `next_attempt_at`, in the
same transaction as the rest of the reply: that row is what must be sent. The
broker only carries a wake-up for it (`channels.deliver_message`), so a broker
that is down or frozen delays a reply and never loses or fails it.

- After the commit, `outbox_hand_off` gives the message id to this process's
  relay: a daemon thread that publishes the task and, while the broker does
  not answer, tries again every `OUTBOX_RELAY_RETRY_SECONDS`. The request that
  committed the reply never waits on the broker.
- A process killed with ids still in its relay leaves their messages
  `queued`. Celery beat runs `channels.sweep_outbox` every
  `OUTBOX_SWEEP_INTERVAL` seconds: it publishes again every queued message
  whose `next_attempt_at` has passed, and moves that time
  `OUTBOX_REPUBLISH_AFTER` seconds on, so a message waiting in a long queue is
  published again at most once per that period.
- A message waiting for a retry has `next_attempt_at` past its retry's
  countdown (`channels_app.services.delivery`), so the sweeper never sends it
  before the backoff or the platform's Retry-After.
- A task published twice for one message sends it once: delivery claims the
  message with a `queued → sending` transition under a row lock.
- Without a broker (tasks run eagerly) the delivery runs at once, inline.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from conversations.models import Message
from pingback.logs import current_request_id, request_id_bound

logger = logging.getLogger(__name__)


# Publishes tasks for ids (with the request id each was written under);
# returns the ids whose publish failed.
Publish = Callable[[list[int], Mapping[int, str]], list[int]]


def outbox_due_at(delay: float = 0.0, *, now: datetime | None = None) -> datetime:
    """When the sweeper should publish a queued message again if no worker
    has claimed it: `delay` seconds (a retry's countdown) plus
    `OUTBOX_REPUBLISH_AFTER` from `now`."""
    now = now or timezone.now()
    return now + timedelta(seconds=delay + settings.OUTBOX_REPUBLISH_AFTER)


def retry_by_task(countdown: float) -> bool:
    """Whether a retry `countdown` seconds away is scheduled as a task
    countdown (short waits), or held in the database for the sweeper (longer
    than `DELIVERY_MAX_COUNTDOWN`: the broker would hand an unacknowledged
    task that long to another worker, see docs/deployment.md)."""
    return countdown <= settings.DELIVERY_MAX_COUNTDOWN


def retry_due_at(countdown: float, *, now: datetime | None = None) -> datetime:
    """`next_attempt_at` of a message retried in `countdown` seconds: when its
    retry task should have claimed it (plus the sweeper's grace), or, for a
    retry held in the database, exactly when it is due."""
    if retry_by_task(countdown):
        return outbox_due_at(countdown, now=now)
    return (now or timezone.now()) + timedelta(seconds=countdown)


def outbox_hand_off(message_id: int) -> None:
    """Hand committed outbound message `message_id` to the delivery workers.

    Call after the commit (`transaction.on_commit`). Eager tasks (no broker):
    the delivery runs now, in this call. Otherwise this process's relay
    publishes it and the call returns at once (no I/O).
    """
    if _tasks_eager():
        from channels_app.tasks import deliver_message

        deliver_message.delay(message_id)
        return
    _relay.add([message_id])


def tasks_publish(
    task: Any, ids: Iterable[int], request_ids: Mapping[int, str] | None = None
) -> list[int]:
    """Publish Celery `task` once per id (its one argument); return the ids
    whose publish failed (the broker did not answer), in order.
    `request_ids`: the id of the web request that wrote each row, carried
    into its task's log lines (`pingback.logs`)."""
    failed = []
    for row_id in ids:
        try:
            # The relay and the sweeper retry themselves; Celery's own
            # publish retries would only hold them longer on a dead broker.
            with request_id_bound((request_ids or {}).get(row_id)):
                task.apply_async((row_id,), retry=False)
        except Exception as error:  # kombu, redis and socket errors alike
            logger.warning(
                "outbox.publish_failed",
                extra={"task": task.name, "id": row_id, "error": type(error).__name__},
            )
            failed.append(row_id)
    return failed


def outbox_publish(
    message_ids: Iterable[int], request_ids: Mapping[int, str] | None = None
) -> list[int]:
    """Publish a `channels.deliver_message` task for each message id; return
    the ids whose publish failed (`tasks_publish`)."""
    from channels_app.tasks import deliver_message

    return tasks_publish(deliver_message, message_ids, request_ids)


def outbox_sweep(*, limit: int = 500) -> int:
    """Publish again the queued outbound messages whose `next_attempt_at` has
    passed (their task was lost with a broker outage or a killed process),
    oldest first, at most `limit`; move their `next_attempt_at` on by
    `OUTBOX_REPUBLISH_AFTER`. Returns how many were published. Safe to run
    from several processes at once (`FOR UPDATE SKIP LOCKED`)."""
    now = timezone.now()
    due = Message.objects.filter(
        status=Message.Status.QUEUED,
        direction=Message.Direction.OUTBOUND,
        next_attempt_at__lte=now,
    )
    published, failed = due_publish(
        due,
        order_by="next_attempt_at",
        limit=limit,
        then={"next_attempt_at": outbox_due_at(now=now)},
        publish=outbox_publish,
    )
    if published or failed:
        logger.info("outbox.swept", extra={"published": published, "failed": failed})
    return published


def due_publish(
    due: QuerySet,
    *,
    order_by: str,
    limit: int,
    then: Mapping[str, Any],
    publish: Publish,
) -> tuple[int, int]:
    """The sweepers' step: lock the rows of `due` no other sweeper holds
    (`FOR UPDATE SKIP LOCKED`), at most `limit` in `order_by` order, set
    `then` on them (when they are due again), and after the commit publish
    their ids (`publish`, as `Relay` takes it). Returns how many were
    published and how many publishes failed."""
    with transaction.atomic():
        ids = list(
            due.select_for_update(skip_locked=True)
            .order_by(order_by)
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0, 0
        due.model.objects.filter(pk__in=ids).update(**then)
    failed = publish(ids, {})
    return len(ids) - len(failed), len(failed)


def _tasks_eager() -> bool:
    from pingback.celery import app

    return bool(app.conf.task_always_eager)


class Relay:
    """This process's publisher of handed-off ids: one daemon thread that
    calls `publish(ids, request_ids)` (which returns the ids whose publish
    failed) for what is pending and, when the broker fails, keeps the failed
    ids and tries again after `OUTBOX_RELAY_RETRY_SECONDS`. One relay per
    kind of row: `outbox_publish` for replies here, the webhook deliveries
    in `webhooks.services.deliveries`."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._condition = threading.Condition()
        self._pending: list[int] = []
        # The request id each pending message was written under, for its
        # task's log lines.
        self._request_ids: dict[int, str] = {}
        self._pid = 0

    def add(self, message_ids: Iterable[int]) -> None:
        with self._condition:
            # A forked process (gunicorn, prefork workers) starts its own thread.
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._pending = []
                self._request_ids = {}
                threading.Thread(
                    target=self._run, name="outbox-relay", daemon=True
                ).start()
            message_ids = list(message_ids)
            self._pending.extend(message_ids)
            request_id = current_request_id()
            if request_id:
                self._request_ids.update(dict.fromkeys(message_ids, request_id))
            self._condition.notify()

    def flush(self) -> None:
        """Publish what is pending now, in the calling thread (at exit)."""
        with self._condition:
            pending, self._pending = self._pending, []
            request_ids, self._request_ids = self._request_ids, {}
        if pending and self._pid == os.getpid():
            self._publish(pending, request_ids)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._pending:
                    self._condition.wait()
                pending, self._pending = self._pending, []
                request_ids = {
                    message_id: self._request_ids.pop(message_id)
                    for message_id in pending
                    if message_id in self._request_ids
                }
            failed = self._publish(pending, request_ids)
            if failed:
                with self._condition:
                    self._pending[:0] = failed
                    self._request_ids.update(
                        (message_id, request_ids[message_id])
                        for message_id in failed
                        if message_id in request_ids
                    )
                # Not woken early by new ids: during an outage every try
                # costs each pending id a connection attempt.
                time.sleep(settings.OUTBOX_RELAY_RETRY_SECONDS)


_relay = Relay(outbox_publish)
atexit.register(_relay.flush)

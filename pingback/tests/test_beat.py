"""Two `celery beat` processes started by mistake on two hosts: each periodic
task is still sent, and run by the worker, once per period
(pingback/beat.py). Real processes: two beats and a worker on the test
database and Redis."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from collections import Counter, defaultdict
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from celery.beat import ScheduleEntry
from celery.schedules import schedule as interval_schedule
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from channels_app.tests.factories import ChannelFactory
from conversations.models import PendingReceipt
from pingback.beat import LockedScheduler
from pingback.celery import app as celery_app
from pingback.testing import child_process, current_database_url, free_port, wait_for

BIN = Path(sys.executable).parent
INTERVAL = "2"
# Every entry of CELERY_BEAT_SCHEDULE that runs at least once a minute, with
# the variable that sets its interval.
INTERVALS = {
    "wake-snoozed-conversations": "SNOOZE_WAKE_INTERVAL",
    "process-inbound-events": "INBOUND_SWEEP_INTERVAL",
    "poll-mailboxes": "EMAIL_POLL_INTERVAL",
    "poll-x-channels": "X_POLL_INTERVAL",
    "sweep-outbox": "OUTBOX_SWEEP_INTERVAL",
    "purge-raw-inbound-events": "RAW_EVENT_PURGE_INTERVAL",
}
PERIODS_WANTED = 4
RECEIVED = re.compile(r"Task ([\w.]+)\[[-\w]+\] received")


def _json_lines(log: Path) -> list[dict]:
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def _decisions(log: Path) -> dict[str, list[tuple[str, int]]]:
    """Per entry, the beat's (`sent` or `skipped`, period number) in order."""
    found = defaultdict(list)
    for line in _json_lines(log):
        if line.get("event") in ("beat.sent", "beat.skipped"):
            found[line["entry"]].append((line["event"][5:], line["period"]))
    return found


def _received(log: Path) -> Counter:
    """How many times the worker received each task, by task name."""
    counts = Counter()
    for line in _json_lines(log):
        match = RECEIVED.fullmatch(line.get("event", ""))
        if match:
            counts[match.group(1)] += 1
    return counts


def _old_receipt() -> PendingReceipt:
    """A held receipt two days old: the next purge drops it."""
    receipt = PendingReceipt.objects.create(
        channel=ChannelFactory(),
        platform_message_id=uuid.uuid4().hex,
        status="delivered",
        occurred_at=timezone.now(),
    )
    PendingReceipt.objects.filter(pk=receipt.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    return receipt


def _purge_entry() -> ScheduleEntry:
    """The receipts purge as a beat entry whose period (a century) does not
    end during the test, under a name of its own. The task is registered,
    so it runs inline here (tests run tasks eagerly)."""
    import channels_app.tasks  # noqa: F401 (registers the task)

    return ScheduleEntry(
        name=f"purge-test-{uuid.uuid4().hex}",
        task="channels.purge_pending_receipts",
        schedule=interval_schedule(timedelta(days=36500)),
        app=celery_app,
    )


@pytest.mark.django_db
def test_a_second_beat_skips_a_period_already_sent(tmp_path):
    entry = _purge_entry()
    first = LockedScheduler(app=celery_app, schedule_filename=str(tmp_path / "a"))
    second = LockedScheduler(app=celery_app, schedule_filename=str(tmp_path / "b"))
    try:
        sent = _old_receipt()
        first.apply_entry(entry)
        assert not PendingReceipt.objects.filter(pk=sent.pk).exists()

        skipped = _old_receipt()
        second.apply_entry(entry)
        first.apply_entry(entry)
        assert PendingReceipt.objects.filter(pk=skipped.pk).exists()
    finally:
        cache.delete(f"pingback:beat:{entry.name}:0")
        first.close()
        second.close()


@pytest.mark.django_db
def test_a_beat_that_cannot_reach_redis_sends_anyway(settings, tmp_path, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    scheduler = LockedScheduler(app=celery_app, schedule_filename=str(tmp_path / "a"))
    receipt = _old_receipt()
    try:
        with caplog.at_level(logging.WARNING, logger="pingback.beat"):
            scheduler.apply_entry(_purge_entry())
    finally:
        scheduler.close()
    assert not PendingReceipt.objects.filter(pk=receipt.pk).exists()
    assert "beat.lock_unavailable" in caplog.messages


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_two_beats_send_each_periodic_task_once_per_period(tmp_path):
    if not settings.REDIS_URL:
        pytest.skip("the beats share their locks through Redis (REDIS_URL)")
    # One mailbox to poll (nothing listens on its port: each poll fails
    # fast), so a double poll would show as a second poll_mailbox task.
    ChannelFactory(
        type="email",
        secrets={"imap_password": "secret", "smtp_password": "secret"},
        config={
            "address": "help@example.com",
            "imap_host": "127.0.0.1",
            "imap_port": free_port(),
            "imap_security": "none",
            "imap_username": "help",
            "imap_folder": "INBOX",
        },
    )
    # Tasks an earlier test left on the broker would count as received.
    celery_app.control.purge()
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DATABASE_CONN_MAX_AGE": "0",
        "PINGBACK_LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **{variable: INTERVAL for variable in INTERVALS.values()},
    }
    env.pop("PINGBACK_TEST_DB_NAME", None)
    celery = str(BIN / "celery")
    worker = [celery, "-A", "pingback", "worker", "--pool=solo", "--loglevel=INFO"]
    worker += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat-a", "beat-b")}
    schedule = settings.CELERY_BEAT_SCHEDULE
    tasks = {entry: schedule[entry]["task"] for entry in INTERVALS}

    with child_process(worker, env=env, log=logs["worker"]):
        with ExitStack() as beats:
            for name in ("beat-a", "beat-b"):
                command = [celery, "-A", "pingback", "beat", "--loglevel=INFO"]
                command.append(f"--schedule={tmp_path / name}.db")
                beats.enter_context(child_process(command, env=env, log=logs[name]))

            def both_beats_decided_enough_periods() -> bool:
                a, b = _decisions(logs["beat-a"]), _decisions(logs["beat-b"])
                return all(
                    len({period for _, period in a[entry]} & {p for _, p in b[entry]})
                    >= PERIODS_WANTED
                    for entry in INTERVALS
                )

            wait_for(both_beats_decided_enough_periods, timeout=120, interval=0.5)

        decisions = {name: _decisions(logs[name]) for name in ("beat-a", "beat-b")}
        sent = Counter()
        for entry in INTERVALS:
            periods = defaultdict(list)
            for name in decisions:
                for outcome, period in decisions[name][entry]:
                    periods[period].append(outcome)
            shared = [p for p in periods if len(periods[p]) == 2]
            assert len(shared) >= PERIODS_WANTED
            for period, outcomes in periods.items():
                # Each period's task was sent by one beat only.
                assert outcomes.count("sent") == 1, (entry, period, outcomes)
            sent[tasks[entry]] += len(periods)

        # The worker receives exactly what was sent: each periodic task once
        # per period, and one poll of the mailbox per mailbox round.
        def worker_caught_up() -> bool:
            received = _received(logs["worker"])
            sent["channels.poll_mailbox"] = sent["channels.poll_mailboxes"]
            return all(received[task] >= count for task, count in sent.items())

        wait_for(worker_caught_up, timeout=60, interval=0.5)

    received = _received(logs["worker"])
    for task, count in sent.items():
        assert received[task] == count, (task, received[task], count)
    assert received["channels.poll_x_channel"] == 0

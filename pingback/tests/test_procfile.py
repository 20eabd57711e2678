"""The Procfile's process types start together under `honcho start`: the web
process answers /healthz on the PORT it was given, the realtime process on
PORT+100, both workers (the default queue's, and the delivery queue's two
processes, as on 2 cores) and beat start, and
stopping honcho stops them all."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import requests
from django.conf import settings

from pingback.testing import child_process, current_database_url, free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BIN = Path(sys.executable).parent


def _two_free_ports() -> int:
    """A free port whose port+100 (honcho's port for the second process
    type) is free too."""
    while True:
        port = free_port()
        if port + 100 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 100))
            except OSError:
                continue
        return port


def _health(url: str) -> dict | None:
    try:
        answer = requests.get(f"{url}/healthz", timeout=2)
    except requests.RequestException:
        return None
    return answer.json() if answer.status_code == 200 else None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_honcho_starts_every_process_type_and_stops_them(tmp_path):
    if not settings.REDIS_URL:
        pytest.skip("the worker and beat need a broker (REDIS_URL)")
    port = _two_free_ports()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": current_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "BEAT_SCHEDULE_FILE": str(tmp_path / "beat-schedule"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PINGBACK_TEST_DB_NAME", None)
    log = tmp_path / "honcho.log"
    web = f"http://127.0.0.1:{port}"
    realtime = f"http://127.0.0.1:{port + 100}"

    with child_process(
        # Two delivery processes, as docs/deployment.md advises on 2 cores.
        [str(BIN / "honcho"), "start", "--no-colour", "-c", "delivery=2"],
        env=env,
        log=log,
    ) as honcho:
        assert wait_for(lambda: _health(web), timeout=90, interval=0.5) == {
            "status": "ok"
        }
        assert wait_for(lambda: _health(realtime), timeout=90, interval=0.5) == {
            "status": "ok"
        }

        def started(marker: str) -> bool:
            return marker in log.read_text(errors="replace")

        def ready(process: str) -> bool:
            lines = log.read_text(errors="replace").splitlines()
            # honcho's lines: "15:19:00 worker.1   | ... celery@host ready."
            return any(f" {process} " in line and "ready." in line for line in lines)

        # Both workers: the default queue's and the delivery queue's.
        wait_for(lambda: ready("worker.1"), timeout=90, interval=0.5)
        wait_for(lambda: ready("delivery.1"), timeout=90, interval=0.5)
        wait_for(lambda: ready("delivery.2"), timeout=90, interval=0.5)
        # Each under a node name of its own (Celery's control commands and
        # monitoring tell them apart).
        output = log.read_text(errors="replace")
        assert "delivery.1@" in output and "delivery.2@" in output
        wait_for(lambda: started("beat: Starting..."), timeout=90, interval=0.5)
        assert honcho.poll() is None, log.read_text(errors="replace")

    # Everything honcho started is gone, and nothing answers any more.
    wait_for(lambda: not _group_alive(honcho.pid), timeout=60, interval=0.2)
    assert _health(web) is None
    assert _health(realtime) is None
    output = log.read_text(errors="replace")
    for process in (
        "web.1",
        "realtime.1",
        "worker.1",
        "delivery.1",
        "delivery.2",
        "beat.1",
    ):
        assert f"{process} started" in output, output[-2000:]

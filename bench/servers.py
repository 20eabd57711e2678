"""The production stack for full runs: gunicorn (with the repository's
`gunicorn.conf.py`) serving PingBack and, separately, the ceiling view, a
uvicorn process serving the inbox websockets, and the two Celery workers of
the Procfile (`worker`: queue `default`, prefork; `delivery`: queue
`delivery`, threads), each a child process with its log under the run's
directory.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pingback.testing import ROOT, child_process

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60.0


@contextmanager
def gunicorn(
    *, settings_module: str, port: int, env: Mapping[str, str], log: Path
) -> Iterator[str]:
    """Serve `settings_module` with `gunicorn -c gunicorn.conf.py` on
    127.0.0.1:`port`; yield its base URL; stop it (SIGTERM) on exit."""
    url = f"http://127.0.0.1:{port}"
    with child_process(
        [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py")],
        env={
            **env,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
        },
        log=log,
    ) as process:
        _wait_http(f"{url}/accounts/login/", process, log)
        yield url


@contextmanager
def websockets_server(*, port: int, env: Mapping[str, str], log: Path) -> Iterator[str]:
    """Serve `pingback.asgi:application` with uvicorn (one process, as the
    websockets process type runs it) on 127.0.0.1:`port`; yield its base
    URL; stop it on exit."""
    url = f"http://127.0.0.1:{port}"
    with child_process(
        [
            str(BIN / "uvicorn"),
            "pingback.asgi:application",
            "--host=127.0.0.1",
            f"--port={port}",
            "--lifespan=off",
            "--ws-max-size=65536",
            "--log-level=warning",
        ],
        env=dict(env),
        log=log,
    ) as process:
        _wait_http(f"{url}/healthz", process, log)
        yield url


@contextmanager
def celery_worker(
    *,
    concurrency: int,
    env: Mapping[str, str],
    log: Path,
    queue: str = "default",
    pool: str = "prefork",
    name: str | None = None,
) -> Iterator:
    """Run `celery -A pingback worker -Q queue` (`pool`, `concurrency`
    processes or threads) as the Procfile's `worker` (queue `default`,
    prefork) or `delivery` (queue `delivery`, threads) process does, until
    exit; returns once that worker answers a ping. Its node name is
    `name` (default `<queue>@bench`)."""
    from pingback.celery import app

    hostname = name or f"{queue}@bench"
    with child_process(
        [
            str(BIN / "celery"),
            "-A",
            "pingback",
            "worker",
            "-Q",
            queue,
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            f"--hostname={hostname}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        env=dict(env),
        log=log,
    ) as process:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start; see {log}")
        yield process


def _wait_http(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited at start; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback)
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT_S} s; see {log}")

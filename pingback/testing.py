"""Helpers the test suites share (imported by tests only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

T = TypeVar("T")

# The repository's root: where child processes run (manage.py, Procfile).
ROOT = Path(__file__).resolve().parents[1]


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, for a
    server a test starts (never a fixed port another process may own)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def current_database_url() -> str:
    """`DATABASE_URL` of the database the running test uses (the test
    database), for the processes a test starts (gunicorn, Celery)."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return (
        f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


@contextmanager
def child_process(
    command: list[str], *, env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen]:
    """Run `command` from the repository's root in a session of its own, its
    output appended to `log`; on the way out, SIGTERM to its whole process
    group, then SIGKILL after 30 s. Yields the `Popen`."""
    with open(log, "ab") as output:
        process = subprocess.Popen(  # noqa: S603 (the caller's command)
            command,
            cwd=ROOT,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class AsgiServer:
    """uvicorn serving `pingback.asgi.application` in a thread, on a fixed
    port so it can be stopped and started again at the same address."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        import uvicorn

        from pingback.asgi import application

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(
            application,
            lifespan="off",
            log_level="warning",
            ws="auto",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [listener]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        assert not self.thread.is_alive(), "uvicorn did not stop"


def in_another_thread(work):
    """Run ORM work outside Playwright's thread and return its result: there,
    the ORM would open a connection of its own that outlives the test
    database, and `async_to_sync` refuses to run. Fails the test when the
    work raises or takes more than 30 s."""
    import threading

    from django.db import connections

    result = []

    def run() -> None:
        try:
            result.append(work())
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert result, "the work failed or timed out"
    return result[0]

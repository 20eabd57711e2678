"""Load generators for the ingest benchmark: wrk (full runs) and a small threaded
Python client (smoke runs, where wrk may be missing).

Both POST pre-signed requests, each at most once, over `connections`
connections for `duration` seconds, and return the same `LoadResult`, with the
ids of the events whose delivery was acknowledged (2xx).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.stats import percentile

LUA_SCRIPT = Path(__file__).with_name("ingest.lua")


@dataclass(frozen=True)
class SignedRequest:
    """One webhook POST: the event id it carries, its signature header value
    and the raw JSON body."""

    event_id: str
    signature: str
    body: bytes


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured. Latencies in milliseconds, from sending the
    request to the end of the response; `acked` are the event ids answered 2xx;
    `exhausted` is true when a connection ran out of requests before the end."""

    loader: str
    connections: int
    duration_s: float
    requests: int
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    acked: tuple[str, ...]
    exhausted: bool

    @property
    def acked_per_s(self) -> float:
        """Acknowledged requests per second."""
        return len(self.acked) / self.duration_s if self.duration_s else 0.0


def wrk_available() -> bool:
    """True when the `wrk` binary is on PATH."""
    return shutil.which("wrk") is not None


def wrk_load(
    url: str,
    requests: Sequence[SignedRequest],
    *,
    connections: int,
    duration: float,
    signature_header: str,
) -> LoadResult:
    """Run wrk with `bench/ingest.lua`: one thread per connection, requests
    dealt round-robin to the threads. Raises `RuntimeError` if wrk fails."""
    parts = urlsplit(url)
    with tempfile.TemporaryDirectory(prefix="pb-bench-wrk-") as workdir:
        prefix = Path(workdir) / "requests"
        _write_request_files(prefix, requests, connections)
        out = Path(workdir) / "result.json"
        env = {
            **os.environ,
            "BENCH_WRK_REQUESTS": str(prefix),
            "BENCH_WRK_PATH": parts.path,
            "BENCH_WRK_SIGNATURE_HEADER": signature_header,
            "BENCH_WRK_OUT": str(out),
        }
        command = [
            "wrk",
            f"-t{connections}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA_SCRIPT),
            f"{parts.scheme}://{parts.netloc}",
        ]
        completed = subprocess.run(  # noqa: S603 (fixed command)
            command, env=env, capture_output=True, text=True, check=False
        )
        if completed.returncode != 0 or not out.exists():
            raise RuntimeError(f"wrk failed: {completed.stderr or completed.stdout}")
        data = json.loads(out.read_text())
    return LoadResult(
        loader="wrk",
        connections=connections,
        duration_s=data["duration_us"] / 1e6,
        requests=data["requests"],
        non_2xx=data["non_2xx"],
        socket_errors=data["socket_errors"] + data["timeouts"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        acked=tuple(data["acked"]),
        exhausted=data["exhausted_threads"] > 0,
    )


def _write_request_files(
    prefix: Path, requests: Sequence[SignedRequest], connections: int
) -> None:
    """Write `<prefix>.<i>` for thread i: every connections-th request,
    `event_id<TAB>signature<TAB>body` per line."""
    files = [
        open(f"{prefix}.{index}", "w", encoding="utf-8") for index in range(connections)
    ]
    try:
        for position, request in enumerate(requests):
            files[position % connections].write(
                f"{request.event_id}\t{request.signature}\t{request.body.decode()}\n"
            )
    finally:
        for file in files:
            file.close()


def python_load(
    url: str,
    requests: Sequence[SignedRequest],
    *,
    connections: int,
    duration: float,
    signature_header: str,
) -> LoadResult:
    """The same run with one thread and one keep-alive HTTP connection per
    `connections`; for smoke runs (it is too slow to measure a server with)."""
    parts = urlsplit(url)
    deadline = time.monotonic() + duration
    shares = [requests[index::connections] for index in range(connections)]
    outcomes: list[list[tuple[str, int, float]]] = [[] for _ in shares]
    errors = [0] * connections

    def drive(index: int) -> None:
        client = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        for request in shares[index]:
            if time.monotonic() >= deadline:
                break
            started = time.perf_counter()
            try:
                client.request(
                    "POST",
                    parts.path,
                    body=request.body,
                    headers={
                        "Content-Type": "application/json",
                        signature_header: request.signature,
                    },
                )
                response = client.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                client.close()
                continue
            elapsed = (time.perf_counter() - started) * 1000
            outcomes[index].append((request.event_id, response.status, elapsed))
        client.close()

    started = time.monotonic()
    workers = [
        threading.Thread(target=drive, args=(index,)) for index in range(connections)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    done = [outcome for share in outcomes for outcome in share]
    latencies = sorted(latency for _, _, latency in done)
    return LoadResult(
        loader="python",
        connections=connections,
        duration_s=elapsed,
        requests=len(done),
        non_2xx=sum(1 for _, status, _ in done if not 200 <= status < 300),
        socket_errors=sum(errors),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else 0.0,
        acked=tuple(event for event, status, _ in done if 200 <= status < 300),
        exhausted=sum(len(share) for share in outcomes) == len(requests),
    )

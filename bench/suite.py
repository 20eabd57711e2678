"""The benchmark suite: ingest (with its ceiling), inbox at scale, delivery,
realtime latency, and (`--parts search`) search at scale.

`run_suite` measures a stack that is already serving (gunicorn, a Celery
worker and the sandbox for full runs; the live server and an in-process worker
in the smoke test) and returns every figure as JSON-ready data, with the load
average before each part and whether each target is met. Reports at scale
(`bench/reports.py`) run with `--parts reports`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from bench.data import inbox_dataset_ensure
from bench.delivery import delivery_benchmark
from bench.inbox import inbox_benchmark
from bench.ingest import ingest_benchmark
from bench.loadgen import python_load, wrk_load
from bench.realtime import realtime_benchmark
from bench.reports import reports_benchmark
from bench.search import search_benchmark
from bench.targets import targets_check
from sandbox.server import SandboxServer


@dataclass(frozen=True)
class SuiteConfig:
    """How much of everything. `loader` is `wrk` or `python`; durations in
    seconds; `max_rate` (requests/s) sizes the distinct events prepared per
    ingest run; `inbox_scales` are conversation counts (ten messages each);
    `reply_rate` replies/s in the paced delivery run, with the sandbox taking
    `platform_latency` seconds per API call; `realtime_rate` webhooks/s for
    `realtime_duration` seconds."""

    mode: str = "full"
    loader: str = "wrk"
    connections: tuple[int, ...] = (8, 32)
    duration: float = 15.0
    max_rate: float = 3000.0
    inbox_scales: tuple[int, ...] = (100_000, 1_000)
    inbox_requests: int = 200
    inbox_warmup: int = 10
    replies: int = 1000
    reply_rate: float = 50.0
    paced_clients: int = 16
    burst_clients: int = 8
    # Seconds the X sandbox takes per API call in the delivery part.
    platform_latency: float = 0.25
    # Conversations the delivery part's replies go round.
    reply_conversations: int = 50
    realtime_rate: float = 50.0
    realtime_duration: float = 20.0
    parts: tuple[str, ...] = field(default=("ingest", "inbox", "delivery", "realtime"))


SMOKE = SuiteConfig(
    mode="smoke",
    loader="python",
    connections=(2, 4),
    duration=0.5,
    max_rate=60.0,
    inbox_scales=(60, 30),
    inbox_requests=5,
    inbox_warmup=1,
    replies=8,
    reply_rate=20.0,
    paced_clients=2,
    burst_clients=2,
    platform_latency=0.05,
    realtime_rate=10.0,
    realtime_duration=1.0,
)


def run_suite(
    *,
    web_url: str,
    ceiling_url: str,
    sandbox: SandboxServer,
    config: SuiteConfig,
    ws_url: str | None = None,
    checkpoint: Callable[[dict], None] = lambda results: None,
    delivery_workers: Sequence[str] | None = None,
) -> dict:
    """Run the parts named in `config.parts`; return `{"config", "started_at",
    "ingest", "inbox", "delivery", "realtime", "load", "durations_s",
    "targets"}` (see the part modules for each shape). The realtime part
    needs `ws_url`, the ASGI server serving the inbox websocket, and is
    left out without it. `delivery_workers` are the node names of the
    workers consuming the `delivery` queue (None: every worker), held during
    the delivery burst. `checkpoint` receives the results so far after
    each part, so a run that fails late keeps what it measured."""
    loader = {"wrk": wrk_load, "python": python_load}[config.loader]
    results: dict = {
        "config": asdict(config),
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load": {},
        "durations_s": {},
    }
    if "ingest" in config.parts:
        results["load"]["ingest"] = _load_average()
        started = time.monotonic()
        results["ingest"] = [
            figures.as_dict()
            for figures in ingest_benchmark(
                web_url=web_url,
                ceiling_url=ceiling_url,
                loader=loader,
                connections=config.connections,
                duration=config.duration,
                max_rate=config.max_rate,
            )
        ]
        results["durations_s"]["ingest"] = round(time.monotonic() - started, 1)
        checkpoint(_with_targets(results))
    if "inbox" in config.parts:
        results["inbox"] = []
        for scale in config.inbox_scales:
            started = time.monotonic()
            dataset = inbox_dataset_ensure(scale)
            results["load"][f"inbox {scale}"] = _load_average()
            results["inbox"].append(
                {
                    **inbox_benchmark(
                        web_url,
                        dataset,
                        requests=config.inbox_requests,
                        warmup=config.inbox_warmup,
                    ),
                    "generated_now": dataset.created,
                }
            )
            results["durations_s"][f"inbox {scale}"] = round(
                time.monotonic() - started, 1
            )
            checkpoint(_with_targets(results))
    # Search and reports: each measured on the inbox data sets.
    for part, benchmark in (
        ("search", search_benchmark),
        ("reports", reports_benchmark),
    ):
        if part not in config.parts:
            continue
        results[part] = []
        for scale in config.inbox_scales:
            started = time.monotonic()
            dataset = inbox_dataset_ensure(scale)
            results["load"][f"{part} {scale}"] = _load_average()
            results[part].append(
                {
                    **benchmark(
                        web_url,
                        dataset,
                        requests=config.inbox_requests,
                        warmup=config.inbox_warmup,
                    ),
                    "generated_now": dataset.created,
                }
            )
            results["durations_s"][f"{part} {scale}"] = round(
                time.monotonic() - started, 1
            )
            checkpoint(_with_targets(results))
    if "delivery" in config.parts:
        results["load"]["delivery"] = _load_average()
        started = time.monotonic()
        results["delivery"] = delivery_benchmark(
            web_url=web_url,
            sandbox=sandbox,
            replies=config.replies,
            rate=config.reply_rate,
            burst_clients=config.burst_clients,
            latency=config.platform_latency,
            paced_clients=config.paced_clients,
            delivery_workers=delivery_workers,
            conversations=config.reply_conversations,
        )
        results["durations_s"]["delivery"] = round(time.monotonic() - started, 1)
        checkpoint(_with_targets(results))
    if "realtime" in config.parts and ws_url:
        results["load"]["realtime"] = _load_average()
        started = time.monotonic()
        results["realtime"] = realtime_benchmark(
            web_url=web_url,
            ws_url=ws_url,
            rate=config.realtime_rate,
            duration=config.realtime_duration,
        )
        results["durations_s"]["realtime"] = round(time.monotonic() - started, 1)
    return _with_targets(results)


def _with_targets(results: dict) -> dict:
    results["targets"] = targets_check(results)
    return results


def _load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (as `uptime` shows them)."""
    return [round(value, 2) for value in os.getloadavg()]

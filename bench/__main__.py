"""`python -m bench [--smoke]`: run the benchmark suite against the production
stack and write the results (`bench/results/<date>-<mode>.md` and `.json`).

Run it through `bash bench/run`, which installs the tools, prepares PostgreSQL
and Redis and sets the environment (see bench/README.md). The stack: PingBack
and the ceiling each under gunicorn with `gunicorn.conf.py`, the two Celery
workers of the Procfile (default and delivery queues), the X sandbox in this
process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import django

RESULTS = Path(__file__).resolve().parent / "results"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny data, a few seconds per part"
    )
    parser.add_argument("--loader", choices=("wrk", "python"), default="wrk")
    parser.add_argument(
        "--parts",
        default="ingest,inbox,delivery,realtime",
        help="comma-separated parts to run (default: all)",
    )
    parser.add_argument("--duration", type=float, help="seconds per ingest run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


def main() -> int:
    arguments = _arguments()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pingback.settings")
    # The inbox part makes a few thousand requests with one API token, far
    # above the production rate limit (`API_THROTTLE_USER`, 600/min): measured
    # latencies, not 429s. The servers started below inherit it.
    os.environ.setdefault("API_THROTTLE_USER", "1000000/min")
    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from bench import servers
    from bench.report import machine_describe, markdown
    from bench.suite import SMOKE, SuiteConfig, run_suite
    from sandbox.server import SandboxServer

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL; bench/run does.")
    config = SMOKE if arguments.smoke else SuiteConfig()
    config = replace(
        config, loader=arguments.loader, parts=tuple(arguments.parts.split(","))
    )
    if arguments.duration:
        config = replace(config, duration=arguments.duration)
    if os.environ.get("BENCH_REPLY_CONVERSATIONS"):
        conversations = int(os.environ["BENCH_REPLY_CONVERSATIONS"])
        config = replace(config, reply_conversations=conversations)

    call_command("migrate", verbosity=0)
    # A migration that rewrites rows (a backfill) leaves the visibility map
    # cleared until autovacuum passes, and index-only scans (the view counts)
    # read the heap meanwhile: measure the tables as a running installation
    # has them.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    _broker_purge(settings.REDIS_URL)
    stamp = time.strftime("%Y-%m-%d-%H%M%S")
    logs = arguments.out / "logs" / stamp
    logs.mkdir(parents=True, exist_ok=True)
    web_port = int(os.environ.get("BENCH_WEB_PORT", "8501"))
    ceiling_port = int(os.environ.get("BENCH_CEILING_PORT", "8502"))
    sandbox_port = int(os.environ.get("BENCH_SANDBOX_PORT", "8503"))
    ws_port = int(os.environ.get("BENCH_WS_PORT", "8504"))
    concurrency = int(os.environ.get("CELERY_CONCURRENCY", "2"))
    delivery_concurrency = int(os.environ.get("DELIVERY_CONCURRENCY", "32"))
    # Replicas of the delivery worker (the Procfile's `delivery` process):
    # one per core, as docs/deployment.md advises.
    replicas = int(os.environ.get("DELIVERY_WORKERS", str(os.cpu_count() or 1)))
    delivery_names = [f"delivery{n}@bench" for n in range(replicas)]
    machine = machine_describe()
    with ExitStack() as stack:
        sandbox = stack.enter_context(SandboxServer(port=sandbox_port))
        env = {
            **os.environ,
            "X_API_BASE_URL": sandbox.url,
            "PINGBACK_PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        }
        web_url = stack.enter_context(
            servers.gunicorn(
                settings_module="pingback.settings",
                port=web_port,
                env=env,
                log=logs / "web.log",
            )
        )
        ceiling_url = stack.enter_context(
            servers.gunicorn(
                settings_module="bench.settings",
                port=ceiling_port,
                env=env,
                log=logs / "ceiling.log",
            )
        )
        ws_url = None
        if "realtime" in config.parts:
            ws_url = stack.enter_context(
                servers.websockets_server(
                    port=ws_port, env=env, log=logs / "websockets.log"
                )
            )
        stack.enter_context(
            servers.celery_worker(
                concurrency=concurrency, env=env, log=logs / "worker.log"
            )
        )
        for n, delivery_name in enumerate(delivery_names):
            stack.enter_context(
                servers.celery_worker(
                    concurrency=delivery_concurrency,
                    env=env,
                    log=logs / f"delivery{n}.log",
                    queue="delivery",
                    pool="threads",
                    name=delivery_name,
                )
            )
        stack_description = _stack_description(
            concurrency, delivery_concurrency, len(delivery_names)
        )
        name = f"{stamp}-{config.mode}"

        def write(results: dict) -> None:
            results["machine"] = machine
            results["command"] = " ".join(["bash bench/run", *sys.argv[1:]])
            results["stack"] = stack_description
            (arguments.out / f"{name}.json").write_text(
                json.dumps(results, indent=2) + "\n"
            )
            (arguments.out / f"{name}.md").write_text(markdown(results))

        results = run_suite(
            web_url=web_url,
            ceiling_url=ceiling_url,
            sandbox=sandbox,
            config=config,
            ws_url=ws_url,
            checkpoint=write,
            delivery_workers=delivery_names,
        )
    write(results)
    print(markdown(results))
    print(f"Written: {arguments.out / name}.md and .json; logs in {logs}")
    return 0


def _broker_purge(redis_url: str) -> None:
    """Empty the benchmark's Redis database (leftover tasks of an aborted run)."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()


def _stack_description(
    concurrency: int, delivery: int, delivery_workers: int
) -> dict[str, str]:
    workers = os.environ.get("WEB_CONCURRENCY", f"{(os.cpu_count() or 1) * 2 + 1}")
    worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
    threads = os.environ.get("GUNICORN_THREADS", "1")
    return {
        "web": f"gunicorn -c gunicorn.conf.py: {workers} {worker_class} workers x "
        f"{threads} thread(s), DEBUG off",
        "worker": f"celery -A pingback worker -Q default, prefork, concurrency "
        f"{concurrency}",
        "delivery": f"{delivery_workers} x celery -A pingback worker -Q delivery, "
        f"threads, concurrency {delivery}",
        "websockets": "uvicorn pingback.asgi:application, 1 process",
    }


if __name__ == "__main__":
    sys.exit(main())

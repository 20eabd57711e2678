"""The results as Markdown (for bench/README.md) and the machine they ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from django.db import connection


def machine_describe() -> dict:
    """CPU model and cores, memory, OS, Python, PostgreSQL (or SQLite) and
    Redis versions, and `uptime` when called."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = 0.0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split()[1])
        memory_gib = round(total_kib / 1024 / 1024, 1)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            database = f"PostgreSQL {cursor.fetchone()[0]}"
        else:
            cursor.execute("SELECT sqlite_version()")
            database = f"SQLite {cursor.fetchone()[0]}"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "database": database,
        "redis": _redis_version(),
        "uptime": _uptime(),
    }


def _redis_version() -> str:
    from django.conf import settings

    if not settings.REDIS_URL:
        return "none (in-memory broker)"
    import redis

    return "Redis " + redis.Redis.from_url(settings.REDIS_URL).info()["redis_version"]


def _uptime() -> str:
    try:
        return subprocess.run(
            ["uptime"],  # noqa: S607 (coreutils)
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def markdown(results: dict) -> str:
    """The results as a Markdown section: run header, ingest, inbox, delivery,
    targets."""
    lines = _header(results)
    if "ingest" in results:
        lines += _ingest(results)
    if "inbox" in results:
        lines += _inbox(results)
    if "search" in results:
        from bench.search import search_markdown

        lines += search_markdown(results)
    if "reports" in results:
        from bench.reports import reports_markdown

        lines += reports_markdown(results)
    if "delivery" in results:
        lines += _delivery(results)
    if "realtime" in results:
        from bench.realtime import realtime_markdown

        lines += realtime_markdown(results)
    lines += ["", "### Targets", "", "| target | figure | met |", "| --- | --- | --- |"]
    lines += [
        f"| {c['target']} | {c['figure']} | {'yes' if c['met'] else '**no**'} |"
        for c in results["targets"]
    ]
    return "\n".join(lines) + "\n"


def _header(results: dict) -> list[str]:
    machine = results["machine"]
    config = results["config"]
    stack = results.get("stack", {})
    return [
        f"## Run of {results['started_at']} ({config['mode']})",
        "",
        f"- command: `{results['command']}`",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB; {machine['os']}; Python {machine['python']}; "
        f"{machine['database']}; {machine['redis']}",
        f"- `uptime` at the start: {machine['uptime']}",
        "- load average (1, 5, 15 min) before each part: "
        + "; ".join(f"{part} {values}" for part, values in results["load"].items()),
        *(f"- {name}: {value}" for name, value in stack.items()),
    ]


def _ingest(results: dict) -> list[str]:
    lines = [
        "",
        "### Webhook ingest",
        "",
        f"Signed X DM webhooks (~1 KB, {results['config']['duration']:.0f} s per "
        f"run, loader `{results['config']['loader']}`). PingBack runs twice: "
        "processing *after* the load (the workers' consumer paused, as when "
        "workers run on other machines; processing timed from its resumption) "
        "and *concurrent* with it (workers and web share the cores; processing "
        "timed from the start of the load). Each PingBack run is compared "
        "with the ceiling run just before it. Ack latencies in ms.",
        "",
        "| connections | server | acked req/s | vs ceiling | p50 | p99 | max | "
        "non-2xx | socket errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in results["ingest"]:
        for pingback in run["pingback"]:
            lines += [
                _load_row(run["connections"], "ceiling", pingback["ceiling"], ""),
                _load_row(
                    run["connections"],
                    f"PingBack, processing {_when(pingback)}",
                    pingback,
                    f"{pingback['ratio_of_ceiling']:.0%}, p99 "
                    f"{pingback['p99_vs_ceiling']}x",
                ),
            ]
    lines += [
        "",
        "| connections | processing | acked | stored exactly once | "
        "processed msgs/s | drain after load (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {run['connections']} | {_when(pingback)} | {pingback['acked']} | "
        f"{'yes' if pingback['exactly_once'] else 'no'} "
        f"({pingback['messages_in_conversations']} messages) | "
        f"{pingback['processed_messages_per_s']} | {pingback['drain_after_load_s']} |"
        for run in results["ingest"]
        for pingback in run["pingback"]
    ]
    return lines


def _when(pingback: dict) -> str:
    return "after the load" if pingback["processing"] == "after" else "during it"


def _load_row(connections: int, server: str, load: dict, versus: str) -> str:
    return (
        f"| {connections} | {server} | {load['acked_per_s']} | {versus} | "
        f"{load['p50_ms']} | {load['p99_ms']} | {load['max_ms']} | "
        f"{load['non_2xx']} | {load['socket_errors']} |"
    )


def _inbox(results: dict) -> list[str]:
    return scale_tables("Inbox at scale", results["inbox"])


def scale_tables(title: str, scales: list[dict]) -> list[str]:
    """Markdown lines: a `###` heading, then per data-set scale a table of its
    endpoints' latencies (ms) and query counts."""
    lines = [
        "",
        f"### {title}",
        "",
        "One request at a time over HTTP; milliseconds; queries from an "
        "in-process pass.",
        "",
    ]
    for scale in scales:
        lines += [
            f"{scale['conversations']:,} conversations, {scale['messages']:,} "
            f"messages ({scale['endpoints'][0]['requests']} requests each):",
            "",
            "| request | p50 | p95 | p99 | max | SQL queries |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {e['label']} | {e['p50_ms']} | {e['p95_ms']} | {e['p99_ms']} | "
            f"{e['max_ms']} | {e['queries']} |"
            for e in scale["endpoints"]
        ]
        lines.append("")
    return lines


def _delivery(results: dict) -> list[str]:
    lines = [
        "",
        "### Delivery",
        "",
        "The sandbox takes the platform latency before it records each send. "
        "Paced: API call to the sandbox recording the send, in ms. From a "
        "backlog: the replies are posted while the delivery workers consume "
        "nothing; replies/s and latencies run from their restart.",
        "",
        "| run | platform latency | replies | replies/s delivered | "
        "accepted by the API /s | p50 | p95 | p99 | max | API p95 | "
        "after the API's answer p50 / p95 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in results["delivery"].values():
        label = (
            f"paced at {run['target_rate']:.0f}/s"
            if run["target_rate"]
            else f"from a backlog, posted by {run['clients']} clients"
        )
        lines.append(
            f"| {label} | {run.get('latency_ms', 0)} ms | {run['replies']} | "
            f"{run['replies_per_s']} | {run.get('accepted_per_s', '')} | "
            f"{run['p50_ms']} | {run['p95_ms']} | {run['p99_ms']} | "
            f"{run['max_ms']} | {run['api_p95_ms']} | "
            f"{run.get('after_api_p50_ms', '')} / {run.get('after_api_p95_ms', '')} |"
        )
    return lines

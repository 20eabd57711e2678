"""The run's report: `cluster/results/latest.md` (for people) and
`cluster/results/latest.json` (the same figures, for tools), overwritten by
each run. They hold the hosts, the timeline (what was started, killed and
stopped, in seconds since the run began), each scenario's outcome, and the
counts of the load: acknowledged / stored / delivered / duplicated."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from pathlib import Path

from cluster.stack import HOSTS, Cluster

RESULTS = Path(__file__).resolve().parent / "results"
ROLES = {
    "db": "PostgreSQL (own instance), Redis, S3 (moto server)",
    "lb": "HAProxy: /ws/ to realtime, the rest to web",
    "web1": "gunicorn (web) :8000, uvicorn (realtime) :8001",
    "web2": "gunicorn (web) :8000, uvicorn (realtime) :8001",
    "worker1": "celery worker (2 processes)",
    "worker2": "celery worker (2 processes)",
    "beat": "celery beat",
    "sandbox": "platform sandbox (X, Telegram, WhatsApp, Instagram, SMS) :8765",
}


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        cwd=RESULTS.parent.parent,
    )
    return done.stdout.strip() or "unknown"


def write_report(
    cluster: Cluster, results: dict, *, runtime_s: float, status: int
) -> Path:
    """Write both files; the Markdown file's path."""
    RESULTS.mkdir(exist_ok=True)
    data = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "commit": _commit(),
        "machine": f"{platform.node()}, {platform.platform()}",
        "runtime_s": runtime_s,
        "exit_status": status,
        "passed": status == 0,
        "hosts": {
            name: {"address": cluster.address(name), "runs": ROLES[name]}
            for name in HOSTS
        },
        "timeline": [{"at_s": at, "what": what} for at, what in cluster.timeline],
        "scenarios": {
            name: {k: v for k, v in result.items() if k != "traceback"}
            for name, result in results.items()
        },
    }
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=2, default=str))
    path = RESULTS / "latest.md"
    path.write_text("\n".join(_markdown(data)) + "\n")
    return path


def _markdown(data: dict) -> list[str]:
    lines = [
        "# PingBack on several hosts: latest run",
        "",
        f"{data['when']}, commit {data['commit']}, {data['runtime_s']} s, "
        f"**{'passed' if data['passed'] else 'FAILED'}** "
        f"(exit {data['exit_status']}). Written by `python -m cluster` "
        '(docs/deployment.md, "Proof on several hosts").',
        "",
        "## Hosts",
        "",
        "| host | address | runs |",
        "| --- | --- | --- |",
    ]
    for name, host in data["hosts"].items():
        lines.append(f"| {name} | {host['address']} | {host['runs']} |")
    lines += ["", "## Timeline", "", "| s | what |", "| --- | --- |"]
    lines += [f"| {row['at_s']} | {row['what']} |" for row in data["timeline"]]
    lines += ["", "## Scenarios", ""]
    for name, result in data["scenarios"].items():
        outcome = "passed" if result.get("passed") else "FAILED"
        lines.append(f"### {name}: {outcome}")
        lines.append("")
        if "checks" in result:
            lines += [result["checks"] + ".", ""]
        if "error" in result:
            lines += ["```", str(result["error"])[-2000:], "```", ""]
        if name == "webhooks_every_platform" and "platforms" in result:
            lines += [
                "| platform | sent | acknowledged | delivered again | stored | "
                "duplicated |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            lines += [
                f"| {r['platform']} | {r['sent']} | {r['acknowledged']} | "
                f"{r['delivered_again']} | {r['stored']} | {r['duplicated']} |"
                for r in result["platforms"]
            ]
            lines.append("")
        elif name == "kills_under_load" and "webhooks" in result:
            hooks, replies = result["webhooks"], result["replies"]
            lines += ["| killed | at (s into load) | processes | X webhooks "
                      "acknowledged before | replies accepted before |",
                      "| --- | --- | --- | --- | --- |"]  # fmt: skip
            lines += [
                f"| {host} | {k['at_s']} | {k['processes']} | "
                f"{k['webhooks_acknowledged_before']} | "
                f"{k['replies_accepted_before']} |"
                for host, k in result["killed"].items()
            ]
            lines += [
                "",
                "| webhooks | posted by | acknowledged | stored | missing | "
                "duplicated | not acknowledged | stored, not acknowledged |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            lines += [
                f"| {r['platform']} | {r['posted_by']} | {r['acknowledged']} | "
                f"{r['stored']} | {r['missing']} | {r['duplicated']} | "
                f"{r['not_acknowledged']} | {r['stored_not_acknowledged']} |"
                for r in hooks
            ]
            lines += [
                "",
                "| replies | accepted (202) | delivered | missing | duplicated "
                "| uncertain, not delivered | delivered, not accepted | "
                "no answer |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |",
                f"| Telegram | {replies['accepted']} | {replies['delivered']} | "
                f"{replies['missing']} | {replies['duplicated']} | "
                f"{replies['uncertain_not_delivered']} | "
                f"{replies['delivered_not_accepted']} | "
                f"{replies['not_answered']} |",
                "",
                f"Survivors drained in {result['drained_s']} s after the load; "
                f"accepted replies' statuses: {replies['statuses']}; sent by "
                f"{replies.get('sent_by')} (their `delivery.sent` log lines; a killed "
                "worker's last lines may be lost with it). Webhooks answered by "
                f"{result['retries']['webhooks_answered_by']} (gunicorn access "
                "logs, web1 until it was killed); X webhooks retried after an "
                f"error: {result['retries']['x_retried_after_error']} (of "
                f"{result['retries']['x_attempts']} attempts); Telegram "
                f"redeliveries: {result['retries']['telegram_redeliveries']}.",
                "",
            ]
        else:
            figures = {
                k: v
                for k, v in result.items()
                if k not in {"passed", "checks", "error"}
            }
            lines += [f"- {k}: `{v}`" for k, v in figures.items()]
            lines.append("")
    return lines

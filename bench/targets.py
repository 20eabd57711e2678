"""The issue's targets, checked against a suite's results. The benchmark
reports them; nothing fails when one is missed."""

from __future__ import annotations

INGEST_CONNECTIONS = 8
# The ack ratio is held at this many connections too (processing after the
# load), when the run has them.
INGEST_CONNECTIONS_HIGH = 32
PROCESSING_AFTER = "after"
INGEST_RATIO = 0.8
INGEST_P99_FACTOR = 2.0
PROCESSED_PER_S = 500.0
INBOX_P95_MS = 30.0
INBOX_QUERIES = 6
INBOX_SCALE_FACTOR = 1.5
# At the platform latency of the suite (250 ms per send): p95 from the API
# call to the platform receiving the send at the paced rate (50 replies/s),
# and replies/s the delivery workers send from a backlog.
DELIVERY_P95_MS = 1000.0
DELIVERY_PER_S = 100.0
# The paced run must reach this share of its rate for its p95 to count.
DELIVERY_RATE_SHARE = 0.9
REALTIME_P95_MS = 250.0
SEARCH_P95_MS = 50.0
SEARCH_QUERIES = 6
SEARCH_SCALE_FACTOR = 2.0
# A report over 90 days (every conversation of the data set), the API.
REPORTS_P95_MS = 200.0
REPORTS_QUERIES = 10
# Search endpoints held to the inbox's targets instead.
SEARCH_INBOX_TARGETS = ("customer panel", "contacts list")


def targets_check(results: dict) -> list[dict]:
    """`[{"target", "figure", "met"}]` for every target the results cover."""
    checks: list[dict] = []
    ingest = results.get("ingest") or []
    if ingest:
        at = next(
            (run for run in ingest if run["connections"] == INGEST_CONNECTIONS),
            ingest[0],
        )
        for pingback in at["pingback"]:
            checks += _ingest(at["connections"], pingback["ceiling"], pingback)
        # At 32 connections, the ack ratio with processing after the load.
        high = next(
            (r for r in ingest if r["connections"] == INGEST_CONNECTIONS_HIGH), None
        )
        if high is not None and high is not at:
            for pingback in high["pingback"]:
                if pingback["processing"] == PROCESSING_AFTER:
                    ack, *_ = _ingest(
                        high["connections"], pingback["ceiling"], pingback
                    )
                    checks.append(ack)
    inbox = results.get("inbox") or []
    if inbox:
        checks += _inbox(inbox)
    search = results.get("search") or []
    if search:
        checks += _search(search)
    reports = results.get("reports") or []
    if reports:
        checks += _reports(reports)
    if "delivery" in results:
        paced = results["delivery"]["paced"]
        burst = results["delivery"]["burst"]
        latency = f"{paced.get('latency_ms', 0)} ms platform latency"
        # The p95 counts at the stated rate only if the API took the replies
        # that fast (a slow web tier posts fewer per second).
        reached = paced.get("accepted_per_s", paced["target_rate"])
        at_rate = reached >= DELIVERY_RATE_SHARE * paced["target_rate"]
        checks.append(
            _check(
                f"delivery p95 <= {DELIVERY_P95_MS:.0f} ms at "
                f"{paced['target_rate']:.0f} replies/s, {latency}",
                f"{paced['p95_ms']} ms at {reached} replies/s accepted (after "
                f"the API's answer: {paced.get('after_api_p95_ms', '?')} ms)",
                paced["p95_ms"] <= DELIVERY_P95_MS and at_rate,
            )
        )
        checks.append(
            _check(
                f"delivery from a backlog >= {DELIVERY_PER_S:.0f} replies/s, {latency}",
                f"{burst['replies_per_s']} replies/s (API accepted "
                f"{burst.get('accepted_per_s', '?')}/s)",
                burst["replies_per_s"] >= DELIVERY_PER_S,
            )
        )
    if "realtime" in results:
        run = results["realtime"]
        checks.append(
            _check(
                f"realtime p95 <= {REALTIME_P95_MS:.0f} ms at "
                f"{run['target_rate']:.0f} webhooks/s, every message heard",
                f"{run['p95_ms']} ms, {run['missing']} missing",
                run["p95_ms"] <= REALTIME_P95_MS and run["missing"] == 0,
            )
        )
    return checks


def _ingest(connections: int, ceiling: dict, pingback: dict) -> list[dict]:
    when = (
        "processing after the load"
        if pingback["processing"] == PROCESSING_AFTER
        else "processing during the load"
    )
    return [
        _check(
            f"ingest ack at {connections} connections ({when}) >= "
            f"{INGEST_RATIO:.0%} of the ceiling's requests/s",
            f"{pingback['ratio_of_ceiling']:.0%} ({pingback['acked_per_s']} vs "
            f"{ceiling['acked_per_s']} req/s)",
            pingback["ratio_of_ceiling"] >= INGEST_RATIO,
        ),
        _check(
            f"ingest p99 ack ({when}) <= {INGEST_P99_FACTOR:.0f}x the ceiling's p99",
            f"{pingback['p99_vs_ceiling']}x ({pingback['p99_ms']} vs "
            f"{ceiling['p99_ms']} ms)",
            pingback["p99_vs_ceiling"] <= INGEST_P99_FACTOR,
        ),
        _check(
            f"processed into conversations ({when}) >= "
            f"{PROCESSED_PER_S:.0f} messages/s",
            f"{pingback['processed_messages_per_s']} messages/s",
            pingback["processed_messages_per_s"] >= PROCESSED_PER_S,
        ),
    ]


def _inbox(scales: list[dict]) -> list[dict]:
    """List and messages endpoints at the largest scale: p95, queries, and
    p95 against the smallest scale."""
    largest = max(scales, key=lambda scale: scale["conversations"])
    smallest = min(scales, key=lambda scale: scale["conversations"])
    small = {_kind(e["label"]): e for e in smallest["endpoints"]}
    checks = []
    for endpoint in largest["endpoints"]:
        if endpoint["label"].startswith("inbox page"):
            continue
        label = f"{endpoint['label']} at {largest['conversations']:,} conversations"
        checks += _endpoint_checks(label, endpoint, INBOX_P95_MS, INBOX_QUERIES)
        base = small.get(_kind(endpoint["label"]))
        if base is not None and largest is not smallest:
            ratio = endpoint["p95_ms"] / base["p95_ms"] if base["p95_ms"] else 0.0
            checks.append(
                _check(
                    f"{label}: p95 <= {INBOX_SCALE_FACTOR}x the "
                    f"{smallest['conversations']:,}-conversation figure",
                    f"{ratio:.2f}x ({endpoint['p95_ms']} vs {base['p95_ms']} ms)",
                    ratio <= INBOX_SCALE_FACTOR,
                )
            )
    return checks


def _search(scales: list[dict]) -> list[dict]:
    """Search endpoints at the largest scale: p95 and queries (the customer
    panel: the inbox's), and p95 against the smallest scale."""
    largest = max(scales, key=lambda scale: scale["conversations"])
    smallest = min(scales, key=lambda scale: scale["conversations"])
    small = {e["label"]: e for e in smallest["endpoints"]}
    checks = []
    for endpoint in largest["endpoints"]:
        inbox = endpoint["label"].startswith(SEARCH_INBOX_TARGETS)
        p95, queries, factor = (
            (INBOX_P95_MS, INBOX_QUERIES, INBOX_SCALE_FACTOR)
            if inbox
            else (SEARCH_P95_MS, SEARCH_QUERIES, SEARCH_SCALE_FACTOR)
        )
        label = f"{endpoint['label']} at {largest['conversations']:,} conversations"
        checks += _endpoint_checks(label, endpoint, p95, queries)
        base = small.get(endpoint["label"])
        if base is not None and largest is not smallest:
            ratio = endpoint["p95_ms"] / base["p95_ms"] if base["p95_ms"] else 0.0
            checks.append(
                _check(
                    f"{label}: p95 <= {factor}x the "
                    f"{smallest['conversations']:,}-conversation figure",
                    f"{ratio:.2f}x ({endpoint['p95_ms']} vs {base['p95_ms']} ms)",
                    ratio <= factor,
                )
            )
    return checks


def _reports(scales: list[dict]) -> list[dict]:
    """Report API endpoints at the largest scale: p95 and queries (the page
    is reported, not held to a target: it draws two reports)."""
    largest = max(scales, key=lambda scale: scale["conversations"])
    checks = []
    for endpoint in largest["endpoints"]:
        if "(HTML)" in endpoint["label"]:
            continue
        label = f"{endpoint['label']} at {largest['conversations']:,} conversations"
        checks += _endpoint_checks(label, endpoint, REPORTS_P95_MS, REPORTS_QUERIES)
    return checks


def _endpoint_checks(
    label: str, endpoint: dict, p95: float, queries: int
) -> list[dict]:
    """An endpoint's p95 (ms) and query count against their targets."""
    return [
        _check(
            f"{label}: p95 <= {p95:.0f} ms",
            f"{endpoint['p95_ms']} ms",
            endpoint["p95_ms"] <= p95,
        ),
        _check(
            f"{label}: <= {queries} SQL queries",
            str(endpoint["queries"]),
            endpoint["queries"] <= queries,
        ),
    ]


def _kind(label: str) -> str:
    """Pair the deep page of both scales (page 200 and the last page)."""
    return "list deep page" if label.startswith("list page") else label


def _check(target: str, figure: str, met: bool) -> dict:
    return {"target": target, "figure": figure, "met": met}

"""Inbox at scale: latency of the conversations API and the inbox page, and the
SQL queries each request makes.

Latencies are measured over HTTP against the served stack, one request at a
time; query counts in a separate in-process pass through Django's test client
with `CaptureQueriesContext`, on the same database.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.data import InboxDataset
from bench.stats import summary_ms

DEEP_PAGE = 200


@dataclass(frozen=True)
class Endpoint:
    """One measured request: a label, the path with its query, and whether it
    is an API call (Bearer token) or a page (session cookie)."""

    label: str
    path: str
    api: bool = True


def inbox_endpoints(dataset: InboxDataset, client: Client) -> list[Endpoint]:
    """The requests measured on `dataset`: the list (default, by channel type,
    status and assignee, and page 200 through the cursor, or the last page when
    there are fewer), the workspace's views (Mine, Unassigned, by team, by a
    rare and a common label, Mentions) and their counts, a conversation's
    messages, and the workspace page (the list alone, with a conversation
    open, and Mine with a label)."""
    base = "/api/v1/conversations/"
    deep_label, deep_path = _deep_page(client, base)
    team = dataset.team_ids[0] if dataset.team_ids else "none"
    return [
        Endpoint("list", base),
        Endpoint("list ?channel_type=telegram", f"{base}?channel_type=telegram"),
        Endpoint("list ?status=open", f"{base}?status=open"),
        Endpoint(
            "list ?assignee=<agent>", f"{base}?assignee={dataset.bench.agent_ids[3]}"
        ),
        Endpoint(
            "view Mine (?assignee=me&status=open)", f"{base}?assignee=me&status=open"
        ),
        Endpoint(
            "view Unassigned (?assignee=none&status=open)",
            f"{base}?assignee=none&status=open",
        ),
        Endpoint(
            "view team (?team=<team>&status=open)", f"{base}?team={team}&status=open"
        ),
        Endpoint("view label 1% (?label=vip)", f"{base}?label=vip"),
        Endpoint(
            "view label 1% open (?label=vip&status=open)",
            f"{base}?label=vip&status=open",
        ),
        Endpoint("view label 20% (?label=billing)", f"{base}?label=billing"),
        Endpoint("view Mentions (?mentioned=me)", f"{base}?mentioned=me"),
        Endpoint("view counts", f"{base}counts"),
        Endpoint(deep_label, deep_path),
        Endpoint("messages", f"{base}{dataset.sample_conversation_id}/messages"),
        Endpoint("inbox page (HTML)", "/", api=False),
        Endpoint(
            "inbox page, a conversation open (HTML)",
            f"/conversations/{dataset.sample_conversation_id}/",
            api=False,
        ),
        Endpoint(
            "inbox page, Mine with a label (HTML)",
            "/?view=mine&label=billing",
            api=False,
        ),
    ]


def _deep_page(client: Client, base: str) -> tuple[str, str]:
    """Follow `next` from the first page up to page `DEEP_PAGE`; return its
    label and path."""
    path, page = base, 1
    while page < DEEP_PAGE:
        following = client.get(path).json()["next"]
        if following is None:
            break
        parts = urlsplit(following)
        path, page = f"{parts.path}?{parts.query}", page + 1
    return f"list page {page} (cursor)", path


def inbox_benchmark(
    web_url: str, dataset: InboxDataset, *, requests: int, warmup: int
) -> dict:
    """Measure every endpoint of `inbox_endpoints` (see
    `endpoints_benchmark`)."""
    return endpoints_benchmark(
        web_url,
        dataset,
        lambda api: inbox_endpoints(dataset, api),
        requests=requests,
        warmup=warmup,
    )


def endpoints_benchmark(
    web_url: str,
    dataset: InboxDataset,
    endpoints_for: Callable[[Client], list[Endpoint]],
    *,
    requests: int,
    warmup: int,
) -> dict:
    """Measure each endpoint `endpoints_for(api_client)` lists `requests`
    times over HTTP (after `warmup` requests; API endpoints with the bench
    token, pages with an admin's session) and count its queries in process.
    Returns `{"conversations", "messages", "endpoints": [{label, path,
    requests, p50_ms, p95_ms, p99_ms, max_ms, queries, status}]}`."""
    api = Client(
        HTTP_AUTHORIZATION=f"Bearer {dataset.bench.token}", HTTP_HOST="127.0.0.1"
    )
    page = Client(HTTP_HOST="127.0.0.1")
    page.force_login(dataset.bench.admin.user)
    session = page.cookies["sessionid"].value
    results = []
    for endpoint in endpoints_for(api):
        in_process = api if endpoint.api else page
        headers = (
            {"Authorization": f"Bearer {dataset.bench.token}"}
            if endpoint.api
            else {"Cookie": f"sessionid={session}"}
        )
        queries, status = _query_count(in_process, endpoint.path)
        samples = _latencies(web_url, endpoint.path, headers, requests, warmup)
        results.append(
            {
                "label": endpoint.label,
                "path": endpoint.path,
                "requests": len(samples),
                **summary_ms(samples),
                "queries": queries,
                "status": status,
            }
        )
    return {
        "conversations": dataset.conversations,
        "messages": dataset.messages,
        "endpoints": results,
    }


def _query_count(client: Client, path: str) -> tuple[int, int]:
    """SQL queries of one request, after a first one (token `last_used_at`,
    session and other one-off writes)."""
    client.get(path)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    return len(captured.captured_queries), response.status_code


def _latencies(
    web_url: str, path: str, headers: dict[str, str], requests: int, warmup: int
) -> list[float]:
    """Milliseconds per request, one at a time over HTTP; raises
    `RuntimeError` on a non-200 answer."""
    parts = urlsplit(web_url)
    client = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    samples = []
    try:
        for index in range(warmup + requests):
            started = time.perf_counter()
            client.request("GET", path, headers=headers)
            response = client.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")
            if index >= warmup:
                samples.append(elapsed)
    finally:
        client.close()
    return samples

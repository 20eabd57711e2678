"""Search at scale: `GET /api/v1/search/` (a rare word, a common word, a
phone number typed in another format, a name prefix and a full name), `?q=`
on the conversations list, the inbox's results partial and the customer
panel, on the inbox data sets (`bench/data.py`, with `_search_ensure`'s
words, addresses and numbers).

Measured as `bench/inbox.py` measures the inbox: over HTTP one request at a
time after warm-up requests; SQL queries in a separate in-process pass.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.test import Client

from bench.data import (
    SEARCH_COMMON_WORD,
    SEARCH_RARE_WORD,
    InboxDataset,
    search_phone,
)
from bench.inbox import Endpoint, _latencies, _query_count
from bench.stats import summary_ms
from conversations.models import Contact

SEARCH = "/api/v1/search/"


def _phone_typed(e164: str) -> str:
    """`+351912345678` as a person may type it: `00351 912 345 678`."""
    digits = e164[4:]
    return f"00{e164[1:4]} {digits[:3]} {digits[3:6]} {digits[6:]}"


def search_endpoints(dataset: InboxDataset) -> list[Endpoint]:
    """The requests measured on `dataset` (labels shared by every scale, so
    the targets pair them)."""
    business = dataset.bench.business
    contacts = Contact.objects.filter(business=business).order_by("id")
    middle = contacts.values_list("id", "name")[dataset.conversations // 2]
    contact_id, name = middle
    # `Customer 4242` -> `Customer 424`: a prefix a few names share.
    prefix = name[: max(len("Customer ") + 1, len(name) - 1)]

    def api(q: str, **more: str) -> str:
        return f"{SEARCH}?{urlencode({'q': q, **more})}"

    return [
        Endpoint(f"search rare word ({SEARCH_RARE_WORD})", api(SEARCH_RARE_WORD)),
        Endpoint(f"search common word ({SEARCH_COMMON_WORD})", api(SEARCH_COMMON_WORD)),
        Endpoint(
            "search phone number (other format)",
            api(_phone_typed(search_phone(contact_id))),
        ),
        Endpoint("search name prefix", api(prefix)),
        Endpoint("search full name", api(name)),
        Endpoint(
            f"search common word, open, assignee (?q={SEARCH_COMMON_WORD}"
            "&status=open&assignee=me)",
            api(SEARCH_COMMON_WORD, status="open", assignee="me"),
        ),
        Endpoint(
            f"list ?q={SEARCH_RARE_WORD}",
            f"/api/v1/conversations/?q={SEARCH_RARE_WORD}",
        ),
        Endpoint(
            f"list ?q={SEARCH_COMMON_WORD}",
            f"/api/v1/conversations/?q={SEARCH_COMMON_WORD}",
        ),
        Endpoint(
            f"inbox search results (HTML, ?q={SEARCH_COMMON_WORD})",
            f"/inbox/search/?q={SEARCH_COMMON_WORD}",
            api=False,
        ),
        Endpoint(
            "customer panel (HTML)",
            f"/conversations/{dataset.sample_conversation_id}/panel/",
            api=False,
        ),
    ]


def search_benchmark(
    web_url: str, dataset: InboxDataset, *, requests: int, warmup: int
) -> dict:
    """Measure every search endpoint `requests` times (after `warmup`) and
    count its queries. Returns `{"conversations", "messages", "endpoints":
    [{label, path, requests, p50_ms, p95_ms, p99_ms, max_ms, queries,
    status}]}` (the shape of `inbox_benchmark`)."""
    api = Client(
        HTTP_AUTHORIZATION=f"Bearer {dataset.bench.token}", HTTP_HOST="127.0.0.1"
    )
    page = Client(HTTP_HOST="127.0.0.1")
    page.force_login(dataset.bench.admin.user)
    session = page.cookies["sessionid"].value
    results = []
    for endpoint in search_endpoints(dataset):
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


def search_markdown(results: dict) -> list[str]:
    """The search part as Markdown lines (the inbox table's shape)."""
    lines = [
        "",
        "### Search at scale",
        "",
        "One request at a time over HTTP; milliseconds; queries from an "
        "in-process pass.",
        "",
    ]
    for scale in results.get("search") or []:
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

"""Search at scale: `GET /api/v1/search/` (a rare word, a common word, a
phone number typed in another format, a name prefix and a full name), `?q=`
on the conversations list, the inbox's results partial, the customer panel
and the contacts list (page, API, searched), on the inbox data sets
(`bench/data.py`, with `_search_ensure`'s words, addresses and numbers).

Measured as `bench/inbox.py` measures the inbox: over HTTP one request at a
time after warm-up requests; SQL queries in a separate in-process pass.
"""

from __future__ import annotations

from urllib.parse import urlencode

from bench.data import (
    SEARCH_COMMON_WORD,
    SEARCH_RARE_WORD,
    InboxDataset,
    search_phone,
)
from bench.inbox import Endpoint, endpoints_benchmark
from bench.report import scale_tables
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
        Endpoint("contacts list (API)", "/api/v1/contacts/"),
        Endpoint("contacts list (HTML)", "/contacts/", api=False),
        Endpoint(
            "contacts list searched by a full name (API)",
            f"/api/v1/contacts/?{urlencode({'q': name})}",
        ),
    ]


def search_benchmark(
    web_url: str, dataset: InboxDataset, *, requests: int, warmup: int
) -> dict:
    """Measure every endpoint of `search_endpoints` (see
    `bench.inbox.endpoints_benchmark`)."""
    return endpoints_benchmark(
        web_url,
        dataset,
        lambda api: search_endpoints(dataset),
        requests=requests,
        warmup=warmup,
    )


def search_markdown(results: dict) -> list[str]:
    """The search part as Markdown lines (the inbox table's shape)."""
    return scale_tables("Search at scale", results.get("search") or [])

"""Helpers for the conversation API's tests."""

from __future__ import annotations

from typing import Any

LIST_URL = "/api/v1/conversations/"


def listed_ids(api: Any, query: str, page_size: int = 2) -> list[int]:
    """The ids of every conversation the API's list gives for `query` (e.g.
    `label=vip`, `mentioned=me`), in order, following `next` page after page
    (`page_size` per page). `api`: a logged-in `APIClient`."""
    ids: list[int] = []
    url = f"{LIST_URL}?{query}&page_size={page_size}"
    while url:
        page = api.get(url).json()
        ids += [row["id"] for row in page["results"]]
        url = page["next"]
    return ids

"""The request log: every API call a stand-in answered, numbered.

``GET /_sandbox/requests?since=<seq>`` and ``SandboxServer.requests(since)``
read it. A record is ``{"seq", "platform", "method", "path", "query",
"headers", "json", "content_type", "status"}`` (:func:`api_record`), plus
what a stand-in adds (X: ``auth``). ``Authorization`` is kept as its scheme
only, never the credentials, and a Telegram bot token in the path
(``/bot<id>:<secret>/…``) as its bot id only (:func:`recorded_path`).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from sandbox.core.http import Request, Response, recorded_path


class RequestLog:
    """Numbered records of API requests (``seq`` keeps growing across resets)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._seq = 0

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store ``record`` with the next ``seq`` first and return it."""
        with self._lock:
            self._seq += 1
            stored = {"seq": self._seq, **record}
            self._records.append(stored)
            return stored

    def since(self, seq: int = 0) -> list[dict[str, Any]]:
        """Copies of the records with ``seq`` greater than ``seq``."""
        with self._lock:
            return [copy.deepcopy(r) for r in self._records if r["seq"] > seq]

    def clear(self) -> None:
        """Forget all records (the sequence number is not reset)."""
        with self._lock:
            self._records.clear()


def recorded_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers for the log, with ``Authorization`` reduced to its scheme."""
    recorded = dict(headers)
    if "authorization" in recorded:
        scheme = recorded["authorization"].strip().split(" ", 1)[0]
        recorded["authorization"] = scheme
    return recorded


def api_record(platform: str, req: Request, response: Response) -> dict[str, Any]:
    """The log record of one API call: ``json`` is the JSON body, else an
    urlencoded form as a dict, else ``None``."""
    content_type = req.headers.get("content-type", "")
    body: Any = req.json_or_none()
    if body is None and content_type.startswith("application/x-www-form-urlencoded"):
        body = req.form()
    return {
        "platform": platform,
        "method": req.method,
        "path": recorded_path(req.path),
        "query": req.query,
        "headers": recorded_headers(req.headers),
        "json": body if isinstance(body, dict | list) else None,
        "content_type": content_type,
        "status": response.status,
    }

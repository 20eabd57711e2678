"""Calls from a stand-in to PingBack: webhook deliveries and URL checks.

Every platform POSTs its events the same way; only the body and the headers
that sign it differ (each platform's own module builds those). A
``requests.Session`` with ``trust_env=False`` is used, so a proxy from the
environment never intercepts loopback traffic; ``REQUESTS_CA_BUNDLE`` is still
honoured, so PingBack behind a TLS load balancer with a private certificate
authority (the multi-host test, ``cluster/``) can be reached over HTTPS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import requests

WEBHOOK_TIMEOUT_S = 10.0
"""How long a delivery waits for PingBack's answer."""
BODY_EXCERPT = 2000
"""How much of PingBack's answer a delivery result keeps."""


def session() -> requests.Session:
    """A session that ignores proxy settings from the environment and
    verifies TLS certificates against ``REQUESTS_CA_BUNDLE`` when it is set
    (else requests' default bundle)."""
    http = requests.Session()
    http.trust_env = False
    http.verify = os.environ.get("REQUESTS_CA_BUNDLE") or True
    return http


def json_bytes(payload: Any) -> bytes:
    """``payload`` as compact UTF-8 JSON, the bytes a platform signs and posts."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def post(
    url: str,
    data: bytes | Mapping[str, str],
    headers: Mapping[str, str],
    timeout: float = WEBHOOK_TIMEOUT_S,
) -> dict[str, Any]:
    """POST ``data`` (raw bytes, or form fields) to ``url``.

    Returns ``{"url", "status_code", "body"}``: ``body`` is the start of the
    answer; ``status_code`` is ``None`` when the connection failed, and
    ``body`` then says why (``"<ErrorType>: <message>"``).
    """
    payload = data if isinstance(data, bytes) else dict(data)
    try:
        with session() as http:
            answer = http.post(
                url, data=payload, headers=dict(headers), timeout=timeout
            )
    except requests.RequestException as error:
        return {
            "url": url,
            "status_code": None,
            "body": f"{type(error).__name__}: {error}",
        }
    return {
        "url": url,
        "status_code": answer.status_code,
        "body": answer.text[:BODY_EXCERPT],
    }


def describe_deliveries(deliveries: list[dict[str, Any]]) -> str:
    """Deliveries as one line for the demo page: ``<url> → <status or why>``,
    comma-separated."""
    return ", ".join(
        f"{d['url']} → {d['status_code'] or d['body']}" for d in deliveries
    )


def get(url: str, timeout: float = WEBHOOK_TIMEOUT_S) -> requests.Response:
    """GET ``url`` (redirects followed); raises ``requests.RequestException``."""
    with session() as http:
        return http.get(url, timeout=timeout)

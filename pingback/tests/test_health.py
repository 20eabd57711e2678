"""`/healthz` and `/readyz` (pingback/health.py): what an orchestrator sees
with the real PostgreSQL and Redis, and with Redis unreachable."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session

from pingback import health
from pingback.testing import free_port

pytestmark = pytest.mark.django_db


def closed_url() -> str:
    """A Redis URL on a free local port where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


def point_redis_at(settings, url: str) -> None:
    settings.CELERY_BROKER_URL = url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": url}]},
        }
    }


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a frozen Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_healthz_answers_without_touching_the_database(
    client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ready_with_the_configured_services(client, settings):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    expected = {"database"}
    if settings.REDIS_URL:
        # PINGBACK_REQUIRE_SERVICES=1 runs: the real Redis carries both.
        expected |= {"broker", "channel_layer"}
    assert set(body["checks"]) == expected
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_without_redis_checks_only_the_database(client, settings):
    settings.CELERY_BROKER_URL = "memory://"
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }

    response = client.get("/readyz")

    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database"}


def test_readyz_names_redis_when_nothing_listens_on_its_port(client, settings):
    point_redis_at(settings, closed_url())

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert sorted(body["down"]) == ["broker", "channel_layer"]
    assert body["checks"]["database"]["ok"] is True
    for name in ("broker", "channel_layer"):
        assert body["checks"][name]["ok"] is False
        assert "ConnectionError" in body["checks"][name]["error"]
        assert "refused" in body["checks"][name]["error"].lower()


def test_readyz_gives_a_frozen_redis_its_timeout_and_no_more(
    client, settings, monkeypatch, silent_port
):
    monkeypatch.setattr(health, "READY_CHECK_TIMEOUT", 0.5)
    point_redis_at(settings, f"redis://127.0.0.1:{silent_port}/0")

    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert sorted(response.json()["down"]) == ["broker", "channel_layer"]
    # Checked at once, not one after the other: about one timeout in all.
    assert elapsed < 0.5 * 2 + 0.5


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_set_no_cookie_and_create_no_session(client, path):
    for _ in range(3):
        response = client.get(path)
        assert response.status_code == 200
        assert not response.cookies
        assert "Set-Cookie" not in response

    assert Session.objects.count() == 0


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_login_and_answer_plain_http_behind_an_https_redirect(
    client, settings, path
):
    settings.SECURE_SSL_REDIRECT = True

    response = client.get(path)

    assert response.status_code == 200
    # Other pages still go to HTTPS.
    assert client.get("/accounts/login/").status_code == 301


def test_probes_take_only_get(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


# -------------------------------------------------------------------- Sentry

SENTRY_PROBE = (
    "import django, sentry_sdk; django.setup(); client = sentry_sdk.get_client(); "
    "print(client.is_active(), client.options['send_default_pii'])"
)


@pytest.mark.parametrize(
    ("dsn", "expected"),
    # Not initialised: an inactive client, no options of PingBack's.
    [("", "False None"), ("http://public@127.0.0.1:9/1", "True False")],
)
def test_sentry_starts_only_with_a_dsn_and_sends_no_personal_data(dsn, expected):
    # The port in the DSN is never reached: nothing is reported here.
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "pingback.settings",
        "PINGBACK_ALLOW_DEV_KEYS": "1",
        "SENTRY_DSN": dsn,
    }

    result = subprocess.run(
        [sys.executable, "-c", SENTRY_PROBE],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected

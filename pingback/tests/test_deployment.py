"""The production environment docs/deployment.md recommends: `check --deploy`
finds nothing to report, and gunicorn serving it behind a TLS-terminating proxy
serves webhooks that reached the proxy over HTTPS, while it redirects plain
HTTP.

Every process here runs in a controlled environment: PATH and HOME, the
documented block (placeholders filled in), and every variable that decides the
keys set explicitly; no PYTEST_VERSION, so these are production processes.
"""

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from channels_app.models import InboundEvent
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import fixture_bytes
from pingback.testing import current_database_url, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
HOST = "inbox.example.com"
ENCRYPTION_KEY = Fernet.generate_key().decode()
WEBHOOK_SECRET = "proxy-test-webhook-secret-0123456789abcdef"
PLACEHOLDERS = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "PINGBACK_ENCRYPTION_KEYS": ENCRYPTION_KEY,
    "DATABASE_URL": "postgres://pingback:password@db.internal:5432/pingback",
    "GUNICORN_FORWARDED_ALLOW_IPS": "127.0.0.1",
}


def documented_environment() -> dict[str, str]:
    """The `NAME=value` lines of the block docs/deployment.md marks as the
    production environment, with its `<...>` placeholders filled in."""
    text = DEPLOYMENT_DOC.read_text()
    marker = "<!-- pingback/tests/test_deployment.py reads the block below. -->"
    block = re.search(re.escape(marker) + r"\n```bash\n(.*?)```", text, re.S)
    assert block is not None, "the production environment block is missing"
    values = dict(
        line.split("=", 1) for line in block.group(1).splitlines() if "=" in line
    )
    placeholders = {name for name, value in values.items() if "<" in value}
    assert placeholders == set(PLACEHOLDERS)
    return {**values, **{name: PLACEHOLDERS[name] for name in placeholders}}


def controlled_env(**values: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "pingback.settings",
        "DJANGO_DEBUG": "",
        "PINGBACK_ALLOW_DEV_KEYS": "",
        "DJANGO_SECURE_PROXY_SSL_HEADER": "",
        **documented_environment(),
        **values,
    }


def test_check_deploy_reports_nothing_with_the_documented_environment():
    # given
    env = controlled_env()

    # when
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"


def test_development_defaults_stay_on_plain_http(settings):
    # the settings this test process runs with: pytest, no HTTPS variables
    assert settings.SECURE_SSL_REDIRECT is False
    assert settings.SECURE_PROXY_SSL_HEADER is None
    assert settings.SECURE_HSTS_SECONDS == 0
    assert settings.SESSION_COOKIE_SECURE is False
    assert settings.CSRF_COOKIE_SECURE is False


# ------------------------------------------------------------ behind the proxy


@contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[str]:
    """gunicorn with `gunicorn.conf.py`, one worker, on a free port; yields
    its base URL once it accepts connections."""
    port = free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "gunicorn did not start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "trust",
    [
        pytest.param(
            {"GUNICORN_FORWARDED_ALLOW_IPS": "127.0.0.1"},
            id="proxy trusted by address (gunicorn)",
        ),
        pytest.param(
            {
                "GUNICORN_FORWARDED_ALLOW_IPS": "192.0.2.1",
                "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
            },
            id="proxy header trusted by Django",
        ),
    ],
)
def test_webhooks_through_the_proxy_are_served_and_plain_http_redirected(
    settings, tmp_path, trust
):
    # given: a Telegram channel encrypted with the production key, and
    # gunicorn serving the documented environment on the test database
    settings.PINGBACK_ENCRYPTION_KEYS = [ENCRYPTION_KEY]
    channel = ChannelFactory(
        type="telegram",
        secrets={"bot_token": "7000000001:AAE-token", "webhook_secret": WEBHOOK_SECRET},
        config={"bot_id": "7000000001", "bot_username": "pingback_demo_bot"},
    )
    env = controlled_env(DATABASE_URL=current_database_url(), REDIS_URL="", **trust)
    path = f"/api/v1/webhooks/telegram/{channel.id}"
    body = fixture_bytes("telegram", "message__text")
    headers = {
        "Host": HOST,
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
    }

    with gunicorn(env, tmp_path / "gunicorn.log") as url:
        # when: the platform's POST reached the proxy over plain HTTP
        plain = requests.post(
            url + path, data=body, headers=headers, allow_redirects=False, timeout=10
        )
        # then: redirected to HTTPS, nothing stored
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://{HOST}{path}"
        assert InboundEvent.objects.count() == 0

        # when: it reached the proxy over HTTPS
        https = requests.post(
            url + path,
            data=body,
            headers={**headers, "X-Forwarded-Proto": "https"},
            allow_redirects=False,
            timeout=10,
        )
        # then: served (the credentials decrypted with the production key)
        assert https.status_code == 200
        assert https.json() == {"status": "accepted"}
        assert InboundEvent.objects.get().event_key == "update:700000101"
        assert https.headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains; preload"
        )

        # and the login page (the health check) sets its CSRF cookie Secure
        login = requests.get(
            url + "/accounts/login/",
            headers={"Host": HOST, "X-Forwarded-Proto": "https"},
            allow_redirects=False,
            timeout=10,
        )
        assert login.status_code == 200
        assert "Secure" in login.headers["Set-Cookie"].split("; ")

"""Production refuses to start on missing or public keys; development, the
tests and the servers they start keep running without any.

Each case runs `python manage.py check` in a subprocess with a controlled
environment: only PATH and HOME from this one, every variable the key checks
read set explicitly (an empty value counts as unset, and keeps a developer's
`.env` from filling it in), and no PYTEST_VERSION unless the case adds it.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pingback.settings import DEV_ENCRYPTION_KEY, DEV_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = secrets.token_urlsafe(50)
ENCRYPTION_KEY = Fernet.generate_key().decode()
OTHER_ENCRYPTION_KEY = Fernet.generate_key().decode()
GENERATE_SECRET = (
    "python -c 'import secrets; print(secrets.token_urlsafe(50))' "
    "and set DJANGO_SECRET_KEY to it"
)
GENERATE_FERNET = (
    "python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)


def controlled_env(**values: str) -> dict[str, str]:
    """PATH and HOME, and every variable that decides the keys: production
    (DEBUG off, no development flag) with no keys, unless `values` says so."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "pingback.settings",
        "DJANGO_DEBUG": "",
        "PINGBACK_ALLOW_DEV_KEYS": "",
        "DJANGO_SECRET_KEY": "",
        "PINGBACK_ENCRYPTION_KEYS": "",
        **values,
    }


def manage(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"PINGBACK_ENCRYPTION_KEYS": ENCRYPTION_KEY},
            "DJANGO_SECRET_KEY is not set: production needs a secret key of its "
            f"own. Generate one with: {GENERATE_SECRET}",
            id="secret key missing",
        ),
        pytest.param(
            {
                "DJANGO_SECRET_KEY": DEV_SECRET_KEY,
                "PINGBACK_ENCRYPTION_KEYS": ENCRYPTION_KEY,
            },
            "DJANGO_SECRET_KEY is the public development key: production needs a "
            f"secret key of its own. Generate one with: {GENERATE_SECRET}",
            id="secret key is the development default",
        ),
        pytest.param(
            {"DJANGO_SECRET_KEY": SECRET_KEY},
            "PINGBACK_ENCRYPTION_KEYS is not set: production needs a key of its "
            "own to encrypt channel credentials. Generate one with: "
            f"{GENERATE_FERNET} and set PINGBACK_ENCRYPTION_KEYS to it.",
            id="encryption key missing",
        ),
        pytest.param(
            {
                "DJANGO_SECRET_KEY": SECRET_KEY,
                "PINGBACK_ENCRYPTION_KEYS": DEV_ENCRYPTION_KEY,
            },
            "PINGBACK_ENCRYPTION_KEYS contains the public development key: "
            "production needs a key of its own",
            id="encryption key is the development default",
        ),
        pytest.param(
            {
                "DJANGO_SECRET_KEY": SECRET_KEY,
                "PINGBACK_ENCRYPTION_KEYS": f"{ENCRYPTION_KEY},{DEV_ENCRYPTION_KEY}",
            },
            "PINGBACK_ENCRYPTION_KEYS contains the public development key: "
            "production needs a key of its own",
            id="development key kept after a key of its own",
        ),
        pytest.param(
            {
                "DJANGO_SECRET_KEY": SECRET_KEY,
                "PINGBACK_ENCRYPTION_KEYS": f"{ENCRYPTION_KEY},not-a-fernet-key",
            },
            "PINGBACK_ENCRYPTION_KEYS: key 2 is not a Fernet key (32 url-safe "
            "base64-encoded bytes, 44 characters). Generate one with: "
            f"{GENERATE_FERNET}",
            id="encryption key malformed",
        ),
    ],
)
def test_production_refuses_to_start_without_keys_of_its_own(values, message):
    # given: DEBUG off and no development flag
    env = controlled_env(**values)

    # when
    result = manage(env, "check")

    # then: a clear ImproperlyConfigured, the key never echoed
    assert result.returncode == 1
    assert last_line(result.stderr).startswith(
        f"django.core.exceptions.ImproperlyConfigured: {message}"
    )
    assert SECRET_KEY not in result.stderr
    assert ENCRYPTION_KEY not in result.stderr


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(
            {
                "DJANGO_SECRET_KEY": SECRET_KEY,
                "PINGBACK_ENCRYPTION_KEYS": f"{ENCRYPTION_KEY},{OTHER_ENCRYPTION_KEY}",
            },
            id="production with keys of its own",
        ),
        pytest.param({"DJANGO_DEBUG": "1"}, id="DEBUG on (bin/run)"),
        pytest.param({"PINGBACK_ALLOW_DEV_KEYS": "1"}, id="development flag"),
        pytest.param(
            {"PYTEST_VERSION": "9.2.0"}, id="a server or worker started by a test"
        ),
    ],
)
def test_production_with_keys_and_development_without_them_start(values):
    # given
    env = controlled_env(**values)

    # when
    result = manage(env, "check")

    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"

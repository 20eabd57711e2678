"""The platform sandbox is demo and test tooling: production settings leave
it out, and no production module imports it."""

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_PACKAGES = (
    "billing",
    "channels_app",
    "contacts",
    "conversations",
    "pingback",
    "workspace",
)


def installed_apps(**env: str) -> list[str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTEST_VERSION", "DJANGO_DEBUG", "PINGBACK_SANDBOX")
    }
    environ |= {
        "DJANGO_SETTINGS_MODULE": "pingback.settings",
        "PINGBACK_ALLOW_DEV_KEYS": "1",
    }
    environ |= env
    answer = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(' '.join(settings.INSTALLED_APPS))",
        ],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return answer.stdout.split()


def test_production_settings_leave_the_sandbox_out():
    assert "sandbox" not in installed_apps()
    assert "sandbox" in installed_apps(DJANGO_DEBUG="1")
    assert "sandbox" in installed_apps(PINGBACK_SANDBOX="1")


def test_no_production_module_imports_the_sandbox():
    importers = []
    for package in PRODUCTION_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "tests" in path.relative_to(ROOT).parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(name.split(".")[0] == "sandbox" for name in names):
                    importers.append(str(path.relative_to(ROOT)))
    assert importers == []

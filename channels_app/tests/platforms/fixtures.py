"""Loader for the per-platform webhook fixtures beside the tests."""

import json
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(platform: str, name: str) -> bytes:
    """The fixture's exact bytes, compacted as a platform sends them. Fails fast
    on invalid JSON."""
    path = FIXTURES / platform / f"{name}.json"
    return json.dumps(json.loads(path.read_text()), separators=(",", ":")).encode()


def fixture_names(platform: str) -> set[str]:
    return {path.stem for path in (FIXTURES / platform).glob("*.json")}

"""Loader for the per-platform webhook fixtures beside the tests.

A fixture is `fixtures/<platform>/<name>.json` (`.eml` for e-mail); what it
must parse to is in `<name>.expected.json` beside it (see
`channels_app.tests.platforms.contract`)."""

import json
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED_SUFFIX = ".expected.json"


def fixture_bytes(platform: str, name: str) -> bytes:
    """The fixture's exact bytes, compacted as a platform sends them. Fails fast
    on invalid JSON."""
    return compact_json(FIXTURES / platform / f"{name}.json")


def compact_json(path: Path) -> bytes:
    """A JSON file's content without insignificant white space, as platforms
    send it. Fails fast on invalid JSON."""
    return json.dumps(json.loads(path.read_text()), separators=(",", ":")).encode()


def fixture_names(platform: str) -> set[str]:
    """The names of the JSON fixtures of `platform`."""
    return names_in(FIXTURES / platform, ".json")


def names_in(folder: Path, suffix: str) -> set[str]:
    """The names of the fixtures in `folder` ending in `suffix`, leaving out
    their expectation files."""
    return {
        path.name.removesuffix(suffix)
        for path in folder.glob(f"*{suffix}")
        if not path.name.endswith(EXPECTED_SUFFIX)
    }

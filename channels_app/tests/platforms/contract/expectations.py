"""Expectation files: what each fixture parses to, as JSON beside the fixture.

`<name>.expected.json` holds, for a fixture that parses,

    {"event_key": "...", "items": [{"type": "InboundMessage", ...}], "ignored": []}

with every field of each item (the dataclasses of `channels_app.platforms.base`,
serialised generically: the class name under "type", nested dataclasses as
objects, tuples as lists, datetimes as ISO 8601 with their offset), and for a
fixture the platform must refuse

    {"malformed": "<the path the error names>", "error": "<the whole message>"}

A time the platform does not send (Twilio gives none: PingBack uses the time of
receipt) is written `"(now)"`: any time between the start and the end of the
parse.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from channels_app.platforms.base import MalformedPayload, ParsedWebhook

NOW = "(now)"


def serialise(value: Any, window: tuple[datetime, datetime] | None = None) -> Any:
    """`value` as JSON-ready data; a datetime inside `window` becomes `NOW`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: serialise(getattr(value, field.name), window)
            for field in dataclasses.fields(value)
        }
    if isinstance(value, datetime):
        if window and window[0] <= value <= window[1]:
            return NOW
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [serialise(item, window) for item in value]
    if isinstance(value, dict):
        return {key: serialise(item, window) for key, item in value.items()}
    return value


def parsed_as_json(
    parsed: ParsedWebhook, window: tuple[datetime, datetime] | None = None
) -> dict[str, Any]:
    """A parse result as it is written in an expectation file."""
    return {
        "event_key": parsed.event_key,
        "items": [
            {"type": type(item).__name__, **serialise(item, window)}
            for item in parsed.items
        ],
        "ignored": list(parsed.ignored),
    }


def malformed_as_json(error: MalformedPayload) -> dict[str, str]:
    """A refusal as it is written in an expectation file: the path the error
    names (before its first `: `) and the whole message."""
    message = str(error)
    return {"malformed": message.split(": ", 1)[0], "error": message}


def expectation_path(fixture: Path) -> Path:
    """`name.expected.json` beside `name.json` / `name.eml`."""
    return fixture.with_name(fixture.name.rsplit(".", 1)[0] + ".expected.json")


def read(fixture: Path) -> dict[str, Any]:
    return json.loads(expectation_path(fixture).read_text())


def write(fixture: Path, outcome: dict[str, Any]) -> Path:
    path = expectation_path(fixture)
    path.write_text(json.dumps(outcome, indent=2, ensure_ascii=False) + "\n")
    return path

"""The outcome of parsing a fixture, as its expectation file holds it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from channels_app.platforms import get_platform
from channels_app.platforms.base import MalformedPayload
from channels_app.tests.platforms.contract.expectations import (
    malformed_as_json,
    parsed_as_json,
)
from channels_app.tests.platforms.contract.kits.base import Kit


def outcome(kit: Kit, name: str) -> dict[str, Any]:
    """What fixture `name` parses to now, as an expectation file holds it."""
    body = kit.body(name)
    before = datetime.now(UTC)
    try:
        parsed = get_platform(kit.platform).parse(kit.build(), body)
    except MalformedPayload as error:
        return malformed_as_json(error)
    return parsed_as_json(parsed, (before, datetime.now(UTC)))

"""Reading untrusted JSON field by field, with errors that name the path.

    root = JsonValue.parse(body)                       # MalformedPayload if not JSON
    sender = root["direct_message_events"][0]["message_create"]["sender_id"].str()
    # -> MalformedPayload("direct_message_events[0].message_create.sender_id:
    #    expected a string, got int")

Modelled on Zulip's `WildValue`.
"""

from __future__ import annotations

from typing import Any

from channels_app.platforms.base import MalformedPayload
from pingback.untrusted import JsonTooDeep, json_loads

_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    type(None): "null",
    float: "a number",
}


class JsonValue:
    """A JSON value and its path in the payload (`$` is the root)."""

    __slots__ = ("path", "value")

    def __init__(self, value: Any, path: str = "") -> None:
        self.value = value
        self.path = path

    @classmethod
    def parse(cls, body: bytes) -> JsonValue:
        """Decode a UTF-8 JSON body; raise `MalformedPayload` if it is not
        JSON or nests deeper than `JSON_MAX_DEPTH` (`pingback.untrusted`)."""
        try:
            return cls(json_loads(body))
        except JsonTooDeep as error:
            raise MalformedPayload(f"body: {error}") from error
        except ValueError as error:
            raise MalformedPayload(f"body is not JSON: {error}") from error

    def _child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def _fail(self, expected: type) -> MalformedPayload:
        got = _TYPE_NAMES.get(type(self.value), type(self.value).__name__)
        where = self.path or "body"
        return MalformedPayload(f"{where}: expected {_TYPE_NAMES[expected]}, got {got}")

    def __getitem__(self, key: str | int) -> JsonValue:
        if isinstance(key, int):
            items = self.list()
            if key >= len(items):
                raise MalformedPayload(f"{self._child_path(key)}: missing")
            return items[key]
        mapping = self._dict()
        if key not in mapping:
            raise MalformedPayload(f"{self._child_path(key)}: missing")
        return JsonValue(mapping[key], self._child_path(key))

    def get(self, key: str) -> JsonValue | None:
        """The member `key`, or None when it is absent or null."""
        value = self._dict().get(key)
        return None if value is None else JsonValue(value, self._child_path(key))

    def __contains__(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def _dict(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self._fail(dict)
        return self.value

    def keys(self) -> list[str]:
        return list(self._dict())

    def items(self) -> list[tuple[str, JsonValue]]:
        return [(key, self[key]) for key in self._dict()]

    def list(self) -> list[JsonValue]:
        if not isinstance(self.value, list):
            raise self._fail(list)
        return [
            JsonValue(item, self._child_path(i)) for i, item in enumerate(self.value)
        ]

    def str(self) -> str:
        if not isinstance(self.value, str):
            raise self._fail(str)
        return self.value

    def int(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self._fail(int)
        return self.value

    def digits(self) -> str:
        """A numeric id sent as a string of digits (X's `id_str`, `sender_id`)."""
        text = self.str()
        if not text.isdigit():
            raise MalformedPayload(f"{self.path}: expected a numeric id, got {text!r}")
        return text

    def str_or(self, default: str = "") -> str:
        """The string value, or `default` when the value is not a string."""
        return self.value if isinstance(self.value, str) else default

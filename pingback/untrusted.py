"""Reading untrusted input: JSON with a nesting limit, and text repaired so
PostgreSQL can store it.

    value = json_loads(body)            # JsonTooDeep / ValueError, never RecursionError
    text = text_repair("a\\x00b")       # "a\\ufffdb"
    body = json_body_repair(body)       # the same object when nothing needed repair

Python's `json` recurses once per nested array or object; a body of 50,000
`[` exhausts the interpreter's stack (`RecursionError`). `json_loads` measures
the nesting first, with C-speed byte operations, and refuses anything deeper
than `JSON_MAX_DEPTH` (setting, default 64: no platform payload comes close).

PostgreSQL text cannot hold NUL (U+0000), and UTF-8 cannot encode a lone
surrogate (U+D800-U+DFFF, which JSON's `\\ud800` escape produces); bytes that
are not UTF-8 cannot be decoded as it. `text_repair` and the `*_repair`
helpers replace each such character with U+FFFD (REPLACEMENT CHARACTER), the
Unicode standard's substitute for a character that cannot be represented.
Each helper checks cheaply first and returns its input unchanged (the same
object) when there is nothing to repair, so the common case costs a byte scan.
"""

from __future__ import annotations

import dataclasses
import json
import re
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings

REPLACEMENT = "\ufffd"

# NUL and any surrogate: what PostgreSQL text or UTF-8 cannot hold. In a str
# decoded from JSON a surrogate is always lone (json pairs them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A JSON escape that decodes to NUL or a lone surrogate (a high one not
# followed by a low one, a low one not preceded by a high one). A false
# positive (an escaped backslash before `u`) only costs a walk that changes
# nothing.
_UNSTORABLE_ESCAPE = re.compile(
    rb"\\u0000"
    rb"|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
# A JSON string (the unrolled form of "(?:[^"\\]|\\.)*"), to blank out before
# counting brackets: a "[" inside a string does not nest.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = [0] * 256
for _opening in b"[{":
    _DEPTH_STEP[_opening] = 1
for _closing in b"]}":
    _DEPTH_STEP[_closing] = -1


class JsonTooDeep(ValueError):
    """The JSON nests arrays/objects deeper than allowed. `limit` is that
    depth; the message says so in words fit for an API client."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels.")
        self.limit = limit


def json_max_depth() -> int:
    """`JSON_MAX_DEPTH`: how many arrays/objects may nest inside each other."""
    return settings.JSON_MAX_DEPTH


def json_depth_exceeds(data: bytes | str, limit: int) -> bool:
    """Whether `data` (JSON text; valid or not) opens more than `limit`
    arrays/objects inside each other, brackets inside strings not counted.

    For invalid JSON the answer bounds how deep a parser can get before it
    fails, so `json.loads` never recurses deeper than `limit` when this is
    False. Costs two `count`s unless the text has more than `limit` brackets.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > limit


def json_loads(
    data: bytes | str, *, max_depth: int | None = None, **options: Any
) -> Any:
    """`json.loads(data, **options)` with a nesting limit (`JSON_MAX_DEPTH`
    unless given).

    Raises `JsonTooDeep` when too deep, `UnicodeDecodeError` or
    `json.JSONDecodeError` (both `ValueError`) when not JSON; never
    `RecursionError`."""
    limit = json_max_depth() if max_depth is None else max_depth
    if json_depth_exceeds(data, limit):
        raise JsonTooDeep(limit)
    try:
        return json.loads(data, **options)
    except RecursionError as error:  # unreachable after the check; kept as a net
        raise JsonTooDeep(limit) from error


def text_repair(text: str) -> str:
    """`text` with each NUL and lone surrogate replaced by U+FFFD (the same
    object when there is none)."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def value_repair(value: Any) -> Any:
    """`value` with `text_repair` applied to every string in it: a decoded
    JSON value (dict keys included), or the tuples and (frozen) dataclasses
    a parser returns. The input is not changed; what needed no repair is
    returned as it is (the same object). Nesting is bounded by the input's
    own (JSON values are depth-checked when parsed)."""
    if isinstance(value, str):
        return text_repair(value)
    if isinstance(value, dict):
        return {text_repair(key): value_repair(item) for key, item in value.items()}
    if isinstance(value, list):
        return [value_repair(item) for item in value]
    if isinstance(value, tuple):
        items = tuple(value_repair(item) for item in value)
        unchanged = all(a is b for a, b in zip(items, value, strict=True))
        return value if unchanged else items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for field in dataclasses.fields(value):
            current = getattr(value, field.name)
            repaired = value_repair(current)
            if repaired is not current:
                changes[field.name] = repaired
        return dataclasses.replace(value, **changes) if changes else value
    return value


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def json_body_repair(body: bytes) -> bytes:
    """A JSON body whose strings hold no NUL or lone surrogate and whose
    bytes are UTF-8: bytes that are not UTF-8 and `\\u0000` / lone
    `\\ud800`-`\\udfff` escapes become U+FFFD, and the value is written again
    (compact, UTF-8). Returns `body` itself when it needs no repair, or when
    it is not JSON (or too deep) even after decoding: it is then kept as it
    came and refused by its parser."""
    if _is_utf8(body) and not (
        b"\\u" in body and _UNSTORABLE_ESCAPE.search(body) is not None
    ):
        return body
    text = body.decode("utf-8", "replace")
    try:
        value = json_loads(text)
    except ValueError:
        return body
    repaired = value_repair(value)
    if repaired == value and text.encode("utf-8") == body:
        return body
    return json.dumps(repaired, ensure_ascii=False, separators=(",", ":")).encode()


def form_body_repair(body: bytes) -> bytes:
    """An `application/x-www-form-urlencoded` body whose names and values hold
    no NUL: `%00` and bytes that are not UTF-8 (raw or %-encoded) become
    U+FFFD, and the form is encoded again. Returns `body` itself when it
    needs no repair. (Decoding %-encoded bytes that are not UTF-8 already
    yields U+FFFD; a form cannot carry a lone surrogate.)"""
    if _is_utf8(body) and b"%00" not in body:
        return body
    pairs = parse_qsl(
        body.decode("utf-8", "replace"), keep_blank_values=True, errors="replace"
    )
    repaired = [(text_repair(key), text_repair(value)) for key, value in pairs]
    return urlencode(repaired).encode("ascii")

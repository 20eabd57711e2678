"""The API's parsers (`REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]`).

DRF's own parser lets a deeply nested body raise `RecursionError` (a 500) and
passes `\\u0000` and lone `\\ud800` escapes through to the serializers, where
PostgreSQL cannot store them. This one refuses JSON nested deeper than
`JSON_MAX_DEPTH` (400 `{"detail": "JSON parse error - JSON nested deeper
than 64 levels."}`) and replaces NUL and lone surrogates in every string with
U+FFFD (see `pingback.untrusted`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import SuspiciousOperation
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json as drf_json

from pingback.untrusted import json_loads, value_repair


class JSONParser(parsers.JSONParser):
    """`application/json` bodies, bounded in depth, with storable text.
    Raises `ParseError` (400) for a body that is not JSON in the request's
    charset, or too deep."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        options = {"parse_constant": drf_json.strict_constant} if self.strict else {}
        try:
            text = stream.read().decode(encoding)
            data = json_loads(text, **options)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from error
        # Only an escape (`\u0000`, `\ud800`) yields NUL or a lone surrogate:
        # raw control characters are not JSON.
        return value_repair(data) if "\\u" in text else data


class _RefusedAsParseError:
    """A form parser whose refusals Django reports as `SuspiciousOperation`
    (more than `DATA_UPLOAD_MAX_NUMBER_FIELDS` fields, too many files),
    which Django would answer with an HTML 400 page, raise `ParseError`
    (JSON 400, "`<what>` parse error - ...") instead."""

    what: str

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except SuspiciousOperation as error:
            raise ParseError(f"{self.what} parse error - {error}") from error


class FormParser(_RefusedAsParseError, parsers.FormParser):
    """`application/x-www-form-urlencoded` bodies; too many fields is a JSON
    400."""

    what = "Form"


class MultiPartParser(_RefusedAsParseError, parsers.MultiPartParser):
    """`multipart/form-data` bodies; too many fields or files is a JSON 400."""

    what = "Multipart form"

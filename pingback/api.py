"""API edge: the one exception handler that maps domain errors to HTTP, and the
OpenAPI description of the error answers it gives."""

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from pingback.errors import ApplicationError, FieldInvalid, PlanLimitExceeded


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer an `ApplicationError` with its status and `{"detail", "code"}`
    (a `PlanLimitExceeded` adds what the plan allows and which plans allow
    more: `PlanLimitExceeded.body`).

    Everything else goes to DRF's default handler (validation errors keep DRF's
    shape: a dict from field name to messages, as `FieldInvalid` does).
    """
    if isinstance(exc, FieldInvalid):
        return Response({exc.field: [exc.detail]}, status=exc.status_code)
    if isinstance(exc, PlanLimitExceeded):
        return Response(exc.body(), status=exc.status_code)
    if isinstance(exc, ApplicationError):
        return Response(
            {"detail": exc.detail, "code": exc.code}, status=exc.status_code
        )
    return drf_exception_handler(exc, context)


# ------------------------------------------------------------------ error shapes


class ErrorSerializer(serializers.Serializer):
    """An error: `detail`, a sentence for people, and for PingBack's own
    refusals `code`, a stable word for programs (`plan_limit_exceeded`,
    `channel_inactive`, `empty_reply`, ...)."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False)


class PlanLimitErrorSerializer(serializers.Serializer):
    """A 402: the plan does not allow this, and what would.

    `code` is `plan_limit_exceeded`; `plan` the business's plan (`free`,
    `mini`, `pro`); `limit` how many channels it allows and `used` how many
    the business has; `upgrade_to` the plans that allow the change, cheapest
    first (empty when none does); `channel_type` the refused type when the
    plan does not include that type at all (null when only the count is the
    problem)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    plan = serializers.CharField()
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    upgrade_to = serializers.ListField(child=serializers.CharField())
    channel_type = serializers.CharField(allow_null=True)


class ValidationErrorSerializer(serializers.Serializer):
    """Marker for a 400 answer; its schema is written by hand below."""


_VALIDATION_ERROR_DESCRIPTION = (
    "The request's fields that are wrong, each with a list of messages (an "
    "object of the same shape for a nested field, keyed by index for a list's "
    "items) and `non_field_errors` for the request as a whole; or `detail` (and "
    "`code`) when the body could not be read or PingBack refused it as a whole."
)


class ValidationErrorScheme(OpenApiSerializerExtension):
    """OpenAPI schema of `ValidationErrorSerializer` (component
    `ValidationError`): an object of field name to messages, see
    `_VALIDATION_ERROR_DESCRIPTION`."""

    target_class = ValidationErrorSerializer

    def get_name(self, auto_schema, direction) -> str:
        return "ValidationError"

    def map_serializer(self, auto_schema, direction) -> dict[str, Any]:
        return {
            "type": "object",
            "description": _VALIDATION_ERROR_DESCRIPTION,
            "properties": {
                "detail": {"type": "string"},
                "code": {"type": "string"},
            },
            "additionalProperties": {
                "oneOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "object"},
                ]
            },
            "example": {"config": {"api_key": ["This field is required."]}},
        }


_ERRORS: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(
        ValidationErrorSerializer,
        "The request is invalid: the fields named, with what is wrong.",
    ),
    401: OpenApiResponse(
        ErrorSerializer, "No valid `Authorization: Bearer <token>` header."
    ),
    402: OpenApiResponse(
        PlanLimitErrorSerializer,
        "The business's plan does not allow this (`code`: "
        "`plan_limit_exceeded`): the answer gives the plan, its channel "
        "`limit`, the channels `used` and the plans to `upgrade_to`.",
        examples=[
            OpenApiExample(
                "Channel limit reached",
                value={
                    "detail": "The Mini plan allows 3 channels and this business "
                    "uses 3; upgrade to Pro to add more.",
                    "code": "plan_limit_exceeded",
                    "plan": "mini",
                    "limit": 3,
                    "used": 3,
                    "upgrade_to": ["pro"],
                    "channel_type": None,
                },
            )
        ],
    ),
    403: OpenApiResponse(
        ErrorSerializer,
        "The caller is not a member of a business, or not an admin where one must be.",
    ),
    404: OpenApiResponse(
        ErrorSerializer,
        "No such object in the caller's business (another business's objects "
        "are not found either), or an invalid `cursor`.",
    ),
    409: OpenApiResponse(
        ErrorSerializer,
        "The object's state does not allow this: the channel is deactivated or "
        "deleted (`code`: `channel_inactive`), or the message is not in a state "
        "the action applies to (`code`: `message_state`).",
    ),
    415: OpenApiResponse(
        ErrorSerializer,
        "The request has a body but no `Content-Type`, or one the operation "
        "does not read (it reads those its request body lists).",
    ),
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers of an operation, for `@extend_schema(responses=...)`:
    `{401: OpenApiResponse(Error), ...}` for the given HTTP statuses, among
    400, 401, 402, 403, 404, 409 and 415. Raises `KeyError` for another
    status."""
    return {status: _ERRORS[status] for status in statuses}

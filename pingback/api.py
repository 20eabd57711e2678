"""API edge: the one exception handler that maps domain errors to HTTP."""

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from pingback.errors import ApplicationError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer an `ApplicationError` with its status and `{"detail", "code"}`.

    Everything else goes to DRF's default handler (validation errors keep DRF's
    shape: a dict from field name to messages).
    """
    if isinstance(exc, ApplicationError):
        return Response(
            {"detail": exc.detail, "code": exc.code}, status=exc.status_code
        )
    return drf_exception_handler(exc, context)

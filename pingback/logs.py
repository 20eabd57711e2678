"""Structured logs and the request id (docs/deployment.md, "Health, metrics
and logs").

Every log line of a web request carries `request_id`: the request's
`X-Request-ID` header when it is a short token of safe characters (1 to 64 of
`A-Z a-z 0-9 . _ : -`, as a proxy or load balancer sets it), otherwise a new
one (32 hex digits); the response returns it in `X-Request-ID`. A Celery task
published while handling the request carries it in a message header
(`pingback_request_id`), and every log line of that task carries it too,
with `task_id` and `task`.

The ids live in structlog's context variables, so PingBack's ordinary
`logger.info("event", extra={...})` calls need no change: the formatters
below merge the context and the `extra` fields into each line. With
`PINGBACK_LOG_FORMAT=json` each line is one JSON object (`event`, `level`,
`logger`, `timestamp` in UTC ISO 8601, `request_id`, the extra fields,
`exception` with the traceback); with `plain` (development) a readable line
with the same fields as `key=value`.

Source: https://www.structlog.org/en/stable/standard-library.html
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sentry_sdk
import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "pingback_request_id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_PRE_CHAIN = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def json_formatter() -> logging.Formatter:
    """One JSON object per line (the `json` log format)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def plain_formatter() -> logging.Formatter:
    """`time [level] event [logger] key=value ...` (the `plain` log format)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # A plain traceback: rich's would print local variables, and
            # they may hold tokens or customers' messages.
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            ),
        ],
    )


def configure_structlog() -> None:
    """Route `structlog.get_logger()` loggers through the standard logging
    handlers (and so the formatters above), like every other logger."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def request_id_clean(value: str | None) -> str | None:
    """`value` when it is a usable request id (1 to 64 safe characters),
    else None."""
    if value and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return None


def current_request_id() -> str | None:
    return structlog.contextvars.get_contextvars().get("request_id")


@contextmanager
def request_id_bound(request_id: str | None) -> Iterator[None]:
    """Within the block, log lines and published tasks carry `request_id`
    (for a thread working on a request's behalf, e.g. the outbox relay);
    nothing changes when it is None."""
    if not request_id:
        yield
        return
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        yield


class RequestIdMiddleware:
    """Binds `request_id` (taken from `X-Request-ID` or new) for the request's
    log lines and the tasks it queues, sets `request.request_id`, and returns
    it in the response's `X-Request-ID` header. First in MIDDLEWARE, so every
    log line of the request has it. Sync and async (ASGI: no thread hop)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _begin(self, request: HttpRequest) -> tuple[str, dict]:
        request_id = (
            request_id_clean(request.headers.get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
        )
        request.request_id = request_id
        # On the Sentry event of an error in this request (no-op without
        # SENTRY_DSN).
        sentry_sdk.set_tag("request_id", request_id)
        return request_id, structlog.contextvars.bind_contextvars(request_id=request_id)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self.__acall__(request)
        request_id, tokens = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            _reset(tokens)
        response[REQUEST_ID_HEADER] = request_id
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        request_id, tokens = self._begin(request)
        try:
            response = await self.get_response(request)
        finally:
            _reset(tokens)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _reset(tokens: dict) -> None:
    # Logging must never fail a request or a task: a token made in another
    # context (it should not happen) is left alone.
    try:
        structlog.contextvars.reset_contextvars(**tokens)
    except ValueError:
        structlog.contextvars.unbind_contextvars(*tokens)


# ------------------------------------------------------------------ Celery

# Context tokens of the tasks running, by task id: a stack, as an eager
# task's retry runs inside the first try under the same id.
_task_tokens: dict[str, list[dict]] = {}


@before_task_publish.connect(weak=False)
def _request_id_to_task(headers: dict | None = None, **kwargs: object) -> None:
    request_id = current_request_id()
    if request_id and headers is not None:
        headers[TASK_HEADER] = request_id


@task_prerun.connect(weak=False)
def _task_context(task_id: str | None = None, task=None, **kwargs: object) -> None:
    if task is None or task_id is None:
        return
    context = {"task_id": task_id, "task": task.name}
    # An eager task runs inside the request: its id is already bound.
    request_id = request_id_clean(getattr(task.request, TASK_HEADER, None))
    if request_id:
        context["request_id"] = request_id
        sentry_sdk.set_tag("request_id", request_id)
    tokens = structlog.contextvars.bind_contextvars(**context)
    _task_tokens.setdefault(task_id, []).append(tokens)


@task_postrun.connect(weak=False)
def _task_context_end(task_id: str | None = None, **kwargs: object) -> None:
    stack = _task_tokens.get(task_id or "")
    if not stack:
        return
    tokens = stack.pop()
    if not stack:
        del _task_tokens[task_id]
    _reset(tokens)


configure_structlog()

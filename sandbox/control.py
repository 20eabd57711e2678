"""Sandbox control, inspection and demo-UI endpoints (never subject to X modes).

| method, path | body → answer |
| --- | --- |
| ``GET /_sandbox/requests?since=<seq>`` | → ``{"requests": [...]}`` |
| ``POST /_sandbox/reset`` | → ``{"reset": true}``; keeps registered apps |
| ``POST /_sandbox/x/apps`` | XApp JSON → 201 ``{"app": {consumer_key, account}}`` |
| ``GET/POST /_sandbox/x/mode`` | subset of the modes → all modes |
| ``GET /_sandbox/x/state`` | → apps, webhooks, subscriptions, sends (no secrets) |
| ``POST /_sandbox/x/customer/dm`` | ``{account_id?, customer?, text, format?}`` |
| ``POST /_sandbox/x/customer/mention`` | ``{…, in_reply_to_tweet_id?}`` |
| ``GET /`` | the demo page |
| ``POST /_sandbox/x/ui/dm``, ``/_sandbox/x/ui/mention`` | form → 303 to ``/`` |

Customer endpoints answer ``{"deliveries": [{"url", "status_code", "body"}],
"event_id", "payload"}``, or ``{"error"}`` with 400, 404 or 409. Errors of
the control API are always ``{"error": "<message>"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sandbox.standin import ControlError
from sandbox.ui import render_index
from sandbox.web import (
    BadRequestBody,
    Handler,
    Request,
    Response,
    html_response,
    json_response,
    match_route,
    redirect,
    route,
)
from sandbox.x import XApp
from sandbox.x_delivery import (
    CustomerMessage,
    send_customer_dm,
    send_customer_mention,
)
from sandbox.x_state import XState

if TYPE_CHECKING:
    from sandbox.server import SandboxState

CustomerAction = Callable[[XState, CustomerMessage], dict[str, Any]]


def error(status: int, message: str) -> Response:
    """``{"error": message}`` with ``status``."""
    return json_response(status, {"error": message})


# --------------------------------------------------------------------------
# Inspection and configuration
# --------------------------------------------------------------------------


def list_requests(state: SandboxState, req: Request) -> Response:
    """Recorded X API requests with ``seq`` greater than ``?since`` (default 0)."""
    try:
        since = int(req.query.get("since") or 0)
    except ValueError as exc:
        raise BadRequestBody("since must be an integer") from exc
    return json_response(200, {"requests": state.log.since(since)})


def reset(state: SandboxState, req: Request) -> Response:
    """Clear requests, sends, webhooks, subscriptions and modes; keep apps."""
    state.reset()
    return json_response(200, {"reset": True})


def register_app(state: SandboxState, req: Request) -> Response:
    """Register another app and account from an XApp-shaped JSON body."""
    try:
        app = XApp.from_dict(req.json_object())
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequestBody(f"invalid app: {exc!r}") from exc
    state.x.register_app(app)
    answer = {"consumer_key": app.consumer_key, "account": app.account.as_public()}
    return json_response(201, {"app": answer})


def get_mode(state: SandboxState, req: Request) -> Response:
    """The current failure modes."""
    return json_response(200, state.x.get_modes())


def set_mode(state: SandboxState, req: Request) -> Response:
    """Update any subset of the failure modes; answer all modes."""
    try:
        return json_response(200, state.x.set_modes(req.json_object()))
    except ValueError as exc:
        raise BadRequestBody(str(exc)) from exc


def get_state(state: SandboxState, req: Request) -> Response:
    """Apps, webhooks, subscriptions and sends, without secrets."""
    return json_response(200, state.x.snapshot())


# --------------------------------------------------------------------------
# Acting as X: the customer writes
# --------------------------------------------------------------------------


def _run_customer_action(
    state: SandboxState, action: CustomerAction, data: dict[str, Any]
) -> dict[str, Any]:
    """Parse ``data`` and run ``action``; user errors become exceptions."""
    try:
        message = CustomerMessage.from_dict(data)
    except ValueError as exc:
        raise BadRequestBody(str(exc)) from exc
    return action(state.x, message)


def _customer_endpoint(action: CustomerAction) -> Handler:
    """A JSON endpoint around a customer action."""

    def endpoint(state: SandboxState, req: Request) -> Response:
        return json_response(
            200, _run_customer_action(state, action, req.json_object())
        )

    endpoint.__doc__ = f"JSON endpoint for :func:`{action.__name__}`."
    return endpoint


def _ui_endpoint(action: CustomerAction) -> Handler:
    """A form endpoint around a customer action that redirects to ``/``."""

    def endpoint(state: SandboxState, req: Request) -> Response:
        try:
            result = _run_customer_action(state, action, req.form())
        except (BadRequestBody, ControlError) as exc:
            return redirect("/?" + urlencode({"flash": str(exc)}))
        return redirect("/?" + urlencode({"flash": delivery_summary(result)}))

    endpoint.__doc__ = f"Form endpoint for :func:`{action.__name__}` (303 to /)."
    return endpoint


def delivery_summary(result: dict[str, Any]) -> str:
    """One line for the demo page, e.g. ``Event 19… delivered: http://… → 200``
    (or, for an account without a webhook, that its app reads it by polling)."""
    if not result["deliveries"]:
        return (
            f"Event {result['event_id']} recorded: no webhook, the account's "
            "app reads it by polling"
        )
    outcomes = ", ".join(
        f"{d['url']} → {d['status_code'] or d['body']}" for d in result["deliveries"]
    )
    return f"Event {result['event_id']} delivered: {outcomes}"


def index(state: SandboxState, req: Request) -> Response:
    """The demo page, with an optional ``?flash=`` notice."""
    sections = "".join(standin.ui_section() for standin in state.standins)
    return html_response(
        render_index(state.x.snapshot(), req.query.get("flash"), extra=sections)
    )


# --------------------------------------------------------------------------
# Route table and dispatch
# --------------------------------------------------------------------------

CONTROL_ROUTES = (
    route("GET", r"/", index),
    route("GET", r"/_sandbox/requests", list_requests),
    route("POST", r"/_sandbox/reset", reset),
    route("POST", r"/_sandbox/x/apps", register_app),
    route("GET", r"/_sandbox/x/mode", get_mode),
    route("POST", r"/_sandbox/x/mode", set_mode),
    route("GET", r"/_sandbox/x/state", get_state),
    route("POST", r"/_sandbox/x/customer/dm", _customer_endpoint(send_customer_dm)),
    route(
        "POST",
        r"/_sandbox/x/customer/mention",
        _customer_endpoint(send_customer_mention),
    ),
    route("POST", r"/_sandbox/x/ui/dm", _ui_endpoint(send_customer_dm)),
    route("POST", r"/_sandbox/x/ui/mention", _ui_endpoint(send_customer_mention)),
)
"""Every sandbox-only endpoint: method, path regex, handler."""


def handle_control_request(state: SandboxState, req: Request) -> Response:
    """Serve a sandbox path; user errors become ``{"error"}`` answers."""
    found = match_route(CONTROL_ROUTES, req.method, req.path)
    if found is None:
        return error(404, f"no sandbox endpoint {req.method} {req.path}")
    endpoint, params = found
    try:
        return endpoint.handler(state, req.with_match(params))
    except BadRequestBody as exc:
        return error(400, str(exc))
    except ControlError as exc:
        return error(exc.status, exc.message)

"""The X stand-in: the X API v2 (:mod:`sandbox.platforms.x.api`, after
OAuth checks by :mod:`sandbox.platforms.x.auth`), post media files, and a
customer writing DMs and mentions (:mod:`sandbox.platforms.x.delivery`).

Control endpoints, under ``/_sandbox/x/`` (errors are ``{"error"}`` with 400,
404 or 409):

| method, subpath | body → answer |
| --- | --- |
| ``GET state`` | → apps, webhooks, subscriptions, sends (no secrets) |
| ``GET/POST mode`` | subset of the modes → all modes |
| ``POST apps`` | XApp JSON → 201 ``{"app": {consumer_key, account}}`` |
| ``POST customer/dm`` | ``{account_id?, customer?, text, format?}`` |
| ``POST customer/mention`` | ``{…, in_reply_to_tweet_id?}`` |
| ``POST ui/dm``, ``ui/mention`` | the demo page's forms → 303 to ``/`` |

Customer endpoints answer ``{"deliveries": [{"url", "status_code", "body"}],
"event_id", "payload"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sandbox.core.delivery import describe_deliveries
from sandbox.core.http import (
    Handler,
    Request,
    Response,
    json_response,
    route,
)
from sandbox.core.log import RequestLog, api_record
from sandbox.core.standin import FormAction, StandIn, form_endpoint
from sandbox.platforms.x.api import (
    TON_REAL_HOST,
    handle_x_request,
    is_public_media_path,
    is_x_api_path,
    serve_public_media,
)
from sandbox.platforms.x.auth import authenticate
from sandbox.platforms.x.delivery import (
    CustomerMessage,
    run_crc,
    send_customer_dm,
    send_customer_mention,
)
from sandbox.platforms.x.payloads import XApp
from sandbox.platforms.x.state import XState
from sandbox.platforms.x.ui import render_section

DEFAULT_X_REAL_HOST = "https://api.twitter.com"
"""The origin clients sign OAuth 1.0a requests for (tweepy always uses it,
docs/platforms/x.md, "Hosts")."""

CustomerAction = Callable[[XState, CustomerMessage], dict[str, Any]]


def _register_app(x: XStandIn, req: Request) -> Response:
    """Register another app and account from an XApp-shaped JSON body."""
    app = req.parsed(XApp.from_dict, "app")
    x.state.register_app(app)
    answer = {"consumer_key": app.consumer_key, "account": app.account.as_public()}
    return json_response(201, {"app": answer})


def _customer_endpoint(action: CustomerAction) -> Handler:
    """A JSON endpoint around a customer action."""

    def endpoint(x: XStandIn, req: Request) -> Response:
        message = CustomerMessage.from_dict(req.json_object())
        return json_response(200, action(x.state, message))

    endpoint.__doc__ = f"JSON endpoint for :func:`{action.__name__}`."
    return endpoint


def _ui_endpoint(action: CustomerAction) -> FormAction:
    """A demo-page form around a customer action; its notice is
    :func:`delivery_summary`."""

    def run(x: XStandIn, req: Request) -> str:
        return delivery_summary(action(x.state, CustomerMessage.from_dict(req.form())))

    run.__name__ = action.__name__
    return run


def delivery_summary(result: dict[str, Any]) -> str:
    """One line for the demo page, e.g. ``Event 19… delivered: http://… → 200``
    (or, for an account without a webhook, that its app reads it by polling)."""
    if not result["deliveries"]:
        return (
            f"Event {result['event_id']} recorded: no webhook, the account's "
            "app reads it by polling"
        )
    outcomes = describe_deliveries(result["deliveries"])
    return f"Event {result['event_id']} delivered: {outcomes}"


class XStandIn(StandIn):
    """X on loopback. ``state`` holds apps, webhooks, subscriptions, sends
    and modes; ``x_real_host`` is the origin clients sign OAuth 1.0a requests
    for; ``crc`` runs a CRC against a URL (replaceable in tests)."""

    name = "x"
    control_routes = (
        route("POST", r"apps", _register_app),
        route("POST", r"customer/dm", _customer_endpoint(send_customer_dm)),
        route("POST", r"customer/mention", _customer_endpoint(send_customer_mention)),
        route("POST", r"ui/dm", form_endpoint(_ui_endpoint(send_customer_dm))),
        route(
            "POST", r"ui/mention", form_endpoint(_ui_endpoint(send_customer_mention))
        ),
    )

    def __init__(self, x_real_host: str = DEFAULT_X_REAL_HOST) -> None:
        self.state = XState()
        super().__init__(self.state.modes)
        self.x_real_host = x_real_host
        self.crc: Callable[[str, str], bool] = run_crc

    def handles(self, req: Request) -> bool:
        """X API paths (``/2/…``, ``/1.1/…``) and post media files."""
        return is_x_api_path(req.path) or is_public_media_path(req.path)

    def serve(self, req: Request, log: RequestLog) -> Response:
        """Post media files are served to anyone, unrecorded; API calls are
        authenticated, answered and recorded with what their credentials
        were (``auth``)."""
        if not is_x_api_path(req.path):
            return serve_public_media(self, req)
        real_host = self.x_real_host.rstrip("/")
        if req.path.startswith("/1.1/ton/"):
            real_host = TON_REAL_HOST
        auth = authenticate(
            method=req.method,
            real_url=real_host + req.path,
            raw_query=req.raw_query,
            authorization=req.headers.get("authorization"),
            apps=self.state.app_list(),
        )
        req = replace(req, auth=auth)
        response = handle_x_request(self, req)
        log.append({**api_record(self.name, req, response), "auth": auth.as_record()})
        return response

    def snapshot(self) -> dict[str, Any]:
        """Apps, webhooks, subscriptions and sends, without secrets."""
        return self.state.snapshot()

    def reset(self) -> None:
        """Clear sends, webhooks, subscriptions and modes; keep apps."""
        self.state.reset()

    def ui_section(self) -> str:
        """The X part of the demo page."""
        return render_section(self.state.snapshot())

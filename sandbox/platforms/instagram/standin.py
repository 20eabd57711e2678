"""The Instagram stand-in: the Graph API paths PingBack calls for Instagram
messaging (docs/platforms/instagram.md), and Meta's side of the webhooks.

It claims Graph paths (``/v<N>/<id>[/<edge>]``) whose id is a Page it has
registered, or that carry one of its Page access tokens (``me``, unknown ids);
WhatsApp's stand-in shares the ``/v<N>/`` space and claims its own ids first.
Customer media is served at ``/_media/instagram/<asset id>``. See
:mod:`sandbox.platforms.instagram.api` for the API and
:mod:`sandbox.platforms.instagram.state` for the state and modes.

Control endpoints, under ``/_sandbox/instagram/``:

- ``GET state``: accounts, subscriptions, sends, deliveries, modes (no
  secrets).
- ``GET``/``POST mode``: ``{rate_limit_next?, server_error_next?, window?,
  echo?}`` → all modes (see :data:`sandbox.platforms.instagram.state.DEFAULT_MODES`).
- ``POST subscribe``: ``{callback_url, verify_token, app_secret?, test?}``,
  the dashboard step: the callback is verified with ``hub.challenge`` →
  ``{"verified": true}``, or 400 with Meta's complaint; with ``test: true``,
  the dashboard's "Test" button too (Meta's sample event, signed:
  ``dashboard_test_event``) → ``test_delivery``.
- ``POST customer/message``: ``{text?, image?, customer_id?, page_id?, mid?,
  reply_to_mid?}`` → ``{mid, deliveries, payload}``.
- ``POST customer/read``: ``{mid?, customer_id?, page_id?}`` (default mid:
  PingBack's last send to the customer) → ``{mid, deliveries, payload}``.
- ``POST ui/message``, ``ui/read``: the demo page's forms → 303 to ``/``.

Customer actions need a verified callback and the Page subscribed to the app
(``POST /{page_id}/subscribed_apps``), else 409; an unknown Page is 404.
Deliveries are signed with the app secret given to ``subscribe``
(``sandbox.platforms.meta.deliver``). After each send, the stand-in delivers its echo
(``is_echo``) in the background, as Meta does, unless the ``echo`` mode is off.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

import requests

from sandbox.core.http import (
    Handler,
    Request,
    Response,
    json_response,
    route,
)
from sandbox.core.standin import ControlError, FormAction, StandIn, form_endpoint
from sandbox.platforms.instagram.api import (
    MEDIA_PREFIX,
    bearer_token,
    graph_node,
    handle_graph,
    serve_media,
)
from sandbox.platforms.instagram.payloads import (
    DEMO_ACCOUNT,
    DEMO_CUSTOMER_ID,
    InstagramAccount,
    dashboard_test_event,
    demo_png,
    message_event,
    new_mid,
    read_event,
    webhook_payload,
)
from sandbox.platforms.instagram.state import InstagramState
from sandbox.platforms.meta import Subscription, deliver, verify_callback

if TYPE_CHECKING:
    from channels_app.models import Channel

DEMO_SETUP_TIMEOUT_S = 30.0


class InstagramStandIn(StandIn):
    """Instagram messaging through the Graph API, with the demo Page, its
    Instagram account, token and app secret registered at construction."""

    name = "instagram"

    def __init__(self) -> None:
        self.state = InstagramState()
        super().__init__(self.state.modes)

    # ------------------------------------------------------------------ API

    def handles(self, req: Request) -> bool:
        """Customer media, and Graph paths for a registered Page or with one
        of the registered Page tokens."""
        if req.path.startswith(MEDIA_PREFIX):
            return True
        found = graph_node(req)
        if found is None:
            return False
        if self.state.account(found[0]) is not None:
            return True
        token = bearer_token(req)
        return bool(token) and self.state.account_for_token(token) is not None

    def handle(self, req: Request) -> Response:
        """Answer a Graph call or a media download; echo successful sends."""
        if req.path.startswith(MEDIA_PREFIX):
            return serve_media(self.state, req)
        return handle_graph(self.state, req, on_sent=self._echo)

    def snapshot(self) -> dict[str, Any]:
        """See :meth:`InstagramState.snapshot`."""
        return self.state.snapshot()

    def reset(self) -> None:
        """Forget sends, subscriptions, media, deliveries and modes."""
        self.state.reset()

    def register(
        self, account: InstagramAccount, customers: tuple[str, ...] = ()
    ) -> None:
        """Register another Page and Instagram account (tests)."""
        self.state.register(account, customers)

    @property
    def sends(self) -> list[dict[str, Any]]:
        """What PingBack sent, oldest first."""
        return self.snapshot()["sends"]

    @property
    def echoes(self) -> list[dict[str, Any]]:
        """The echo deliveries made so far."""
        return self.snapshot()["echoes"]

    def media_url(self, content: bytes, content_type: str) -> str:
        """Serve a customer's file; return its CDN-style link."""
        asset_id = self.state.add_media(content, content_type)
        return f"{self.base_url}{MEDIA_PREFIX}{asset_id}"

    # --------------------------------------------------------- acting as Meta

    def _targets(self, account: InstagramAccount) -> list[Subscription]:
        subscriptions = self.state.subscription_list()
        if not subscriptions:
            raise ControlError(
                409,
                "no callback URL is subscribed: verify one with "
                "POST /_sandbox/instagram/subscribe first",
            )
        if not self.state.is_page_subscribed(account.page_id):
            raise ControlError(
                409,
                f"the app is not subscribed to Page {account.page_id}: "
                f"POST /{{version}}/{account.page_id}/subscribed_apps first",
            )
        return subscriptions

    def _account(self, data: dict[str, Any]) -> InstagramAccount:
        page_id = str(data.get("page_id") or DEMO_ACCOUNT.page_id)
        account = self.state.account(page_id)
        if account is None:
            raise ControlError(404, f"no registered Page {page_id}")
        return account

    @staticmethod
    def _customer(data: dict[str, Any]) -> str:
        customer_id = str(data.get("customer_id") or DEMO_CUSTOMER_ID)
        if not customer_id.isdigit():
            raise ControlError(400, "customer_id must be a numeric IGSID")
        return customer_id

    def customer_message(self, data: dict[str, Any]) -> dict[str, Any]:
        """The customer writes to the account: text and/or a photo (served at
        a CDN-style link), as a signed ``messages`` webhook."""
        account = self._account(data)
        customer_id = self._customer(data)
        text = str(data.get("text") or "")
        if not text.strip() and not data.get("image"):
            raise ControlError(400, "give text, image or both")
        targets = self._targets(account)
        attachments: tuple[tuple[str, str], ...] = ()
        if data.get("image"):
            attachments = (("image", self.media_url(demo_png(), "image/png")),)
        mid = str(data.get("mid") or new_mid(account.instagram_id))
        parties = {"sender_id": customer_id, "recipient_id": account.instagram_id}
        reply_to = data.get("reply_to_mid") or None
        event = message_event(
            **parties,
            mid=mid,
            text=text,
            attachment_urls=attachments,
            reply_to_mid=reply_to,
        )
        self.state.add_customer(account.page_id, customer_id)
        return self._deliver("message", mid, account, event, targets)

    def customer_read(self, data: dict[str, Any]) -> dict[str, Any]:
        """The customer reads one of PingBack's messages (by default the last
        one sent to them): a signed ``messaging_seen`` webhook."""
        account = self._account(data)
        customer_id = self._customer(data)
        mid = data.get("mid")
        if not mid:
            last = self.state.last_send_to(account.page_id, customer_id)
            if last is None:
                raise ControlError(409, "PingBack has sent nothing to this customer")
            mid = last["message_id"]
        targets = self._targets(account)
        event = read_event(
            sender_id=customer_id, recipient_id=account.instagram_id, mid=str(mid)
        )
        return self._deliver("read", str(mid), account, event, targets)

    def _deliver(
        self,
        kind: str,
        mid: str,
        account: InstagramAccount,
        event: dict[str, Any],
        targets: list[Subscription],
    ) -> dict[str, Any]:
        payload = webhook_payload(account, [event])
        deliveries = [deliver(target, payload) for target in targets]
        self.state.record_inbound({"kind": kind, "mid": mid, "deliveries": deliveries})
        return {"mid": mid, "deliveries": deliveries, "payload": payload}

    def _echo(self, send: dict[str, Any]) -> None:
        """Deliver the ``is_echo`` copy of a send in the background, as Meta
        does on the ``messages`` field (docs/platforms/instagram.md, "Webhook
        payload")."""
        account = self.state.account(send["page_id"])
        if (
            account is None
            or not self.state.modes["echo"]
            or not self.state.is_page_subscribed(account.page_id)
            or not self.state.subscription_list()
        ):
            return
        attachment = send["attachment"]
        event = message_event(
            sender_id=account.instagram_id,
            recipient_id=send["recipient_id"],
            mid=send["message_id"],
            text=send["text"] or "",
            attachment_urls=(
                ((attachment["type"], attachment["url"]),) if attachment else ()
            ),
            is_echo=True,
        )
        payload = webhook_payload(account, [event])

        def run() -> None:
            deliveries = [deliver(s, payload) for s in self.state.subscription_list()]
            self.state.record_echo(
                {"mid": send["message_id"], "deliveries": deliveries}
            )

        threading.Thread(target=run, name="instagram-echo", daemon=True).start()

    def subscribe(self, data: dict[str, Any]) -> dict[str, Any]:
        """The Meta app dashboard step: verify the callback URL with the
        verify token (``hub.challenge``), then deliver to it, signed with
        ``app_secret`` (unsigned without one). With ``test: true``, then click
        the dashboard's "Test" button for the ``messages`` field: Meta's
        sample event is delivered to this callback (``test_delivery``)."""
        callback_url = data.get("callback_url")
        verify_token = data.get("verify_token")
        app_secret = data.get("app_secret") or None
        if not isinstance(callback_url, str) or not isinstance(verify_token, str):
            raise ControlError(400, "callback_url and verify_token are required")
        verified, outcome = verify_callback(callback_url, verify_token)
        if not verified:
            raise ControlError(400, f"The URL couldn't be validated: {outcome}")
        subscription = Subscription(
            callback_url, verify_token, str(app_secret) if app_secret else None
        )
        self.state.add_subscription(subscription)
        answer: dict[str, Any] = {"verified": True, "callback_url": callback_url}
        if data.get("test") is True:
            answer["test_delivery"] = deliver(subscription, dashboard_test_event())
        return answer

    def ui_section(self) -> str:
        """The demo page's Instagram section: forms and what was sent."""
        state = self.snapshot()
        sends = [
            f"<tr><td>{escape(send['recipient_id'])}</td>"
            f"<td>{escape(_describe_send(send))}</td></tr>"
            for send in reversed(state["sends"][-10:])
        ]
        callbacks = ", ".join(escape(s["callback_url"]) for s in state["subscriptions"])
        return (
            f"<h2>Instagram @{escape(DEMO_ACCOUNT.username)} "
            f"(Page {escape(DEMO_ACCOUNT.page_id)})</h2>"
            f"<p>Callback: {callbacks or 'none verified yet'}; window: "
            f"{escape(state['modes']['window'])}</p>"
            '<form method="post" action="/_sandbox/instagram/ui/message">'
            f"<b>Write as customer {escape(DEMO_CUSTOMER_ID)}</b><br>"
            '<textarea name="text" placeholder="Is the blue kettle in stock?">'
            '</textarea><br><label><input type="checkbox" name="image"> with a '
            "photo</label> <button>Send DM</button></form>"
            '<form method="post" action="/_sandbox/instagram/ui/read">'
            "<b>Read receipt</b><br><button>Read PingBack's last message</button>"
            "</form><table><thead><tr><th>to</th><th>PingBack sent</th></tr></thead>"
            f"<tbody>{''.join(sends)}</tbody></table>"
        )


def _describe_send(send: dict[str, Any]) -> str:
    """A send as one line: its text, or its attachment as Meta fetched it."""
    attachment = send["attachment"]
    if attachment is None:
        return send["text"]
    return (
        f"[{attachment['type']}] {attachment['content_type']}, "
        f"{attachment['size']} bytes"
    )


# ------------------------------------------------------------------ endpoints

CustomerAction = Callable[[InstagramStandIn, dict[str, Any]], dict[str, Any]]


def _json_endpoint(action: CustomerAction) -> Handler:
    def endpoint(standin: InstagramStandIn, req: Request) -> Response:
        return json_response(200, action(standin, req.json_object()))

    endpoint.__doc__ = f"JSON endpoint for :meth:`InstagramStandIn.{action.__name__}`."
    return endpoint


def _ui_action(action: CustomerAction) -> FormAction:
    """A demo-page form around a customer action (text, and a photo when
    ticked); its notice names the action and PingBack's answers."""

    def run(standin: InstagramStandIn, req: Request) -> str:
        form = req.form()
        data = {"text": form.get("text", ""), "image": form.get("image") == "on"}
        result = action(standin, data)
        codes = ", ".join(str(d["status_code"]) for d in result["deliveries"])
        return (
            f"Instagram {action.__name__.removeprefix('customer_')} delivered: {codes}"
        )

    run.__name__ = action.__name__
    return run


InstagramStandIn.control_routes = (
    route("POST", r"subscribe", _json_endpoint(InstagramStandIn.subscribe)),
    route(
        "POST", r"customer/message", _json_endpoint(InstagramStandIn.customer_message)
    ),
    route("POST", r"customer/read", _json_endpoint(InstagramStandIn.customer_read)),
    route(
        "POST",
        r"ui/message",
        form_endpoint(_ui_action(InstagramStandIn.customer_message), "Instagram"),
    ),
    route(
        "POST",
        r"ui/read",
        form_endpoint(_ui_action(InstagramStandIn.customer_read), "Instagram"),
    ),
)
"""Control endpoints: method, subpath regex, handler(stand-in, request)."""


# ----------------------------------------------------------------------- demo


def demo_channel_config(sandbox_url: str) -> dict[str, str]:
    """The config of the demo Instagram channel (the stand-in's demo Page)."""
    return DEMO_ACCOUNT.as_config()


def demo_after_setup(sandbox_url: str, channel: Channel, config: dict[str, Any]) -> str:
    """Do the Meta dashboard step for the demo channel: subscribe its callback
    URL with the verify token from `config["_meta_setup_instructions"]` (the
    create answer, in clear) and the demo app secret, then click its "Test"
    button: Meta's signed sample event is PingBack's proof that the step was
    done (the channel turns ready)."""
    instructions = config["_meta_setup_instructions"]
    response = requests.post(
        f"{sandbox_url}/_sandbox/instagram/subscribe",
        json={
            "callback_url": instructions["callback_url"],
            "verify_token": instructions["verify_token"],
            "app_secret": DEMO_ACCOUNT.app_secret,
            "test": True,
        },
        timeout=DEMO_SETUP_TIMEOUT_S,
    )
    if response.status_code != 200:
        return f"Meta dashboard step failed: {response.json().get('error')}"
    tested = response.json().get("test_delivery") or {}
    return (
        f"Meta dashboard: callback {instructions['callback_url']} verified; its "
        f"Test event was answered {tested.get('status_code')}."
    )

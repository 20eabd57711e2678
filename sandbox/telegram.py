"""The Telegram stand-in: a fake Bot API, and customers writing to bots.

PingBack's Telegram platform talks to it through python-telegram-bot with
``TELEGRAM_API_BASE_URL`` pointed at the sandbox (docs/platforms/telegram.md,
"python-telegram-bot 22.8"). The Bot API itself is :mod:`sandbox.telegram_api`,
the state :mod:`sandbox.telegram_state`, the customer side
:mod:`sandbox.telegram_customer`, the demo page section
:mod:`sandbox.telegram_ui`.

Control endpoints, under ``/_sandbox/telegram/`` (errors are ``{"error"}``):

- ``GET state``: bots, webhooks, ``sent``, ``inbound``, modes (no secrets).
- ``GET mode``, ``POST mode`` (some of
  :data:`~sandbox.telegram_state.DEFAULT_MODES`): all modes.
- ``POST bots`` ``{"token", "username", "first_name"}``: 201 ``{"bot"}``.
- ``POST customer/message`` (see :meth:`CustomerMessage.from_dict`):
  ``{"update_id", "chat_id", "message_id", "update", "delivery"}``, where
  ``delivery`` is ``{"url", "status_code", "body"}`` of the webhook POST.
- ``POST customer/redeliver`` ``{"update_id", ["bot"]}``: the same Update
  POSTed again, ``{"update_id", "update", "delivery"}``.
- ``POST ui/message``: the demo page's form, answered 303 to ``/``.

``bot`` names a bot by username (default: :data:`DEMO_BOT`); ``customer``
is ``{"id", "first_name", ["last_name"], ["username"]}`` (default:
:data:`DEMO_CUSTOMER`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sandbox.standin import ControlError, StandIn
from sandbox.telegram_api import (
    ApiError,
    handle_bot_api,
    is_bot_api_path,
    parse_multipart,
)
from sandbox.telegram_customer import (
    CustomerMessage,
    redeliver,
    send_customer_message,
)
from sandbox.telegram_state import (
    TelegramBot,
    TelegramCustomer,
    TelegramGroup,
    TelegramState,
)
from sandbox.telegram_ui import render_section
from sandbox.web import BadRequestBody, Request, Response, json_response, redirect

DEMO_BOT = TelegramBot(
    token="7000000001:AAsandbox-demo-bot-token-0123456789",
    username="pingback_demo_bot",
    first_name="PingBack Demo",
)
"""The bot the sandbox knows from the start (the demo's Telegram channel)."""

DEMO_CUSTOMER = TelegramCustomer(
    id=5100000001, first_name="Casey", last_name="Customer", username="casey_customer"
)
"""Who writes to the bots unless told otherwise."""


def demo_channel_config(sandbox_url: str) -> dict[str, str]:
    """The Telegram channel config of the demo bot (see ``setup_demo``)."""
    return {"bot_token": DEMO_BOT.token}


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


class TelegramStandIn(StandIn):
    """The Telegram Bot API and its customers; tests read ``sent``, ``inbound``
    and ``webhook(token)``, and call the methods below directly."""

    name = "telegram"

    def __init__(self) -> None:
        super().__init__()
        self.state = TelegramState()
        self.state.register_bot(DEMO_BOT)

    # ------------------------------------------------------------- for tests

    @property
    def sent(self) -> list[dict[str, Any]]:
        """What bots sent (see ``TelegramState.record_send``), oldest first."""
        return self.state.snapshot()["sent"]

    @property
    def inbound(self) -> list[dict[str, Any]]:
        """What customers sent (see ``TelegramState.record_inbound``)."""
        return self.state.snapshot()["inbound"]

    def webhook(self, token: str = DEMO_BOT.token) -> dict[str, Any] | None:
        """The bot's webhook: ``{"url", "secret_token", "allowed_updates", …}``."""
        return self.state.webhook(token)

    def register_bot(
        self, token: str, username: str, first_name: str = "Test Bot"
    ) -> TelegramBot:
        """Make another bot known (kept across resets)."""
        return self.state.register_bot(TelegramBot(token, username, first_name))

    def open_chat(
        self, customer: TelegramCustomer = DEMO_CUSTOMER, token: str = DEMO_BOT.token
    ) -> None:
        """The customer pressed Start: the bot may now message them."""
        self.state.open_chat(token, customer)

    def open_group(self, group: TelegramGroup, token: str = DEMO_BOT.token) -> None:
        """The bot was added to ``group``: it may now post there."""
        self.state.open_group(token, group)

    def set_modes(self, **modes: Any) -> dict[str, Any]:
        """Force failures (``flood_next``, ``blocked_by_user``, ...)."""
        return self.state.set_modes(modes)

    def customer_sends(self, message: CustomerMessage) -> dict[str, Any]:
        """A customer writes to a bot; the Update goes to its webhook.
        Raises ``ControlError``."""
        bot = self._bot(message.bot_username)
        customer = message.customer or DEMO_CUSTOMER
        return send_customer_message(self.state, bot, customer, message)

    def _bot(self, username: str) -> TelegramBot:
        bot = self.state.bot_named(username) if username else DEMO_BOT
        if bot is None:
            raise ControlError(404, f"no bot @{username}")
        return bot

    # -------------------------------------------------------------- StandIn

    def handles(self, req: Request) -> bool:
        """Bot API calls and file downloads."""
        return is_bot_api_path(req.path)

    def handle(self, req: Request) -> Response:
        """Answer a Bot API call or a file download."""
        return handle_bot_api(self.state, req)

    def snapshot(self) -> dict[str, Any]:
        """Bots, webhooks, sends, customer messages, modes; no secrets."""
        return self.state.snapshot()

    def reset(self) -> None:
        """Forget webhooks, chats, files, sends and modes; keep the bots."""
        self.state.reset()

    def ui_section(self) -> str:
        """The Telegram part of the demo page."""
        return render_section(self.state.snapshot(), DEMO_BOT, DEMO_CUSTOMER)

    def control(self, req: Request, subpath: str) -> Response:
        """Serve ``/_sandbox/telegram/<subpath>`` (see the module docstring)."""
        routes = {
            ("GET", "state"): lambda: json_response(200, self.snapshot()),
            ("GET", "mode"): lambda: json_response(200, self.state.get_modes()),
            ("POST", "mode"): lambda: json_response(
                200, self.state.set_modes(req.json_object())
            ),
            ("POST", "bots"): lambda: self._register_bot(req),
            ("POST", "customer/message"): lambda: json_response(
                200, self.customer_sends(CustomerMessage.from_dict(req.json_object()))
            ),
            ("POST", "customer/redeliver"): lambda: self._redeliver(req),
            ("POST", "ui/message"): lambda: self._ui_message(req),
        }
        endpoint = routes.get((req.method, subpath))
        if endpoint is None:
            return _error(404, f"no sandbox endpoint {req.method} {req.path}")
        try:
            return endpoint()
        except (BadRequestBody, ValueError, ApiError) as exc:
            return _error(400, str(exc))
        except ControlError as exc:
            return _error(exc.status, exc.message)

    def _register_bot(self, req: Request) -> Response:
        data = req.json_object()
        try:
            bot = self.register_bot(
                str(data["token"]),
                str(data["username"]),
                str(data.get("first_name") or data["username"]),
            )
        except KeyError as exc:
            raise ValueError(f"missing {exc.args[0]}") from exc
        answer = {"id": bot.id, "username": bot.username, "first_name": bot.first_name}
        return json_response(201, {"bot": answer})

    def _redeliver(self, req: Request) -> Response:
        data = req.json_object()
        update_id = data.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise ValueError("update_id must be an integer")
        bot = self._bot(str(data.get("bot") or ""))
        return json_response(200, redeliver(self.state, bot, update_id))

    def _ui_message(self, req: Request) -> Response:
        """The demo page's form (multipart, for its file input) → 303 to /."""
        content_type = req.headers.get("content-type", "")
        uploads = {}
        if content_type.startswith("multipart/form-data"):
            fields, uploads = parse_multipart(content_type, req.body)
        else:
            fields = req.form()
        upload = uploads.get("file")
        try:
            message = CustomerMessage.from_dict(
                dict(fields), upload if upload and upload.content else None
            )
            result = self.customer_sends(message)
        except (ValueError, ControlError) as exc:
            return redirect("/?" + urlencode({"flash": f"Telegram: {exc}"}))
        delivery = result["delivery"]
        outcome = delivery["status_code"] or delivery["body"]
        flash = (
            f"Telegram update {result['update_id']} ({message.kind}) delivered to "
            f"{delivery['url']}: {outcome}"
        )
        return redirect("/?" + urlencode({"flash": flash}))

"""The Telegram stand-in: a fake Bot API, and customers writing to bots.

PingBack's Telegram platform talks to it through python-telegram-bot with
``TELEGRAM_API_BASE_URL`` pointed at the sandbox (docs/platforms/telegram.md,
"python-telegram-bot 22.8"). In this package: the Bot API itself
(:mod:`~sandbox.platforms.telegram.api`), the state (``state``), the
customer side (``customer``) and the demo page section (``ui``).

Control endpoints, under ``/_sandbox/telegram/`` (errors are ``{"error"}``):

- ``GET state``: bots, webhooks, ``sent``, ``inbound``, modes (no secrets).
- ``GET mode``, ``POST mode`` (some of
  :data:`~sandbox.platforms.telegram.state.DEFAULT_MODES`): all modes.
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

from sandbox.core.http import BadRequestBody, Request, Response, json_response, route
from sandbox.core.standin import ControlError, StandIn, form_endpoint
from sandbox.platforms.telegram.api import (
    ApiError,
    handle_bot_api,
    is_bot_api_path,
    parse_multipart,
)
from sandbox.platforms.telegram.customer import (
    CustomerMessage,
    redeliver,
    send_customer_message,
)
from sandbox.platforms.telegram.state import (
    TelegramBot,
    TelegramCustomer,
    TelegramGroup,
    TelegramState,
)
from sandbox.platforms.telegram.ui import render_section

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


class TelegramStandIn(StandIn):
    """The Telegram Bot API and its customers; tests read ``sent``, ``inbound``
    and ``webhook(token)``, and call the methods below directly."""

    name = "telegram"
    bad_request_errors = (BadRequestBody, ValueError, ApiError)

    def __init__(self) -> None:
        self.state = TelegramState()
        super().__init__(self.state.modes)
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

    def _customer_message(self, req: Request) -> Response:
        message = CustomerMessage.from_dict(req.json_object())
        return json_response(200, self.customer_sends(message))

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

    def _ui_message(self, req: Request) -> str:
        """The demo page's form (multipart, for its file input)."""
        content_type = req.headers.get("content-type", "")
        uploads = {}
        if content_type.startswith("multipart/form-data"):
            fields, uploads = parse_multipart(content_type, req.body)
        else:
            fields = req.form()
        upload = uploads.get("file")
        message = CustomerMessage.from_dict(
            dict(fields), upload if upload and upload.content else None
        )
        result = self.customer_sends(message)
        delivery = result["delivery"]
        outcome = delivery["status_code"] or delivery["body"]
        return (
            f"Telegram update {result['update_id']} ({message.kind}) delivered to "
            f"{delivery['url']}: {outcome}"
        )

    control_routes = (
        route("POST", "bots", _register_bot),
        route("POST", "customer/message", _customer_message),
        route("POST", "customer/redeliver", _redeliver),
        route("POST", "ui/message", form_endpoint(_ui_message, "Telegram")),
    )

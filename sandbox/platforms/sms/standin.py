"""The Twilio Programmable Messaging stand-in (docs/platforms/sms.md).

The REST paths the twilio SDK calls are served by :mod:`sandbox.platforms.sms.api`
(account fetch, `IncomingPhoneNumbers` list / fetch / update, `Messages`
create, MMS media), behind HTTP basic auth with the account SID and auth
token. After a send, a background thread acts as Twilio towards PingBack
(:mod:`sandbox.platforms.sms.delivery`): it GETs each `MediaUrl` and POSTs signed status
callbacks. A customer texting a number is a POST to the number's `sms_url`,
signed the same way.

Control endpoints, under `/_sandbox/sms/`:

| method, path | body → answer |
| --- | --- |
| `GET state` | → accounts and numbers, sends, inbound, opt-outs, modes |
| `GET mode`, `POST mode` | subset of the modes → all modes |
| `POST customer/message` | `{body, from?, to?, media?, message_sid?}` → |
| | `{deliveries, message_sid, form}` |
| `GET media/<ME sid>` | the file of a customer's MMS (media URLs redirect here) |
| `POST ui/message` | the demo page's form → 303 to `/` |

`media` items are `{content_type, content_base64?}` (a sample file when no
content is given). Errors are `{"error": message}` with 400, 404 or 409.

Modes (`POST mode`): `invalid_number` (sends refused with 21211),
`unsubscribed` (21610), `undelivered` (accepted, then `undelivered` with
30006), `rate_limit_next` and `server_error_next` (the next N sends answered
429 / 500), `status_callbacks` (post them at all).
"""

from __future__ import annotations

import base64
import binascii
import copy
import time
from dataclasses import dataclass
from typing import Any

from sandbox.core.delivery import describe_deliveries
from sandbox.core.http import Request, Response, json_response, route
from sandbox.core.modes import COUNT, FLAG, Modes
from sandbox.core.standin import ControlError, StandIn, form_endpoint
from sandbox.platforms.sms.api import handle_api_request, is_api_path
from sandbox.platforms.sms.delivery import (
    SendPlay,
    deliver_form,
    start_send_delivery,
)
from sandbox.platforms.sms.payloads import (
    API_VERSION,
    DEMO_ACCOUNT,
    DEMO_CUSTOMER_NUMBER,
    DEMO_NUMBER,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    TwilioAccount,
    inbound_message_form,
    new_sid,
    rfc2822,
)
from sandbox.platforms.sms.ui import render_section

DEFAULT_MODES: dict[str, Any] = {
    "invalid_number": False,
    "unsubscribed": False,
    "undelivered": False,
    "rate_limit_next": 0,
    "server_error_next": 0,
    "status_callbacks": True,
}
MODE_CHECKS = {
    "invalid_number": FLAG,
    "unsubscribed": FLAG,
    "undelivered": FLAG,
    "rate_limit_next": COUNT,
    "server_error_next": COUNT,
    "status_callbacks": FLAG,
}
SAMPLE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
    "AAAABJRU5ErkJggg=="
)
"""A one-pixel PNG: the file of a customer's MMS when the request gives none."""


@dataclass
class PhoneNumber:
    """An `IncomingPhoneNumber` of an account, with its messaging webhook."""

    sid: str
    account_sid: str
    phone_number: str
    sms_url: str = ""
    sms_method: str = "POST"

    def resource(self) -> dict[str, Any]:
        """The REST representation (docs/platforms/sms.md, "Setup" shapes)."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers"
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "friendly_name": self.phone_number,
            "phone_number": self.phone_number,
            "sms_url": self.sms_url,
            "sms_method": self.sms_method,
            "sms_fallback_url": "",
            "sms_fallback_method": "POST",
            "capabilities": {"sms": True, "mms": True, "voice": True, "fax": False},
            "status": "in-use",
            "api_version": API_VERSION,
            "date_created": rfc2822(),
            "date_updated": rfc2822(),
            "uri": f"{uri}/{self.sid}.json",
        }


class SmsStandIn(StandIn):
    """Twilio accounts, their numbers, what PingBack sent and what customers
    texted. Public for tests to read (under `lock` while a delivery runs):

    - `sends`: `{"sid", "account_sid", "from", "to", "body", "media_urls",
      "media": [{"url", "status_code", "content_type", "size"}],
      "status_callback", "status", "error_code", "callbacks": [{"status",
      "status_code"}], "created_at"}` (epoch seconds);
    - `inbound`: `{"message_sid", "from", "to", "body", "media",
      "deliveries", "sent_at"}`.
    """

    name = "sms"

    def __init__(self) -> None:
        super().__init__(Modes(DEFAULT_MODES, MODE_CHECKS))
        self.accounts: dict[str, TwilioAccount] = {}
        self.numbers: dict[str, PhoneNumber] = {}
        self.sends: list[dict[str, Any]] = []
        self.inbound: list[dict[str, Any]] = []
        self.media: dict[str, tuple[str, bytes]] = {}
        self.opted_out: set[tuple[str, str]] = set()
        self.register_account(DEMO_ACCOUNT)

    # -------------------------------------------------------------- accounts

    def register_account(self, account: TwilioAccount) -> None:
        """Add an account and its numbers (no messaging URL set yet)."""
        with self.lock:
            self.accounts[account.sid] = account
            for phone_number in account.numbers:
                number = PhoneNumber(new_sid("PN"), account.sid, phone_number)
                self.numbers[number.sid] = number

    def account_numbers(self, account_sid: str) -> list[PhoneNumber]:
        """The account's numbers."""
        with self.lock:
            return [n for n in self.numbers.values() if n.account_sid == account_sid]

    def number(self, phone_number: str) -> PhoneNumber:
        """The number with this E.164 value; `KeyError` when nobody owns it."""
        with self.lock:
            for number in self.numbers.values():
                if number.phone_number == phone_number:
                    return number
        raise KeyError(phone_number)

    # ----------------------------------------------------------------- modes

    def take_send_failure(self, to: str, from_: str) -> str | None:
        """The refusal a send meets under the current modes and opt-outs:
        `rate_limited`, `server_error`, `invalid_number`, `unsubscribed` or
        None. One-shot modes are used up."""
        failure = self.modes.take_failure()
        if failure is not None:
            return failure
        with self.lock:
            if self.modes["invalid_number"]:
                return "invalid_number"
            if self.modes["unsubscribed"] or (from_, to) in self.opted_out:
                return "unsubscribed"
        return None

    # ----------------------------------------------------------------- sends

    def record_send(self, send: dict[str, Any]) -> dict[str, Any]:
        """Store an accepted send (status `queued`) and start its delivery:
        media fetched, status callbacks posted (see
        `sandbox.platforms.sms.delivery`)."""
        with self.lock:
            self.sends.append(send)
            account = self.accounts[send["account_sid"]]
            callbacks = self.modes["status_callbacks"]
            undelivered = self.modes["undelivered"]
        start_send_delivery(SendPlay(self, send, account, callbacks, undelivered))
        return send

    # ------------------------------------------------------------- customers

    def customer_message(self, data: dict[str, Any]) -> dict[str, Any]:
        """A customer texts a number: build Twilio's form, sign it with the
        owning account's token and POST it to the number's `sms_url`.

        Raises `ControlError` (400 bad input, 404 unknown number, 409 no
        messaging URL set)."""
        body = data.get("body") or ""
        if not isinstance(body, str):
            raise ControlError(400, "body must be a string")
        media = _media_items(data.get("media") or [])
        if not body and not media:
            raise ControlError(400, "a message needs a body or media")
        to = str(data.get("to") or DEMO_NUMBER)
        from_ = str(data.get("from") or DEMO_CUSTOMER_NUMBER)
        try:
            number = self.number(to)
        except KeyError:
            raise ControlError(404, f"no account owns {to}") from None
        if not number.sms_url:
            raise ControlError(
                409,
                f"{to} has no incoming message URL: set it through the API "
                "(IncomingPhoneNumbers update, SmsUrl) first",
            )
        message_sid = str(data.get("message_sid") or new_sid("MM" if media else "SM"))
        media_urls = []
        with self.lock:
            for content_type, content in media:
                media_sid = new_sid("ME")
                self.media[media_sid] = (content_type, content)
                url = (
                    f"{self.base_url}/{API_VERSION}/Accounts/{number.account_sid}"
                    f"/Messages/{message_sid}/Media/{media_sid}"
                )
                media_urls.append((url, content_type))
            self._note_keyword(number.phone_number, from_, body)
            account = self.accounts[number.account_sid]
        route = {"account_sid": account.sid, "to": to, "from_": from_}
        form = inbound_message_form(
            **route, body=body, message_sid=message_sid, media=media_urls
        )
        delivery = deliver_form(number.sms_url, form, account.auth_token)
        with self.lock:
            self.inbound.append(
                {
                    "message_sid": message_sid,
                    "from": from_,
                    "to": to,
                    "body": body,
                    "media": [url for url, _ in media_urls],
                    "deliveries": [delivery],
                    "sent_at": time.time(),
                }
            )
        return {"deliveries": [delivery], "message_sid": message_sid, "form": form}

    def _note_keyword(self, business: str, customer: str, body: str) -> None:
        """Twilio's default opt-out handling: STOP and friends block further
        sends from the number to the customer (21610); START lifts it."""
        keyword = body.strip().upper()
        if keyword in OPT_OUT_KEYWORDS:
            self.opted_out.add((business, customer))
        elif keyword in OPT_IN_KEYWORDS:
            self.opted_out.discard((business, customer))

    # ---------------------------------------------------------- StandIn API

    def handles(self, req: Request) -> bool:
        return is_api_path(req.path)

    def handle(self, req: Request) -> Response:
        return handle_api_request(self, req)

    def _customer_message(self, req: Request) -> Response:
        return json_response(200, self.customer_message(req.json_object()))

    def _media(self, req: Request) -> Response:
        with self.lock:
            found = self.media.get(req.params["sid"])
        if found is None:
            raise ControlError(404, "no such media")
        return Response(200, found[1], found[0])

    def _ui_message(self, req: Request) -> str:
        form = req.form()
        data: dict[str, Any] = {
            "body": form.get("body", ""),
            "from": form.get("from", ""),
            "to": form.get("to", ""),
        }
        if form.get("image"):
            data["media"] = [{"content_type": "image/png"}]
        result = self.customer_message(data)
        outcomes = describe_deliveries(result["deliveries"])
        return f"SMS {result['message_sid']} delivered: {outcomes}"

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                {
                    "accounts": [
                        {
                            "sid": account.sid,
                            "friendly_name": account.friendly_name,
                            "numbers": [
                                n.resource() for n in self.account_numbers(account.sid)
                            ],
                        }
                        for account in self.accounts.values()
                    ],
                    "sends": self.sends,
                    "inbound": self.inbound,
                    "opted_out": sorted(list(pair) for pair in self.opted_out),
                    "modes": self.modes.get(),
                }
            )

    def reset(self) -> None:
        """Forget sends, inbound messages, media, opt-outs and modes, and clear
        the numbers' messaging URLs; keep the accounts and numbers."""
        with self.lock:
            self.sends = []
            self.inbound = []
            self.media = {}
            self.opted_out = set()
            self.modes.reset()
            for number in self.numbers.values():
                number.sms_url = ""
                number.sms_method = "POST"

    def ui_section(self) -> str:
        return render_section(self.snapshot())

    control_routes = (
        route("POST", "customer/message", _customer_message),
        route("GET", "media/(?P<sid>.+)", _media),
        route("POST", "ui/message", form_endpoint(_ui_message)),
    )


def _media_items(items: Any) -> list[tuple[str, bytes]]:
    """`[{content_type, content_base64?}]` → (content type, bytes) pairs."""
    if not isinstance(items, list):
        raise ControlError(400, "media must be a list")
    media = []
    for item in items:
        if not isinstance(item, dict) or not item.get("content_type"):
            raise ControlError(400, "each media item needs a content_type")
        content_type = str(item["content_type"])
        encoded = item.get("content_base64")
        if encoded:
            try:
                content = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as error:
                raise ControlError(400, f"content_base64: {error}") from error
        elif content_type.startswith("image/"):
            content = SAMPLE_PNG
        else:
            content = b"sample file from the SMS sandbox\n"
        media.append((content_type, content))
    return media


def demo_channel_config(sandbox_url: str) -> dict[str, str]:
    """The demo SMS channel's config: the sandbox's demo account and number."""
    return DEMO_ACCOUNT.as_config()

"""The WhatsApp stand-in: the Cloud API's Graph endpoints (:mod:`sandbox.
whatsapp_api`), Meta's "app dashboard" webhook subscription, and customers
writing to a business number, with deliveries signed as Meta signs them.

Control endpoints (`/_sandbox/whatsapp/<subpath>`):

- `GET state`: numbers, subscriptions, media, sends, inbound, windows,
  deliveries and modes (no secrets).
- `GET/POST mode`: a subset of the modes (`sandbox.platforms.whatsapp.state.
  DEFAULT_MODES`) → all modes.
- `POST numbers`: a business number (`BusinessNumber.from_dict`) → 201
  `{number}`.
- `POST subscribe` `{callback_url, verify_token, app_secret?,
  phone_number_id?, test?}`: Meta's `hub.challenge` check, then the
  subscription is kept; with `test: true`, the dashboard's "Test" button
  too (Meta's sample event, signed: `dashboard_test_event`) →
  `{verified, phone_number_id, callback_url, test_delivery?}`.
- `POST customer/message` `{type?, text?, from?, name?, phone_number_id?,
  mime_type?, filename?, content_base64?, voice?, location?: {latitude,
  longitude, name?, address?}, context_id?, message_id?, timestamp?}` →
  `{message_id, media_id, payload, deliveries}`.
- `POST customer/window` `{hours_ago, wa_id?, phone_number_id?}`: the
  customer last wrote that long ago → `{wa_id, last_message_at}`.
- `POST statuses` `{wamid, status | statuses: [...], error_code?}` →
  `{deliveries}`.
- `POST ui/message`, `ui/status`, `ui/window`: the demo page's forms → 303.

`phone_number_id` defaults to the demo number's, `from` and `name` to the
demo customer's. Deliveries answer `{url, status_code, body}`. Errors are
`{"error": "<message>"}` with 400, 404 or 409.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any

import requests

from sandbox.core.http import (
    BadRequestBody,
    Request,
    Response,
    json_response,
    route,
)
from sandbox.core.standin import ControlError, StandIn, form_endpoint
from sandbox.platforms.meta import Subscription, deliver, verify_callback
from sandbox.platforms.whatsapp.api import claims, handle_graph_request
from sandbox.platforms.whatsapp.payloads import (
    CUSTOMER_MESSAGE_TYPES,
    DEMO_CUSTOMER,
    DEMO_NUMBER,
    STATUSES,
    BusinessNumber,
    Customer,
    CustomerMessage,
    customer_message_payload,
    dashboard_test_event,
    new_media_id,
    status_payload,
)
from sandbox.platforms.whatsapp.state import StoredMedia, WhatsAppState
from sandbox.platforms.whatsapp.ui import render_section

if TYPE_CHECKING:
    from channels_app.models import Channel

DEMO_VERIFY_TOKEN = "pingback-demo-verify-token"
"""The verify token the demo channel is created with."""

# What a customer's file holds when the test or demo page gives no bytes.
DEFAULT_MEDIA = {
    "image": ("image/jpeg", "photo.jpg", b"\xff\xd8\xff\xe0sandbox-jpeg\xff\xd9"),
    "video": ("video/mp4", "clip.mp4", b"\x00\x00\x00\x18ftypmp42sandbox-video"),
    "audio": ("audio/ogg", "voice.ogg", b"OggS\x00sandbox-voice-note"),
    "document": ("application/pdf", "invoice.pdf", b"%PDF-1.4\nsandbox invoice\n%%EOF"),
}


class WhatsAppStandIn(StandIn):
    """The WhatsApp Cloud API stand-in (docs/platforms/whatsapp.md). State lives in
    :class:`~sandbox.platforms.whatsapp.state.WhatsAppState` (`state`)."""

    name = "whatsapp"

    def __init__(self) -> None:
        self.state = WhatsAppState()
        super().__init__(self.state.modes)
        self._timers: list[threading.Timer] = []

    # ------------------------------------------------------------ interface

    def handles(self, req: Request) -> bool:
        """Graph paths of a registered number or of media issued here, and
        downloads under `/_media/whatsapp/`."""
        return claims(self, req)

    def handle(self, req: Request) -> Response:
        return handle_graph_request(self, req)

    def snapshot(self) -> dict[str, Any]:
        return self.state.snapshot()

    def reset(self) -> None:
        """Cancel pending statuses and forget everything but the numbers."""
        with self.lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        self.state.reset()

    def ui_section(self) -> str:
        return render_section(self.state.snapshot())

    # ---------------------------------------------------------- acting as Meta

    def number_or_error(self, phone_number_id: str | None) -> BusinessNumber:
        number = self.state.number(phone_number_id or DEMO_NUMBER.phone_number_id)
        if number is None:
            raise ControlError(404, f"no registered phone number {phone_number_id}")
        return number

    def deliver(
        self, kind: str, number: BusinessNumber, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """POST `payload` to the number's subscribed callback, signed with the
        subscription's app secret. Raises `ControlError` (409) when no
        callback is subscribed."""
        subscription = self.state.subscription(number.phone_number_id)
        if subscription is None:
            raise ControlError(
                409,
                f"phone number {number.phone_number_id} has no webhook "
                "subscription: POST /_sandbox/whatsapp/subscribe first",
            )
        result = deliver(subscription, payload)
        self.state.record_delivery(kind, result)
        return result

    def emit_statuses(
        self, wamid: str, statuses: list[str], error_code: int | None = None
    ) -> list[dict[str, Any]]:
        """Deliver one webhook per status of the message sent as `wamid`; a
        `failed` status carries `error_code`, or the send's window error."""
        send = self.state.find_send(wamid)
        if send is None:
            raise ControlError(404, f"no message sent as {wamid}")
        number = self.number_or_error(send["phone_number_id"])
        return [
            self.deliver(
                f"status:{status}",
                number,
                status_payload(
                    number, send, status, error_code or send["window_error"] or 0
                ),
            )
            for status in statuses
        ]

    def schedule_statuses(self, wamid: str, statuses: list[str]) -> None:
        """Emit `statuses` for `wamid` after the `status_delay` mode, from a
        timer thread, as Meta reports them after the send call returned."""
        if not statuses:
            return
        delay = self.state.modes["status_delay"]
        timer = threading.Timer(delay, self._emit_quietly, args=(wamid, statuses))
        timer.daemon = True
        with self.lock:
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _emit_quietly(self, wamid: str, statuses: list[str]) -> None:
        try:
            self.emit_statuses(wamid, statuses)
        except ControlError as error:
            self.state.record_delivery(
                "status", {"url": None, "status_code": None, "body": error.message}
            )


# ---------------------------------------------------------------- control API


def _body(req: Request) -> dict[str, Any]:
    """The JSON object of a control call, or the fields of a demo-page form."""
    if req.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        return {key: value for key, value in req.form().items() if value != ""}
    return req.json_object()


def register_number(standin: WhatsAppStandIn, req: Request) -> Response:
    """Register another business number (e.g. a second app's)."""
    number = req.parsed(BusinessNumber.from_dict, "number")
    standin.state.register_number(number)
    return json_response(201, {"number": number.as_public()})


def subscribe(standin: WhatsAppStandIn, req: Request) -> Response:
    """What the admin does in the Meta app dashboard (WhatsApp →
    Configuration): save a callback URL and verify token, which Meta checks
    with `hub.challenge` before keeping them. Deliveries are then signed with
    `app_secret` (default: the number's app secret). With `test: true`, then
    click the dashboard's "Test" button for the `messages` field: Meta's
    sample event is delivered, signed (`test_delivery` in the answer)."""
    body = req.json_object()
    number = standin.number_or_error(body.get("phone_number_id"))
    callback_url, verify_token = body.get("callback_url"), body.get("verify_token")
    if not isinstance(callback_url, str) or not isinstance(verify_token, str):
        raise BadRequestBody("callback_url and verify_token are required strings")
    verified, outcome = verify_callback(callback_url, verify_token)
    if not verified:
        raise ControlError(
            400, f"The callback URL or verify token couldn't be validated: {outcome}"
        )
    app_secret = body.get("app_secret") or number.app_secret
    standin.state.subscribe(
        number.phone_number_id,
        Subscription(
            callback_url=callback_url,
            verify_token=verify_token,
            app_secret=app_secret,
        ),
    )
    answer: dict[str, Any] = {
        "verified": True,
        "phone_number_id": number.phone_number_id,
        "callback_url": callback_url,
    }
    if body.get("test") is True:
        answer["test_delivery"] = standin.deliver(
            "test", number, dashboard_test_event()
        )
    return json_response(200, answer)


def _float(data: dict[str, Any], key: str) -> float:
    try:
        return float(data[key])
    except (KeyError, TypeError, ValueError) as error:
        raise BadRequestBody(f"{key} must be a number") from error


def _customer_media(
    standin: WhatsAppStandIn, number: BusinessNumber, kind: str, data: dict[str, Any]
) -> StoredMedia:
    """Store the file of a customer's media message so the Graph endpoints
    serve it: `content_base64`, or a small placeholder for the type."""
    mime_type, filename, content = DEFAULT_MEDIA[kind]
    if data.get("content_base64"):
        try:
            content = base64.b64decode(data["content_base64"], validate=True)
        except (binascii.Error, TypeError) as error:
            raise BadRequestBody("content_base64 is not base64") from error
    media = StoredMedia(
        media_id=new_media_id(),
        phone_number_id=number.phone_number_id,
        content=content,
        mime_type=str(data.get("mime_type") or mime_type),
        filename=str(data.get("filename") or filename),
        origin="customer",
    )
    standin.state.add_media(media)
    return media


def _customer_message(
    standin: WhatsAppStandIn, number: BusinessNumber, data: dict[str, Any]
) -> CustomerMessage:
    """A `CustomerMessage` from a control body (media stored on the way)."""
    kind = data.get("type") or "text"
    if kind not in CUSTOMER_MESSAGE_TYPES:
        raise BadRequestBody(f"type must be one of {', '.join(CUSTOMER_MESSAGE_TYPES)}")
    wa_id = str(data.get("from") or DEMO_CUSTOMER.wa_id)
    if not wa_id.isdigit():
        raise BadRequestBody("from must be the customer's phone number digits")
    default_name = DEMO_CUSTOMER.name if wa_id == DEMO_CUSTOMER.wa_id else ""
    text = str(data.get("text") or "")
    if kind == "text" and not text.strip():
        raise BadRequestBody("text must be a non-empty string")
    fields: dict[str, Any] = {
        "type": kind,
        "customer": Customer(wa_id=wa_id, name=str(data.get("name") or default_name)),
        "text": text,
        "context_id": str(data.get("context_id") or ""),
    }
    if data.get("message_id"):
        fields["message_id"] = str(data["message_id"])
    if data.get("timestamp"):
        fields["timestamp"] = int(_float(data, "timestamp"))
    if kind == "location":
        location = data.get("location")
        if not isinstance(location, dict):
            raise BadRequestBody(
                "location must be {latitude, longitude, name?, address?}"
            )
        fields.update(
            latitude=_float(location, "latitude"),
            longitude=_float(location, "longitude"),
            location_name=str(location.get("name") or ""),
            address=str(location.get("address") or ""),
        )
    elif kind != "text":
        media = _customer_media(standin, number, kind, data)
        fields.update(
            media_id=media.media_id,
            mime_type=media.mime_type,
            sha256=hashlib.sha256(media.content).hexdigest(),
            filename=media.filename,
            voice=kind == "audio" and data.get("voice", True) not in (False, "false"),
        )
    return CustomerMessage(**fields)


def send_customer_message(
    standin: WhatsAppStandIn, data: dict[str, Any]
) -> dict[str, Any]:
    """Build the customer's message as Meta's webhook, record it (it opens
    the 24-hour window) and deliver it to the number's callback."""
    number = standin.number_or_error(data.get("phone_number_id"))
    if standin.state.subscription(number.phone_number_id) is None:
        raise ControlError(
            409,
            f"phone number {number.phone_number_id} has no webhook subscription: "
            "POST /_sandbox/whatsapp/subscribe first",
        )
    message = _customer_message(standin, number, data)
    payload = customer_message_payload(number, message)
    standin.state.record_inbound(
        {
            "message_id": message.message_id,
            "phone_number_id": number.phone_number_id,
            "wa_id": message.customer.wa_id,
            "name": message.customer.name,
            "type": message.type,
            "text": message.text,
            "media_id": message.media_id or None,
            "sent_at": float(message.timestamp),
        }
    )
    delivery = standin.deliver("message", number, payload)
    return {
        "message_id": message.message_id,
        "media_id": message.media_id or None,
        "payload": payload,
        "deliveries": [delivery],
    }


def customer_message(standin: WhatsAppStandIn, req: Request) -> Response:
    return json_response(200, send_customer_message(standin, req.json_object()))


def set_window(standin: WhatsAppStandIn, data: dict[str, Any]) -> dict[str, Any]:
    """Age (or open) a customer's window: they last wrote `hours_ago` hours
    ago."""
    number = standin.number_or_error(data.get("phone_number_id"))
    wa_id = str(data.get("wa_id") or DEMO_CUSTOMER.wa_id)
    at = time.time() - _float(data, "hours_ago") * 3600
    standin.state.set_last_customer_message(number.phone_number_id, wa_id, at)
    return {"wa_id": wa_id, "last_message_at": at}


def customer_window(standin: WhatsAppStandIn, req: Request) -> Response:
    return json_response(200, set_window(standin, req.json_object()))


def _status_request(data: dict[str, Any]) -> tuple[str, list[str], int | None]:
    wamid = data.get("wamid")
    statuses = data.get("statuses") or [data.get("status")]
    if not isinstance(wamid, str) or not isinstance(statuses, list):
        raise BadRequestBody("wamid and status (or statuses) are required")
    unknown = [status for status in statuses if status not in STATUSES]
    if unknown:
        raise BadRequestBody(f"status must be one of {', '.join(STATUSES)}")
    error_code = data.get("error_code")
    return wamid, statuses, int(error_code) if error_code else None


def emit_statuses(standin: WhatsAppStandIn, req: Request) -> Response:
    """Deliver statuses of a message PingBack sent, as Meta reports them."""
    wamid, statuses, error_code = _status_request(req.json_object())
    return json_response(
        200, {"deliveries": standin.emit_statuses(wamid, statuses, error_code)}
    )


def _ui_message(standin: WhatsAppStandIn, req: Request) -> str:
    data = _body(req)
    if data.get("type") == "location":
        data["location"] = {"latitude": 51.5072, "longitude": -0.1276, "name": "London"}
    result = send_customer_message(standin, data)
    answer = result["deliveries"][0]
    return f"WhatsApp message delivered to {answer['url']} → {answer['status_code']}"


def _ui_status(standin: WhatsAppStandIn, req: Request) -> str:
    data = _body(req)
    wamid, statuses, error_code = _status_request(data)
    answers = standin.emit_statuses(wamid, statuses, error_code)
    return f"WhatsApp status {statuses[0]} → {answers[0]['status_code']}"


def _ui_window(standin: WhatsAppStandIn, req: Request) -> str:
    data = _body(req)
    window = set_window(standin, data)
    return f"WhatsApp: {window['wa_id']} last wrote {data['hours_ago']} hours ago"


WhatsAppStandIn.control_routes = (
    route("POST", r"numbers", register_number),
    route("POST", r"subscribe", subscribe),
    route("POST", r"customer/message", customer_message),
    route("POST", r"customer/window", customer_window),
    route("POST", r"statuses", emit_statuses),
    route("POST", r"ui/message", form_endpoint(_ui_message, "WhatsApp")),
    route("POST", r"ui/status", form_endpoint(_ui_status, "WhatsApp")),
    route("POST", r"ui/window", form_endpoint(_ui_window, "WhatsApp")),
)
"""The control endpoints, relative to `/_sandbox/whatsapp/`."""


# ----------------------------------------------------------------------- demo


def demo_channel_config(sandbox_url: str) -> dict[str, str]:
    """The demo WhatsApp channel's config: the demo number's credentials."""
    return DEMO_NUMBER.as_config(verify_token=DEMO_VERIFY_TOKEN)


def demo_after_setup(sandbox_url: str, channel: Channel, config: dict[str, Any]) -> str:
    """Paste the callback URL and verify token from `_meta_setup_instructions`
    into the sandbox's "Meta dashboard", which verifies them against PingBack
    with `hub.challenge`, then click its "Test" button: Meta's sample event,
    signed with the demo app's secret, is PingBack's proof that the step was
    done (the channel turns ready)."""
    instructions = config["_meta_setup_instructions"]
    response = requests.post(
        f"{sandbox_url}/_sandbox/whatsapp/subscribe",
        json={
            "phone_number_id": channel.config["phone_number_id"],
            "callback_url": instructions["callback_url"],
            "verify_token": instructions["verify_token"],
            "app_secret": DEMO_NUMBER.app_secret,
            "test": True,
        },
        timeout=30,
    )
    if response.status_code != 200:
        return f"the sandbox could not subscribe the callback: {response.text[:300]}"
    tested = response.json().get("test_delivery") or {}
    return (
        f"callback {instructions['callback_url']} verified and subscribed in the "
        "sandbox's Meta dashboard; its Test event was answered "
        f"{tested.get('status_code')}."
    )

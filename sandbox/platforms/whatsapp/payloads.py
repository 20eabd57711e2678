"""Pure helpers that build WhatsApp Cloud API webhook bodies as Meta does, and
the business numbers and templates the WhatsApp stand-in knows.

Standard library only: tests import these to build the bodies Meta would POST,
and the stand-in (:mod:`sandbox.platforms.whatsapp.standin`) uses them when it
acts as Meta.

Shapes follow docs/platforms/whatsapp.md, "Payloads PingBack reads" (envelope,
message types, statuses) and Meta's webhook reference:
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.core.records import pick

WEBHOOK_OBJECT = "whatsapp_business_account"
MESSAGING_PRODUCT = "whatsapp"
CUSTOMER_MESSAGE_TYPES = ("text", "image", "document", "audio", "video", "location")
STATUSES = ("sent", "delivered", "read", "failed")

# Graph error codes the stand-in answers (docs/platforms/whatsapp.md, "Errors
# PingBack maps").
WINDOW_CLOSED = {
    "code": 131047,
    "title": "Re-engagement message",
    "details": "Message failed to send because more than 24 hours have passed "
    "since the customer last replied to this number.",
}
UNDELIVERABLE = {
    "code": 131026,
    "title": "Message undeliverable",
    "details": "Unable to deliver message. Reasons can include: the recipient "
    "phone number is not a WhatsApp phone number.",
}
STATUS_ERRORS = {error["code"]: error for error in (WINDOW_CLOSED, UNDELIVERABLE)}


@dataclass(frozen=True)
class Template:
    """An approved message template: its `name`, `language` code and how many
    body parameters (`{{1}}`, `{{2}}`, ...) it takes; `body` is its text."""

    name: str
    language: str
    parameter_count: int
    body: str

    def render(self, parameters: list[str]) -> str:
        """The body with `{{n}}` replaced by the n-th parameter."""
        text = self.body
        for number, value in enumerate(parameters, start=1):
            text = text.replace(f"{{{{{number}}}}}", value)
        return text


@dataclass(frozen=True)
class BusinessNumber:
    """A WhatsApp business phone number of a Meta app: the ids and secrets a
    PingBack WhatsApp channel is configured with, and its approved templates.

    `display_phone_number` is how Graph shows it (`+1 555-010-4477`); webhooks
    carry its digits in `metadata.display_phone_number`.
    """

    phone_number_id: str
    display_phone_number: str
    verified_name: str
    access_token: str
    app_secret: str
    waba_id: str
    templates: tuple[Template, ...] = ()

    @property
    def display_digits(self) -> str:
        return "".join(ch for ch in self.display_phone_number if ch.isdigit())

    def template(self, name: str, language: str) -> Template | None:
        for template in self.templates:
            if template.name == name and template.language == language:
                return template
        return None

    def as_config(self, verify_token: str) -> dict[str, str]:
        """The PingBack WhatsApp channel config for this number."""
        shown = pick(self, "phone_number_id", "access_token", "app_secret")
        return {**shown, "verify_token": verify_token}

    def as_public(self) -> dict[str, Any]:
        """Without secrets, for the stand-in's state."""
        names = ("phone_number_id", "display_phone_number", "verified_name")
        return {
            **pick(self, *names, "waba_id"),
            "templates": [
                pick(t, "name", "language", "parameter_count") for t in self.templates
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BusinessNumber:
        """Build from `POST /_sandbox/whatsapp/numbers`: `{phone_number_id,
        access_token, app_secret, display_phone_number?, verified_name?,
        waba_id?, templates?: [{name, language, parameter_count, body?}]}`.
        Raises `ValueError`, `KeyError` or `TypeError` when malformed."""
        phone_number_id = str(data["phone_number_id"])
        if not phone_number_id.isdigit():
            raise ValueError("phone_number_id must be digits")
        for key in ("access_token", "app_secret"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"{key} must be a non-empty string")
        templates = tuple(
            Template(
                name=str(item["name"]),
                language=str(item["language"]),
                parameter_count=int(item.get("parameter_count", 0)),
                body=str(item.get("body") or item["name"]),
            )
            for item in data.get("templates") or ()
        )
        return cls(
            phone_number_id=phone_number_id,
            display_phone_number=str(
                data.get("display_phone_number") or "+1 555-010-0000"
            ),
            verified_name=str(data.get("verified_name") or "Sandbox Business"),
            access_token=data["access_token"],
            app_secret=data["app_secret"],
            waba_id=str(data.get("waba_id") or "102290129340000"),
            templates=templates,
        )


@dataclass(frozen=True)
class Customer:
    """A WhatsApp user: `wa_id` (their phone number's digits) and profile name."""

    wa_id: str
    name: str


ORDER_UPDATE = Template(
    name="order_update",
    language="en_US",
    parameter_count=1,
    body="Your order {{1}} has an update. Reply to this message to talk to us.",
)

DEMO_NUMBER = BusinessNumber(
    phone_number_id="104412345678901",
    display_phone_number="+1 555-010-4477",
    verified_name="PingBack Demo",
    access_token="EAAPingBackDemoWhatsAppSystemUserToken0001",
    app_secret="demo-whatsapp-app-secret-0001",
    waba_id="102290129340398",
    templates=(ORDER_UPDATE,),
)
"""The business number the stand-in knows from the start."""

DEMO_CUSTOMER = Customer(wa_id="16505551234", name="Sheena Nelson")
"""The customer who writes to :data:`DEMO_NUMBER` in the demo."""


@dataclass(frozen=True)
class CustomerMessage:
    """What the stand-in's customer sends (`POST /_sandbox/whatsapp/customer/
    message`). `type` is one of :data:`CUSTOMER_MESSAGE_TYPES`; `media_id` is
    set for media (the stand-in stores the bytes under it); `context_id`
    quotes an earlier message."""

    type: str
    customer: Customer
    text: str = ""
    media_id: str = ""
    mime_type: str = ""
    sha256: str = ""
    filename: str = ""
    voice: bool = False
    latitude: float = 0.0
    longitude: float = 0.0
    location_name: str = ""
    address: str = ""
    context_id: str = ""
    message_id: str = field(default_factory=lambda: new_wamid())
    timestamp: int = field(default_factory=lambda: int(time.time()))


def new_wamid() -> str:
    """A fresh WhatsApp message id: `wamid.` and base64 (`wamid.HBgL…=`)."""
    return (
        "wamid." + base64.b64encode(b"\x15\x02\x00" + secrets.token_bytes(26)).decode()
    )


def new_media_id() -> str:
    """A fresh 16-digit media id, random so it never meets another stand-in's
    ids in the shared Graph path space."""
    return str(10**15 + secrets.randbelow(9 * 10**15))


def envelope(number: BusinessNumber, value: dict[str, Any]) -> dict[str, Any]:
    """`{object, entry: [{id: WABA id, changes: [{value, field: messages}]}]}`
    with `value` completed by `messaging_product` and `metadata`."""
    return {
        "object": WEBHOOK_OBJECT,
        "entry": [
            {
                "id": number.waba_id,
                "changes": [
                    {
                        "value": {
                            "messaging_product": MESSAGING_PRODUCT,
                            "metadata": {
                                "display_phone_number": number.display_digits,
                                "phone_number_id": number.phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def _message_content(message: CustomerMessage) -> dict[str, Any]:
    """The `<type>` object of a `messages[]` item."""
    if message.type == "text":
        return {"body": message.text}
    if message.type == "location":
        location: dict[str, Any] = {
            "latitude": message.latitude,
            "longitude": message.longitude,
        }
        if message.location_name:
            location["name"] = message.location_name
        if message.address:
            location["address"] = message.address
        return location
    media: dict[str, Any] = {
        "mime_type": message.mime_type,
        "sha256": message.sha256,
        "id": message.media_id,
    }
    if message.text and message.type in ("image", "video", "document"):
        media["caption"] = message.text
    if message.type == "document" and message.filename:
        media["filename"] = message.filename
    if message.type == "audio":
        media["voice"] = message.voice
    return media


def customer_message_payload(
    number: BusinessNumber, message: CustomerMessage
) -> dict[str, Any]:
    """The webhook body of a customer's message to `number`: `contacts[]`
    (profile name, wa_id) and one `messages[]` item."""
    item: dict[str, Any] = {
        "from": message.customer.wa_id,
        "id": message.message_id,
        "timestamp": str(message.timestamp),
        "type": message.type,
        message.type: _message_content(message),
    }
    if message.context_id:
        item["context"] = {"from": number.display_digits, "id": message.context_id}
    return envelope(
        number,
        {
            "contacts": [
                {
                    "profile": {"name": message.customer.name},
                    "wa_id": message.customer.wa_id,
                }
            ],
            "messages": [item],
        },
    )


def status_payload(
    number: BusinessNumber, send: dict[str, Any], status: str, error_code: int = 0
) -> dict[str, Any]:
    """The webhook body of one status of `send` (a message `number` sent, as
    the stand-in recorded it: its `wamid` and `to`), now: `sent`,
    `delivered`, `read`, or `failed` with `errors[]` (`error_code`, default
    131026)."""
    item: dict[str, Any] = {
        "id": send["wamid"],
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": send["to"],
    }
    if status == "failed":
        error = STATUS_ERRORS.get(error_code or UNDELIVERABLE["code"]) or {
            "code": error_code,
            "title": "Message failed",
            "details": "Message failed to send.",
        }
        item["errors"] = [
            {
                "code": error["code"],
                "title": error["title"],
                "message": error["title"],
                "error_data": {"details": error["details"]},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/"
                "support/error-codes/",
            }
        ]
    else:
        item["conversation"] = {
            "id": secrets.token_hex(16),
            "origin": {"type": "service"},
        }
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "service",
        }
    return envelope(number, {"statuses": [item]})


def dashboard_test_event() -> dict[str, Any]:
    """The sample Meta's app dashboard POSTs when an admin clicks "Test" next
    to the `messages` webhook field (WhatsApp → Configuration): a text from
    "test user name" to Meta's sample number (`phone_number_id` 123456123,
    entry id "0"), signed like any delivery. PingBack stores it and ignores
    it (another phone number), and the signature proves the dashboard step.

    Source: the sample Meta's "Test" button sends for the `messages` field
    (WhatsApp Cloud API, webhooks > messages; the same body is quoted across
    public WhatsApp integrations' tests)."""
    return {
        "object": WEBHOOK_OBJECT,
        "entry": [
            {
                "id": "0",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": MESSAGING_PRODUCT,
                            "metadata": {
                                "display_phone_number": "16505551111",
                                "phone_number_id": "123456123",
                            },
                            "contacts": [
                                {
                                    "profile": {"name": "test user name"},
                                    "wa_id": "16315551181",
                                }
                            ],
                            "messages": [
                                {
                                    "from": "16315551181",
                                    "id": "ABGGFlA5Fpa",
                                    "timestamp": "1504902988",
                                    "type": "text",
                                    "text": {"body": "this is a text message"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }

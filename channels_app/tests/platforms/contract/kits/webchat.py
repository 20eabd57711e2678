"""The web widget: visitor messages as the widget's websocket consumer stores
them (`web_widget.visitor_message_body`), parsed by the platform. It receives
no webhooks and sends over the channel layer (see `channels_app/tests/widget`)."""

import json
from pathlib import Path

from channels_app.tests.platforms.contract.kits.base import Kit

FOLDER = Path(__file__).parents[3] / "widget" / "fixtures"
MESSAGE = json.loads((FOLDER / "message__text.json").read_text())


def changed(**changes) -> bytes:
    body = {**MESSAGE, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


KIT = Kit(
    platform="webchat",
    channel=lambda: {"type": "webchat", "config": {}, "secrets": {}},
    folder=FOLDER,
    malformed={
        "visitor missing": (changed(visitor_id=None), "visitor_id: missing"),
        "message id not a UUID": (
            changed(message_id="42"),
            "message_id: expected a UUID",
        ),
        "text not a string": (
            changed(text=7),
            "text: expected a string, got an integer",
        ),
        "time without zone": (
            changed(sent_at="2025-03-01T12:00:00"),
            "sent_at: expected a time zone",
        ),
        "time not a time": (
            changed(sent_at="yesterday"),
            "sent_at: expected an ISO 8601 time",
        ),
    },
)

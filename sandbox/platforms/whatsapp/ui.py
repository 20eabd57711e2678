"""The WhatsApp section of the sandbox demo page (`GET /`), rendered from a
:meth:`WhatsAppState.snapshot`. Forms post urlencoded to
`/_sandbox/whatsapp/ui/message`, `ui/status` and `ui/window`; every value is
escaped."""

from __future__ import annotations

from typing import Any

from sandbox.core.page import clock, esc
from sandbox.platforms.whatsapp.payloads import DEMO_CUSTOMER, DEMO_NUMBER


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    """A table of already escaped cells, or a muted paragraph."""
    if not rows:
        return f'<p class="muted">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _numbers(state: dict[str, Any]) -> str:
    callbacks = {
        s["phone_number_id"]: s["callback_url"] for s in state["subscriptions"]
    }
    rows = [
        [
            esc(f"{n['verified_name']} ({n['display_phone_number']})"),
            esc(n["phone_number_id"]),
            esc(", ".join(t["name"] for t in n["templates"]) or "none"),
            esc(callbacks.get(n["phone_number_id"], "not subscribed")),
        ]
        for n in state["numbers"]
    ]
    return _table(
        ["number", "phone number id", "templates", "callback URL"], rows, "No numbers."
    )


def _forms() -> str:
    kinds = "".join(
        f'<option value="{kind}">{kind}</option>'
        for kind in ("text", "image", "document", "audio", "location")
    )
    message = (
        '<form method="post" action="/_sandbox/whatsapp/ui/message">'
        f"<b>Write as {esc(DEMO_CUSTOMER.name)} (+{esc(DEMO_CUSTOMER.wa_id)})</b><br>"
        '<textarea name="text" placeholder="Does it come in another color?">'
        f'</textarea><br><select name="type">{kinds}</select> '
        "<button>Send on WhatsApp</button></form>"
    )
    window = (
        '<form method="post" action="/_sandbox/whatsapp/ui/window">'
        "<b>Customer service window</b><br>The customer last wrote "
        '<input name="hours_ago" value="25" size="3"> hours ago '
        "<button>Set</button></form>"
    )
    return message + window


def _status_buttons(wamid: str) -> str:
    return "".join(
        '<form method="post" action="/_sandbox/whatsapp/ui/status" '
        'style="margin-right:.3rem">'
        f'<input type="hidden" name="wamid" value="{esc(wamid)}">'
        f'<input type="hidden" name="status" value="{status}">'
        f"<button>{status}</button></form>"
        for status in ("delivered", "read", "failed")
    )


def _sends(state: dict[str, Any]) -> str:
    rows = [
        [
            esc(clock(send["received_at"])),
            esc(send["type"]),
            esc(f"+{send['to']}"),
            esc(send["text"])
            + (" <i>(window closed: will fail)</i>" if send["window_error"] else ""),
            _status_buttons(send["wamid"]),
        ]
        for send in reversed(state["sends"])
    ]
    return _table(
        ["time", "type", "to", "text", "report status"], rows, "Nothing sent yet."
    )


def _inbound(state: dict[str, Any]) -> str:
    rows = [
        [
            esc(clock(message["sent_at"])),
            esc(message["type"]),
            esc(f"{message['name']} (+{message['wa_id']})"),
            esc(message["text"]),
        ]
        for message in reversed(state["inbound"])
    ]
    return _table(["time", "type", "from", "text"], rows, "Nothing delivered yet.")


def render_section(state: dict[str, Any]) -> str:
    """The WhatsApp part of the demo page: numbers and their callbacks, the
    customer's forms, what PingBack sent (with status buttons) and what the
    customer sent."""
    return (
        f"<h1>WhatsApp sandbox</h1><p class=muted>Demo number "
        f"{esc(DEMO_NUMBER.display_phone_number)}. A number receives customers' "
        "messages once its callback URL is subscribed (setup_demo does it for "
        "the demo channel).</p>"
        f"<h2>Business numbers</h2>{_numbers(state)}"
        f"<h2>Customer</h2>{_forms()}"
        f"<h2>What PingBack sent on WhatsApp</h2>{_sends(state)}"
        f"<h2>What WhatsApp customers sent</h2>{_inbound(state)}"
    )

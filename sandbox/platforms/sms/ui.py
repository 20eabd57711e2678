"""The SMS section of the sandbox's demo page, rendered from a state snapshot.

The form posts urlencoded to `/_sandbox/sms/ui/message` (a customer texts a
number; 303 back to `/`). Every value is escaped with :func:`html.escape`.
"""

from __future__ import annotations

from typing import Any

from sandbox.core.page import clock, esc, html_table
from sandbox.platforms.sms.payloads import DEMO_CUSTOMER_NUMBER


def _numbers(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [number for account in state["accounts"] for number in account["numbers"]]


def _form(state: dict[str, Any]) -> str:
    options = "".join(
        f'<option value="{esc(n["phone_number"])}">{esc(n["phone_number"])}</option>'
        for n in _numbers(state)
    )
    return (
        '<form method="post" action="/_sandbox/sms/ui/message"><b>Text the business'
        '</b><br>From <input type="tel" name="from" '
        f'placeholder="{esc(DEMO_CUSTOMER_NUMBER)}"> to <select name="to">{options}'
        '</select><br><textarea name="body" placeholder="Is my order shipped?">'
        '</textarea><br><label><input type="checkbox" name="image" value="1"> '
        "attach a picture (MMS)</label> <button>Send SMS</button></form>"
    )


def render_section(state: dict[str, Any]) -> str:
    """The SMS (Twilio) part of the demo page for `SmsStandIn.snapshot()`."""
    numbers = html_table(
        ["number", "account", "a message comes in"],
        [
            [n["phone_number"], n["account_sid"], n["sms_url"] or "(not set)"]
            for n in _numbers(state)
        ],
        "No numbers.",
    )
    sent = html_table(
        ["time", "to", "text", "media", "status"],
        [
            [
                clock(s["created_at"]),
                s["to"],
                s["body"],
                len(s["media_urls"]),
                s["status"] + (f" ({s['error_code']})" if s["error_code"] else ""),
            ]
            for s in reversed(state["sends"])
        ],
        "Nothing sent yet.",
    )
    inbound = html_table(
        ["time", "from", "to", "text", "media"],
        [
            [clock(m["sent_at"]), m["from"], m["to"], m["body"], len(m["media"])]
            for m in reversed(state["inbound"])
        ],
        "No customer texts yet.",
    )
    return (
        f"<h1>SMS sandbox (Twilio)</h1><h2>Numbers</h2>{numbers}"
        f"<h2>Write as a customer</h2>{_form(state)}"
        f"<h2>What PingBack sent</h2>{sent}<h2>What customers texted</h2>{inbound}"
    )

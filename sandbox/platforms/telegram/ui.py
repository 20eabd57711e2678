"""The Telegram section of the sandbox demo page (``GET /``).

A form to write to the demo bot as the demo customer (text, photo, document,
voice note, location, or an edit of the last message), posted as multipart to
``/_sandbox/telegram/ui/message``; then the bots' webhooks, what the bots sent
and what customers sent. Every value is escaped.
"""

from __future__ import annotations

from typing import Any

from sandbox.core.page import clock, esc, html_table
from sandbox.platforms.telegram.state import TelegramBot, TelegramCustomer


def _webhooks(state: dict[str, Any]) -> str:
    rows = [
        [
            f"@{hook['bot']}",
            hook["url"],
            "yes" if hook["has_secret_token"] else "no",
            ", ".join(hook["allowed_updates"]) or "(all)",
            hook["last_error_message"],
        ]
        for hook in state["webhooks"]
    ]
    return html_table(
        ["bot", "webhook", "secret token", "updates", "last error"],
        rows,
        "No webhook registered: create the Telegram channel in PingBack.",
    )


def _form(bot: TelegramBot, customer: TelegramCustomer) -> str:
    kinds = "".join(
        f'<option value="{kind}">{label}</option>'
        for kind, label in (
            ("text", "text"),
            ("photo", "photo (caption = text)"),
            ("document", "document (caption = text)"),
            ("voice", "voice note"),
            ("location", "location"),
            ("edit", "edit my last message"),
        )
    )
    who = f"{customer.first_name} {customer.last_name} → @{bot.username}"
    return (
        '<form method="post" action="/_sandbox/telegram/ui/message" '
        f'enctype="multipart/form-data"><b>Write as {esc(who)}</b><br>'
        '<textarea name="text" placeholder="Hi, my order is late"></textarea><br>'
        f'<select name="kind">{kinds}</select> '
        '<input type="file" name="file"><br>'
        'latitude <input type="number" step="any" name="latitude" value="51.5074"> '
        'longitude <input type="number" step="any" name="longitude" '
        'value="-0.1278"><br><button>Send to the bot</button></form>'
    )


def _sent(state: dict[str, Any]) -> str:
    rows = [
        [
            clock(item["sent_at"]),
            item["method"],
            f"@{item['bot']} → chat {item['chat_id']}",
            item.get("text") or item.get("caption") or "",
            (
                f"{item['file_name']} ({item['file_size']} bytes)"
                if "file_name" in item
                else ""
            ),
        ]
        for item in reversed(state["sent"])
    ]
    return html_table(
        ["time", "method", "to", "text / caption", "file"], rows, "Nothing sent yet."
    )


def _inbound(state: dict[str, Any]) -> str:
    rows = [
        [
            clock(item["sent_at"]),
            item["kind"],
            f"{item['customer']['first_name']} → @{item['bot']}",
            item["text"],
            item["delivery"]["status_code"] or item["delivery"]["body"],
        ]
        for item in reversed(state["inbound"])
    ]
    return html_table(
        ["time", "kind", "from", "text", "webhook answer"],
        rows,
        "Nothing delivered yet.",
    )


def render_section(
    state: dict[str, Any], bot: TelegramBot, customer: TelegramCustomer
) -> str:
    """The section for a ``TelegramState.snapshot``, writing as ``customer``
    to ``bot``."""
    return (
        "<h1>Telegram sandbox</h1>"
        f"<h2>Webhooks</h2>{_webhooks(state)}"
        f"<h2>Write to the bot</h2>{_form(bot, customer)}"
        f"<h2>What the bots sent</h2>{_sent(state)}"
        f"<h2>What customers sent</h2>{_inbound(state)}"
    )

"""The demo page of the X sandbox (``GET /``), rendered from a state snapshot.

Plain HTML with inline CSS and a few lines of JavaScript, no assets. The
forms post urlencoded to ``/_sandbox/x/ui/dm`` and ``/_sandbox/x/ui/mention``.
The page reloads itself every 3 s unless a form field is focused or holds
text; without JavaScript it falls back to a 5 s meta refresh. Every value is
escaped with :func:`html.escape`.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from sandbox.x import DEMO_APP, DEMO_CUSTOMER

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#0f1419}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #e1e8ed;padding:.35rem .5rem;text-align:left;
vertical-align:top}
th{background:#f7f9f9}.muted{color:#536471}.flash{background:#e8f5fd;
padding:.5rem 1rem;border-left:4px solid #1d9bf0}
form{display:inline-block;vertical-align:top;margin-right:2rem}
textarea{width:24rem;height:4rem}button{margin-top:.4rem}
"""

_AUTO_REFRESH = """
setInterval(function () {
  var busy = document.activeElement && /^(INPUT|TEXTAREA|SELECT)$/.test(
    document.activeElement.tagName);
  var typed = Array.prototype.some.call(
    document.querySelectorAll("textarea, input[type=text]"),
    function (field) { return field.value !== ""; });
  if (!busy && !typed) { window.location.replace("/"); }
}, 3000);
"""


def esc(value: Any) -> str:
    """Escape any value for HTML text or attribute content."""
    return escape("" if value is None else str(value), quote=True)


def clock(epoch_s: float | None) -> str:
    """Local ``HH:MM:SS`` for an epoch-seconds timestamp."""
    return time.strftime("%H:%M:%S", time.localtime(epoch_s)) if epoch_s else ""


def html_table(headers: list[str], rows: list[list[Any]], empty: str) -> str:
    """An escaped HTML table, or a muted paragraph when there are no rows."""
    if not rows:
        return f'<p class="muted">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _accounts_section(state: dict[str, Any]) -> str:
    """Registered accounts with their webhooks and subscription status."""
    hooks_by_app: dict[str, list[dict[str, Any]]] = {}
    for hook in state["webhooks"]:
        hooks_by_app.setdefault(hook["consumer_key"], []).append(hook)
    rows = []
    for app in state["apps"]:
        account = app["account"]
        hooks = hooks_by_app.get(app["consumer_key"], [])
        subscribed = {
            s["webhook_id"]
            for s in state["subscriptions"]
            if s["user_id"] == account["id"]
        }
        webhook_text = ", ".join(
            f"{h['url']} ({'valid' if h['valid'] else 'invalid'})" for h in hooks
        )
        rows.append(
            [
                f"@{account['screen_name']}",
                account["id"],
                app["consumer_key"],
                webhook_text or "none",
                "yes" if subscribed else "no",
            ]
        )
    table = html_table(
        ["account", "id", "consumer key", "webhooks", "subscribed"], rows, "No apps."
    )
    return f"<h2>Connected accounts</h2>{table}"


def _reply_options(state: dict[str, Any]) -> str:
    """``<option>``s for replying to one of the account's recent posts."""
    options = ['<option value="">(new post)</option>']
    for tweet in reversed(state["tweets"][-10:]):
        label = f"reply to {tweet['id']}: {tweet['text'][:40]}"
        options.append(f'<option value="{esc(tweet["id"])}">{esc(label)}</option>')
    return "".join(options)


def _forms_section(state: dict[str, Any]) -> str:
    """The DM and mention forms, written as Casey Customer to the demo account."""
    who = f"@{DEMO_CUSTOMER.screen_name} → @{DEMO_APP.account.screen_name}"
    format_select = (
        '<select name="format"><option value="aaa">AAA payload</option>'
        '<option value="xaa">XAA payload</option></select>'
    )
    dm_form = (
        '<form method="post" action="/_sandbox/x/ui/dm"><b>Send a DM</b><br>'
        '<textarea name="text" placeholder="Hi, my order is late"></textarea><br>'
        f"{format_select} <button>Send DM</button></form>"
    )
    mention_form = (
        '<form method="post" action="/_sandbox/x/ui/mention"><b>Post a mention</b>'
        '<br><textarea name="text" placeholder="where is my parcel?"></textarea><br>'
        f'<select name="in_reply_to_tweet_id">{_reply_options(state)}</select> '
        f"{format_select} <button>Post</button></form>"
    )
    return f"<h2>Write as {esc(who)}</h2>{dm_form}{mention_form}"


def _sent_section(state: dict[str, Any]) -> str:
    """What PingBack sent through the fake API, newest first."""
    sent = [
        (dm["received_at"], "DM", f"user {dm['participant_id']}", dm["text"])
        for dm in state["sent_dms"]
    ] + [
        (
            tweet["received_at"],
            "post",
            f"reply to {tweet['in_reply_to_tweet_id'] or '(none)'}",
            tweet["text"],
        )
        for tweet in state["tweets"]
    ]
    sent.sort(key=lambda item: item[0], reverse=True)
    rows = [[clock(at), kind, to, text] for at, kind, to, text in sent]
    table = html_table(["time", "kind", "to", "text"], rows, "Nothing sent yet.")
    return f"<h2>What PingBack sent</h2>{table}"


def _inbound_section(state: dict[str, Any]) -> str:
    """What the fake customer sent, newest first."""
    rows = [
        [
            clock(event["sent_at"]),
            event["kind"] + (" (echo)" if event.get("outbound") else ""),
            f"@{event['customer']['screen_name']}",
            event["text"],
        ]
        for event in reversed(state["inbound"])
    ]
    table = html_table(["time", "kind", "from", "text"], rows, "Nothing delivered yet.")
    return f"<h2>What customers sent</h2>{table}"


def render_index(
    state: dict[str, Any], flash: str | None = None, *, extra: str = ""
) -> str:
    """The full demo page for an :meth:`XState.snapshot` (plus webhook owners),
    followed by the other platforms' sections (`extra`, HTML)."""
    notice = f'<p class="flash">{esc(flash)}</p>' if flash else ""
    sections = "".join(
        section(state)
        for section in (
            _accounts_section,
            _forms_section,
            _sent_section,
            _inbound_section,
        )
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>PingBack sandbox</title>"
        '<noscript><meta http-equiv="refresh" content="5"></noscript>'
        f"<style>{_STYLE}</style></head><body>"
        '<h1>X sandbox <a href="/" style="font-size:.8rem">Refresh</a></h1>'
        f"{notice}{sections}{extra}<script>{_AUTO_REFRESH}</script></body></html>"
    )

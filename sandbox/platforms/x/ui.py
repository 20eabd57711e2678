"""The X section of the demo page: connected accounts, forms to write a DM
or a mention as the demo customer (posted urlencoded to
``/_sandbox/x/ui/dm`` and ``/_sandbox/x/ui/mention``), what PingBack sent and
what customers sent. Every value is escaped."""

from __future__ import annotations

from typing import Any

from sandbox.core.page import clock, esc, html_table
from sandbox.platforms.x.payloads import DEMO_APP, DEMO_CUSTOMER


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


def _account_select(state: dict[str, Any]) -> str:
    """A ``<select name="account_id">`` of the registered accounts, the demo
    account first (the one the forms wrote to before there were several)."""
    accounts = [app["account"] for app in state["apps"]]
    accounts.sort(key=lambda account: account["id"] != DEMO_APP.account.id)
    options = "".join(
        f'<option value="{esc(account["id"])}">@{esc(account["screen_name"])}</option>'
        for account in accounts
    )
    return f'to <select name="account_id">{options}</select>'


def _forms_section(state: dict[str, Any]) -> str:
    """The DM and mention forms, written as Casey Customer to one of the
    accounts (the demo's webhook account by default; the polled account's
    messages wait until PingBack's next poll)."""
    who = f"@{DEMO_CUSTOMER.screen_name}"
    to = _account_select(state)
    format_select = (
        '<select name="format"><option value="aaa">AAA payload</option>'
        '<option value="xaa">XAA payload</option></select>'
    )
    dm_form = (
        '<form method="post" action="/_sandbox/x/ui/dm"><b>Send a DM</b><br>'
        '<textarea name="text" placeholder="Hi, my order is late"></textarea><br>'
        f"{to} {format_select} <button>Send DM</button></form>"
    )
    mention_form = (
        '<form method="post" action="/_sandbox/x/ui/mention"><b>Post a mention</b>'
        '<br><textarea name="text" placeholder="where is my parcel?"></textarea><br>'
        f'{to} <select name="in_reply_to_tweet_id">{_reply_options(state)}</select> '
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


def render_section(state: dict[str, Any]) -> str:
    """The X part of the demo page for an :meth:`XState.snapshot`."""
    sections = "".join(
        section(state)
        for section in (
            _accounts_section,
            _forms_section,
            _sent_section,
            _inbound_section,
        )
    )
    return f"<h1>X sandbox</h1>{sections}"

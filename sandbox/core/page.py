"""The demo page (``GET /``): one section per stand-in, and the helpers the
sections are written with.

Plain HTML with inline CSS and a few lines of JavaScript, no assets. The
forms post to ``/_sandbox/<platform>/ui/...``, which answer 303 back here
with a ``flash``. The page reloads itself every 3 s unless a form field is
focused or holds text; without JavaScript it falls back to a 5 s meta
refresh. Every value is escaped with :func:`esc`.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#0f1419}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #e1e8ed;padding:.35rem .5rem;text-align:left;
vertical-align:top}td{overflow-wrap:anywhere}
th{background:#f7f9f9}.muted{color:#536471}.flash{background:#e8f5fd;
padding:.5rem 1rem;border-left:4px solid #1d9bf0}
form{display:inline-block;vertical-align:top;margin-right:2rem}
textarea{width:24rem;max-width:100%;height:4rem}button{margin-top:.4rem}
form{max-width:100%}select{max-width:100%}
@media (max-width:40rem){body{margin:1rem}form{margin-right:0}}
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


def render_page(sections: str, flash: str | None = None) -> str:
    """The whole demo page: each stand-in's section (``sections``, HTML) under
    an optional ``flash`` notice."""
    notice = f'<p class="flash">{esc(flash)}</p>' if flash else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>PingBack sandbox</title>"
        '<noscript><meta http-equiv="refresh" content="5"></noscript>'
        f"<style>{_STYLE}</style></head><body>"
        '<h1>PingBack sandbox <a href="/" style="font-size:.8rem">Refresh</a></h1>'
        f"{notice}{sections}<script>{_AUTO_REFRESH}</script></body></html>"
    )

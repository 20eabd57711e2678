"""The reports page in a real browser: Chart.js (served by PingBack) draws
the day chart under the strict CSP, the table shows, nothing is wider than
the window with long and hostile names, and axe finds no serious
violation; at 1440 and 390 px (screenshots in PINGBACK_SCREENSHOT_DIR,
default /tmp)."""

from __future__ import annotations

import os

import pytest

from billing.tests.factories import BusinessFactory
from conversations.tests.test_live_browser import log_in
from pingback.axe import axe_violations
from reports.tests.conftest import build
from workspace.tests.factories import LabelFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("PINGBACK_SCREENSHOT_DIR", "/tmp")
RLO = "\u202e"
HOSTILE = f"<script>alert(1)</script> {RLO}evil " + "W" * 5000
CSP_WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
def data():
    fixture = build(BusinessFactory(time_zone="America/Sao_Paulo"))
    fixture.ana.user.first_name = HOSTILE[:150]
    fixture.ana.user.save()
    label = LabelFactory(business=fixture.business, name=f"<b>x</b>{RLO}" + "L" * 30)
    fixture.conversations["c3"].labels.add(label)
    fixture.alpha.name = HOSTILE[:200]
    fixture.alpha.save()
    return fixture


@pytest.mark.parametrize(("width", "group_by"), [(1440, "agent"), (390, "channel")])
def test_the_chart_and_table_show_and_fit(
    asgi_server, data, browser_page, width, group_by
):
    page = browser_page
    page.add_init_script(CSP_WATCH)
    page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
    log_in(page, asgi_server, data.admin)
    page.goto(
        f"{asgi_server.url}/reports/?since=2026-02-27&until=2026-03-03"
        f"&group_by={group_by}"
    )
    # Chart.js drew the five days (reports.js marks the canvas when done).
    page.wait_for_selector("#reports-chart[data-drawn='5']")
    assert page.evaluate("typeof window.Chart") == "function"
    box = page.locator("#reports-chart").bounding_box()
    assert box["width"] > 200 and box["height"] > 100
    rows = page.locator(".reports-table tbody tr")
    assert rows.count() == (3 if group_by == "agent" else 2)
    assert page.locator(".reports-table script").count() == 0
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than the {width}px window"
    assert axe_violations(page) == []
    assert page.evaluate("window.cspViolations") == []
    page.screenshot(
        path=f"{SCREENSHOTS}/pingback-reports-{group_by}-{width}.png", full_page=True
    )

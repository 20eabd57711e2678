"""Settings → Automation in a real browser: an admin creates the refund rule
from the form, sees it listed in words, moves it; the pages pass axe and fit
1440 and 390 px windows with long and hostile content (screenshots in
PINGBACK_SCREENSHOT_DIR, default /tmp)."""

from __future__ import annotations

import os

import pytest

from automation.models import Rule
from automation.services import rule_create
from conversations.tests.test_live_browser import log_in
from pingback.axe import axe_violations
from workspace.tests.factories import LabelFactory, TeamFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("PINGBACK_SCREENSHOT_DIR", "/tmp")
RLO = "\u202e"
HOSTILE = f"<script>alert(1)</script> {RLO}evil " + "w" * 80


def assert_fits(page, width: int) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than the {width}px window"


@pytest.fixture
def workspace(admin_member, whatsapp):
    """A team and label to route to, and a hostile-named rule already there."""
    business = admin_member.business
    team = TeamFactory(business=business, name="Billing")
    label = LabelFactory(business=business, name="refund")
    hostile_label = LabelFactory(business=business, name=HOSTILE[:40])
    rule_create(
        business=business,
        data={
            "name": HOSTILE[:100],
            "trigger": "unanswered",
            "unanswered_minutes": 30,
            "conditions": {
                "text_contains": [HOSTILE[:100], "x" * 100],
                "label_id": hostile_label.pk,
            },
            "actions": {"priority": "urgent"},
        },
    )
    return team, label


@pytest.mark.parametrize("width", [1440, 390])
def test_an_admin_creates_and_orders_rules_in_the_browser(
    asgi_server, admin_member, workspace, browser_page, width
):
    team, label = workspace
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, asgi_server, admin_member)

    page.goto(asgi_server.url + "/settings/automation/new/")
    page.fill("#name", "WhatsApp refunds")
    page.check("#type-whatsapp")
    page.fill("#text_contains", "refund")
    page.select_option("#assign_team_id", str(team.pk))
    page.select_option("#add_label_id", str(label.pk))
    page.select_option("#priority", "high")
    # refused first (snooze and resolve), the input kept
    page.fill("#snooze_minutes", "10")
    page.check("#resolve")
    page.click(".automation-form button[type=submit]")
    assert page.locator("#resolve-errors").inner_text() == (
        "Snooze or resolve, not both."
    )
    assert page.input_value("#text_contains") == "refund"
    assert_fits(page, width)
    assert axe_violations(page) == []
    page.screenshot(
        path=f"{SCREENSHOTS}/pingback-settings-automation-form-{width}.png",
        full_page=True,
    )
    page.fill("#snooze_minutes", "")
    page.uncheck("#resolve")
    page.click(".automation-form button[type=submit]")

    page.wait_for_url("**/settings/automation/")
    assert page.locator("nav.settings-tabs a[aria-current=page]").inner_text() == (
        "Automation"
    )
    rows = page.locator(".automation-rules .settings-row")
    assert rows.count() == 2
    shown = rows.nth(1).inner_text().replace("\u2068", "").replace("\u2069", "")
    assert "route to team Billing; add label refund; set priority high" in shown
    rows.nth(1).get_by_role("button", name="Move up").click()
    page.wait_for_load_state()
    assert (
        "WhatsApp refunds"
        in page.locator(".automation-rules .settings-row").first.inner_text()
    )
    first = Rule.objects.order_by("position").values_list("name", flat=True)[0]
    assert first == "WhatsApp refunds"
    assert page.locator("script:text('alert(1)')").count() == 0
    assert_fits(page, width)
    assert axe_violations(page) == []
    page.screenshot(
        path=f"{SCREENSHOTS}/pingback-settings-automation-list-{width}.png",
        full_page=True,
    )

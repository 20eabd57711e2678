"""Business hours and away messages on `/settings/business/` in a real
browser, driven from the keyboard: a week with a split day is typed, a
refused interval is named beside its day with everything typed kept, and
the page passes axe and fits the window at 1440 and 390 px with long and
hostile channel names (screenshots in PINGBACK_SCREENSHOT_DIR)."""

from __future__ import annotations

import os

import pytest

from channels_app.tests.factories import ChannelFactory
from conversations.tests.test_live_browser import log_in
from pingback.axe import axe_violations
from workspace.selectors import business_hours
from workspace.services import away_message_save, business_hours_set

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("PINGBACK_SCREENSHOT_DIR", "/tmp")
RLO = "\u202e"
URL = "/settings/business/"


def _focused(page, element_id: str) -> None:
    """Wait until the page's script has put the cursor on `element_id` (it
    does so in answer to the key just pressed, or once it has run after a
    page load); fails after the page's default timeout."""
    page.wait_for_function(
        "id => document.activeElement && document.activeElement.id === id",
        arg=element_id,
    )


def _focused_element_is(page, locator) -> None:
    """Wait until `locator`'s element holds the cursor."""
    page.wait_for_function(
        "el => document.activeElement === el", arg=locator.element_handle()
    )


def test_an_admin_types_a_week_from_the_keyboard(
    asgi_server, admin_member, browser_page
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.goto(asgi_server.url + URL)
    assert not page.locator("#monday-open").is_visible()  # hours off: week hidden

    page.focus("#hours_enabled")
    page.keyboard.press("Space")
    page.focus("#monday-open")
    page.keyboard.press("Space")
    # ticking Open puts the cursor in the day's first time
    _focused(page, "monday-opens-1")
    page.keyboard.type("09:00")
    page.keyboard.press("Tab")
    page.keyboard.type("12:30")
    page.keyboard.press("Tab")  # the only interval has no Remove: Add hours
    assert page.evaluate("document.activeElement.textContent").startswith("Add hours")
    page.keyboard.press("Enter")
    _focused(page, "monday-opens-2")
    page.keyboard.type("13:30")
    page.keyboard.press("Tab")
    page.keyboard.type("18:00")
    page.focus("#tuesday-open")
    page.keyboard.press("Space")
    page.keyboard.type("22:00")
    page.keyboard.press("Tab")
    page.keyboard.type("02:00")
    page.keyboard.press("Enter")  # submits the hours form

    errors = page.locator("#tuesday-errors")
    errors.wait_for()
    assert "Interval 1 (22:00-02:00): it must close after it opens" in (
        errors.inner_text()
    )
    assert "tuesday-errors" in page.get_attribute(
        "#tuesday-closes-1", "aria-describedby"
    )
    assert [
        page.input_value(selector)
        for selector in ("#monday-opens-1", "#monday-closes-2", "#tuesday-closes-1")
    ] == ["09:00", "18:00", "02:00"]
    assert business_hours(admin_member.business) is None
    # the cursor is on the first field refused, far below the notice (moved
    # there by the page's script once it has run after the answer)
    _focused(page, "tuesday-opens-1")
    assert axe_violations(page) == []
    page.screenshot(
        path=f"{SCREENSHOTS}/pingback-business-hours-refused.png", full_page=True
    )

    page.fill("#tuesday-closes-1", "24:00")
    page.focus("#tuesday-closes-1")
    page.keyboard.press("Enter")

    page.get_by_text("Business hours saved.").wait_for()
    assert dict(business_hours(admin_member.business).week) == {
        0: [(540, 750), (810, 1080)],
        1: [(1320, 1440)],
    }

    # removing Monday's first interval leaves the cursor on the one in its place
    # (the page's script shows Remove once it has run on the new page: wait for
    # it, or focus lands on a hidden button and Enter does nothing)
    remove = page.locator("#hours-monday [data-remove-interval]").first
    remove.wait_for(state="visible")
    remove.focus()
    _focused_element_is(page, remove)
    page.keyboard.press("Enter")
    _focused(page, "monday-opens-1")
    assert page.input_value("#monday-opens-1") == "13:30"


@pytest.fixture
def hostile(admin_member):
    business = admin_member.business
    business_hours_set(
        business=business,
        week={0: [(540, 750), (810, 1080)], 1: [(540, 1080)], 4: [(540, 1440)]},
    )
    long = ChannelFactory(business=business, name="W" * 200)
    rtl = ChannelFactory(
        business=business, name=f"<script>alert(1)</script> {RLO}evil", is_active=False
    )
    away_message_save(channel=long, enabled=True, body="x" * 1000)
    away_message_save(channel=rtl, enabled=False, body=f"<b>bold</b> {RLO}closed")
    return business


@pytest.mark.parametrize("width", [1440, 390])
def test_the_page_fits_and_passes_axe(
    asgi_server, admin_member, agent_member, hostile, browser, width
):
    for member, who in ((admin_member, "admin"), (agent_member, "agent")):
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.set_viewport_size({"width": width, "height": 844 if width < 500 else 900})
        log_in(page, asgi_server, member)
        page.goto(asgi_server.url + URL)

        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"{overflow}px wider than the {width}px window ({who})"
        assert axe_violations(page) == [], (who, width)
        assert page.locator("main script").count() == 0
        assert page.input_value("#monday-closes-2") == "18:00"
        page.screenshot(
            path=f"{SCREENSHOTS}/pingback-business-hours-{who}-{width}.png",
            full_page=True,
        )
        page.close()

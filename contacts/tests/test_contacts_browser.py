"""The contacts pages in a real browser (Chromium, Playwright): find a
contact, open it, change an attribute and see it saved; the pages pass axe
and long or hostile content never widens them, at 1440 and 390 px."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from contacts.services.contacts import contact_create
from conversations.tests.factories import (
    ContactIdentityFactory,
    ConversationFactory,
    MessageFactory,
)
from pingback.axe import axe_violations
from pingback.testing import AsgiServer
from workspace.models import Label

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
SHOTS = Path(os.environ.get("PINGBACK_SCREENSHOTS", "/tmp/pingback-contacts"))
LONG_WORD = "W" * 5000


def log_in(page, server: AsgiServer, member) -> None:
    page.goto(f"{server.url}/accounts/login/?next=/contacts/")
    page.fill("input[name=username]", member.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Contacts")
    # The page's scripts run once its stylesheets are in: measure after.
    page.wait_for_selector("body[data-live=connected]")


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def too_wide(page, width: int) -> str:
    """The elements wider than `width`, for an assertion's message."""
    return page.evaluate(
        """(width) => Array.from(document.querySelectorAll('body *'))
        .filter((e) => e.getBoundingClientRect().right > width + 1)
        .slice(0, 8)
        .map((e) => e.tagName + '.' + e.className + ' '
             + Math.round(e.getBoundingClientRect().width))
        .join(', ')""",
        width,
    )


@pytest.fixture
def contacts_setup(admin_member):
    business = admin_member.business
    vip = Label.objects.create(business=business, name="vip", color="#d97706")
    grace = contact_create(
        business=business,
        name="Grace Hopper",
        company="Navy",
        emails=["grace@example.com"],
        phones=["+14155550100"],
        custom_attributes={"plan": "free"},
        label_ids=[vip.pk],
    )
    identity = ContactIdentityFactory(contact=grace, handle="grace_h")
    conversation = ConversationFactory(
        business=business,
        contact=grace,
        contact_identity=identity,
        last_message_preview="Where is my refund?",
    )
    MessageFactory(conversation=conversation, text="Where is my refund?")
    hostile = contact_create(
        business=business,
        name="\u202e<script>alert(1)</script> " + LONG_WORD[:170],
        company="مرحبا بالعالم " + LONG_WORD[:180],
        emails=[f"{'x' * 60}@{'y' * 60}.example.com"],
        note=LONG_WORD,
        custom_attributes={"hostile": "<img src=x onerror=alert(1)> " + "Z" * 900},
    )
    ConversationFactory(
        business=business, contact=hostile, last_message_preview=LONG_WORD[:200]
    )
    for i in range(3):
        contact_create(business=business, name=f"Customer {i}")
    return {"grace": grace, "hostile": hostile}


def test_find_a_contact_open_it_and_change_an_attribute(
    admin_member, contacts_setup, asgi_server, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, asgi_server, admin_member)

    page.fill("input[name=q]", "grace@example")
    page.keyboard.press("Enter")
    rows = page.locator(".contact-row")
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Grace Hopper").click()
    expect(page.locator("h1")).to_have_text("Grace Hopper")
    expect(page.locator(".contact-identities")).to_contain_text("grace_h")
    expect(page.locator(".contact-conversations")).to_contain_text(
        "Where is my refund?"
    )

    attribute = page.get_by_label("plan")
    attribute.fill("enterprise")
    attribute.press("Enter")
    expect(page.locator(".flash")).to_contain_text("Saved")
    expect(page.get_by_label("plan")).to_have_value("enterprise")
    page.reload()
    expect(page.get_by_label("plan")).to_have_value("enterprise")
    contact = contacts_setup["grace"]
    contact.refresh_from_db()
    assert contact.custom_attributes == {"plan": "enterprise"}

    # A new attribute with a bad name is refused beside the field, typed
    # value kept.
    page.fill("#key", "Bad Key")
    page.fill("#value", "kept value")
    page.get_by_role("button", name="Add attribute").click()
    expect(page.locator("#key-errors")).to_be_visible()
    expect(page.locator("#value")).to_have_value("kept value")


@pytest.mark.parametrize("width", [1440, 390])
def test_pages_fit_hostile_content_and_pass_axe(
    admin_member, contacts_setup, asgi_server, browser_page, width
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, asgi_server, admin_member)
    SHOTS.mkdir(parents=True, exist_ok=True)

    assert page_width(page) <= width, too_wide(page, width)
    assert axe_violations(page) == []
    page.screenshot(path=str(SHOTS / f"list-{width}.png"), full_page=True)

    page.goto(f"{asgi_server.url}/contacts/{contacts_setup['hostile'].pk}/")
    expect(page.locator("h1")).to_contain_text("<script>")
    assert page_width(page) <= width, too_wide(page, width)
    assert axe_violations(page) == []
    page.screenshot(path=str(SHOTS / f"hostile-{width}.png"), full_page=False)

    page.goto(f"{asgi_server.url}/contacts/{contacts_setup['grace'].pk}/")
    assert page_width(page) <= width, too_wide(page, width)
    assert axe_violations(page) == []
    page.screenshot(path=str(SHOTS / f"contact-{width}.png"), full_page=True)

    page.goto(f"{asgi_server.url}/contacts/{contacts_setup['grace'].pk}/erase/")
    assert page_width(page) <= width, too_wide(page, width)
    assert axe_violations(page) == []
    page.screenshot(path=str(SHOTS / f"erase-{width}.png"))

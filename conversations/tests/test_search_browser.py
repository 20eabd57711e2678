"""The inbox's search box in a real browser: a word of a message finds it,
the result opens the conversation scrolled to that message and marked (and
the address does it again on reload); the list's filters apply; Escape
returns to the list; hostile and long text stays text and wraps, at 1440
and 390 px."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from contacts.services.contacts import contact_create
from conversations.tests.factories import ConversationFactory, MessageFactory
from conversations.tests.test_workspace_browser import log_in, page_width
from pingback.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("PINGBACK_SCREENSHOTS", "/tmp/pingback-search"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.fixture
def searchable(admin_member):
    """A long conversation whose old message holds `marmalade`, another
    resolved one holding it too, and hostile content."""
    business = admin_member.business
    now = timezone.now()
    resolved = ConversationFactory(
        business=business,
        contact__name="‮<b>Mallory</b> " + "W" * 60,
        status="resolved",
        last_message_at=now - timedelta(hours=2),
    )
    MessageFactory(
        conversation=resolved,
        text="<script>alert(1)</script> marmalade "
        + "x" * 5000
        + " مرحبا بالعالم marmalade",
        sent_at=now - timedelta(hours=2),
    )
    long = ConversationFactory(
        business=business,
        contact__name="Grace Hopper",
        last_message_at=now - timedelta(minutes=1),
    )
    found = None
    for n in range(40):
        message = MessageFactory(
            conversation=long,
            text=(
                "Could you send the marmalade invoice again?"
                if n == 3
                else f"Filler line number {n} about nothing in particular."
            ),
            sent_at=now - timedelta(minutes=60 - n),
        )
        if n == 3:
            found = message
    contact_create(
        business=business,
        name="Marmalade Fan " + "Z" * 150,
        company="<img src=x>",
        emails=["marmalade@example.com"],
        phones=["+351912345678"],
    )
    return {"long": long, "found": found, "resolved": resolved}


@pytest.mark.parametrize("width", [1440, 390])
def test_search_from_the_inbox_opens_the_conversation_at_the_message(
    asgi_server, admin_member, searchable, browser_page, width
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": 860})
    log_in(page, asgi_server, admin_member)
    found = searchable["found"]

    # `/` focuses the box (once search.js listens).
    page.locator("#workspace[data-search-ready]").wait_for()
    page.locator("body").press("/")
    box = page.locator("#inbox-search")
    expect(box).to_be_focused()
    box.fill("marmalade")

    results = page.locator("#search-results")
    expect(results).to_be_visible()
    expect(page.locator("#conversation-list")).to_be_hidden()
    rows = results.locator(".search-list:not(.search-contacts) .search-row")
    expect(rows).to_have_count(2)
    first = rows.nth(0)
    expect(first.locator("mark").first).to_have_text("marmalade")
    expect(first).to_contain_text("Grace Hopper")
    expect(results.locator(".search-contacts .search-row")).to_have_count(1)
    # Hostile text is text: no script, image or bold element came from it.
    assert results.locator("script, img, b").count() == 0
    assert page_width(page) <= width
    assert axe_violations(page) == []
    shot(page, f"{width}-results")
    # The date range opens under the box, inside the pane.
    page.locator(".search-dates summary").click()
    expect(page.locator(".search-dates input[name=since]")).to_be_visible()
    assert page_width(page) <= width
    shot(page, f"{width}-dates")

    first.locator("a").click()
    message = page.locator(f"#message-{found.pk}")
    expect(message).to_have_class("message inbound is-found")
    expect(message).to_be_in_viewport()
    expect(message).to_be_focused()
    assert page.url.endswith(
        f"/conversations/{found.conversation_id}/?message={found.pk}"
    )
    assert page.evaluate("window.notReloaded") is True
    shot(page, f"{width}-opened")

    # The address opens it there again.
    page.reload()
    message = page.locator(f"#message-{found.pk}")
    expect(message).to_have_class("message inbound is-found")
    expect(message).to_be_in_viewport()


def test_list_filters_apply_and_escape_returns_to_the_list(
    asgi_server, admin_member, searchable, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 860})
    log_in(page, asgi_server, admin_member, "/%3Fstatus%3Dresolved")
    page.goto(f"{asgi_server.url}/?status=resolved")
    page.locator("body[data-live=connected]").wait_for()

    page.locator("#workspace[data-search-ready]").wait_for()
    box = page.locator("#inbox-search")
    box.fill("marmalade")
    box.press("Enter")
    rows = page.locator(
        "#search-results .search-list:not(.search-contacts) .search-row"
    )
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute(
        "data-conversation-id", str(searchable["resolved"].pk)
    )
    shot(page, "1440-filtered-hostile")

    # Arrow down reaches the result; Escape returns to the list.
    box.press("ArrowDown")
    expect(rows.first.locator("a")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#search-results")).to_be_hidden()
    expect(page.locator("#conversation-list")).to_be_visible()
    expect(box).to_have_value("")
    expect(box).to_be_focused()

    # A word nobody wrote.
    box.fill("quokka")
    expect(page.locator("#search-results .search-summary")).to_contain_text(
        "No conversation"
    )

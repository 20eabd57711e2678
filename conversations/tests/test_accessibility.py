"""The inbox pages checked with axe-core (`pingback/axe.py`) in a real browser:
no serious or critical accessibility violation on the inbox list, a
conversation, and the preferences page (with its shortcut dialog open)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.tests.factories import ConversationFactory, MessageFactory
from conversations.tests.test_live_browser import log_in
from pingback.axe import axe_violations
from workspace.models import Label

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def conversation(admin_member):
    conversation = ConversationFactory(
        business=admin_member.business,
        contact__name="Ada Lovelace",
        last_message_preview="Where is my order?",
        last_message_at=timezone.now() - timedelta(minutes=3),
        unread_count=1,
    )
    MessageFactory(conversation=conversation, text="Where is my order?")
    vip = Label.objects.create(business=admin_member.business, name="vip")
    conversation.labels.add(vip)
    Label.objects.create(business=admin_member.business, name="billing")
    return conversation


def test_the_helper_reports_what_axe_finds(asgi_server, admin_member, browser_page):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.evaluate(
        """() => {
          const img = document.createElement('img');
          img.src = '/static/inbox/missing.png';
          document.querySelector('main').appendChild(img);
        }"""
    )

    found = axe_violations(page, impacts=("critical",))

    assert any(line.startswith("image-alt (critical):") for line in found), found


@pytest.mark.parametrize("where", ["inbox", "conversation", "preferences"])
def test_no_serious_or_critical_violations(
    asgi_server, admin_member, conversation, browser_page, where
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    path = {
        "inbox": "/",
        "conversation": f"/conversations/{conversation.pk}/",
        "preferences": "/settings/preferences/",
    }[where]
    page.goto(asgi_server.url + path)
    page.wait_for_selector("body[data-live=connected]")

    assert axe_violations(page) == []

    # The shortcut list, open.
    page.keyboard.press("?")
    page.locator("dialog[open]").wait_for()
    assert axe_violations(page) == []


@pytest.mark.parametrize("width", [1440, 390])
def test_the_workspace_with_its_menus_and_selection_open(
    asgi_server, admin_member, conversation, browser_page, width
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, asgi_server, admin_member)
    page.check(f"#conversation-{conversation.pk} .row-select")
    page.click("button[aria-controls=filter-assignee]")
    page.locator("#filter-assignee").wait_for()
    assert axe_violations(page) == []
    page.keyboard.press("Escape")

    page.locator(f"#conversation-{conversation.pk} .row-link").click()
    page.locator("#thread-container li.message").first.wait_for()
    for menu in ("assign-menu", "snooze-menu", "label-menu"):
        page.click(f"button[aria-controls={menu}]")
        page.locator(f"#{menu}").wait_for()
        assert axe_violations(page) == [], menu
        page.keyboard.press("Escape")

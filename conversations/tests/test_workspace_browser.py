"""The agent workspace in a real browser (Chromium, Playwright): one page with
the list, the open thread and the customer panel; opening, assigning,
labelling, snoozing and resolving never reload it; the address follows; long
text never widens it, at 1440 and at 390 px."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.tests.factories import MemberFactory
from conversations.models import Conversation
from conversations.services import conversation_update
from conversations.tests.factories import (
    ConversationFactory,
    MessageFactory,
    ReplyFactory,
)
from pingback.testing import AsgiServer, in_another_thread, wait_for
from workspace.models import Label, Team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
LONG_URL = "https://example.com/" + "a" * 5000
SHOTS = Path(os.environ.get("PINGBACK_SCREENSHOTS", "/tmp/pingback-workspace"))


@pytest.fixture
def team_setup(admin_member):
    """Ana (the admin, logged in) and Ben, a team, labels, and conversations:
    one with a hostile name and a 5,000-character URL."""
    business = admin_member.business
    admin_member.user.first_name, admin_member.user.last_name = "Ana", "Silva"
    admin_member.user.save()
    ben = MemberFactory(
        business=business, user__first_name="Ben", user__last_name="Okafor"
    )
    team = Team.objects.create(business=business, name="Support")
    team.members.add(admin_member, ben)
    Label.objects.create(business=business, name="vip", color="#d97706")
    Label.objects.create(business=business, name="billing", color="#2563eb")
    now = timezone.now()
    quiet = ConversationFactory(
        business=business,
        contact__name="Grace Hopper",
        last_message_at=now - timedelta(hours=3),
    )
    MessageFactory(conversation=quiet, text="Where is my refund?")
    loud = ConversationFactory(
        business=business,
        contact__name="‮<b>Mallory</b> " + "W" * 80,
        last_message_at=now - timedelta(minutes=5),
        last_message_preview=LONG_URL[:200],
        unread_count=2,
    )
    MessageFactory(conversation=loud, text=LONG_URL)
    MessageFactory(conversation=loud, text="x" * 5000)
    return {"ben": ben, "team": team, "quiet": quiet, "loud": loud}


def log_in(page, server: AsgiServer, member, path: str = "/") -> None:
    page.goto(f"{server.url}/accounts/login/?next={path}")
    page.fill("input[name=username]", member.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-live=connected]")
    # Survives only as long as the page is not reloaded.
    page.evaluate("window.notReloaded = true")


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_three_panes_open_a_conversation_without_reloading(
    asgi_server, admin_member, team_setup, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, asgi_server, admin_member)
    quiet = team_setup["quiet"]

    page.locator(f"#conversation-{quiet.pk} .row-link").click()
    page.locator(".thread-header h1", has_text="Grace Hopper").wait_for()
    assert page.url.endswith(f"/conversations/{quiet.pk}/")
    assert page.locator("#thread-container").inner_text().count("Where is my refund?")
    assert page.locator("#customer-panel h2").inner_text() == "Grace Hopper"
    assert page.locator(f"#conversation-{quiet.pk}.is-active").count() == 1
    assert page.evaluate("window.notReloaded") is True
    shot(page, "1440-open")

    # The back button goes back to the list with nothing open.
    page.go_back()
    page.locator(".pane-empty").wait_for()
    assert page.evaluate("window.notReloaded") is True


def test_resolve_assign_and_snooze_without_reloading(
    asgi_server, admin_member, team_setup, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    quiet = team_setup["quiet"]
    log_in(page, asgi_server, admin_member, f"/conversations/{quiet.pk}/")

    # Assign to Ben from the Assign menu, with the keyboard.
    page.locator('[data-shortcut="a"]').focus()
    page.keyboard.press("Enter")
    page.keyboard.type("Ben")
    page.keyboard.press("Enter")
    page.locator(".thread-header .assignee-name", has_text="Ben Okafor").wait_for()
    page.locator("#thread-container .activity", has_text="to Ben Okafor").wait_for()

    # Snooze until tomorrow 9:00.
    page.locator('[data-shortcut="s"]').click()
    page.locator('[data-snooze="tomorrow"]').click()
    page.locator("#conversation-status", has_text="Snoozed until").wait_for()

    # Resolve.
    page.locator('button[aria-controls="status-menu"]').click()
    page.locator('#status-menu [data-patch=\'{"status": "resolved"}\']').click()
    page.locator("#conversation-status", has_text="Resolved").wait_for()

    assert page.evaluate("window.notReloaded") is True
    stored = in_another_thread(lambda: Conversation.objects.get(pk=quiet.pk))
    assert stored.status == Conversation.Status.RESOLVED
    assert stored.assignee_id == team_setup["ben"].user_id
    shot(page, "1440-actions")


def test_counts_change_live_when_another_agent_assigns(
    asgi_server, admin_member, team_setup, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, asgi_server, admin_member)
    mine = page.locator('[data-count="mine"]')
    assert mine.inner_text() == "0"

    # Ben assigns a conversation to Ana, elsewhere.
    in_another_thread(
        lambda: conversation_update(
            conversation=team_setup["quiet"],
            by=team_setup["ben"].user,
            assignee=admin_member.user,
        )
    )

    expect(mine).to_have_text("1")
    expect(page.locator('[data-count="unassigned"]')).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True


@pytest.mark.parametrize("width", [1440, 390])
def test_long_unbroken_text_never_widens_the_page(
    asgi_server, admin_member, team_setup, browser_page, width
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": 860})
    loud = team_setup["loud"]
    log_in(page, asgi_server, admin_member)
    shot(page, f"{width}-list")
    assert page_width(page) <= width

    page.locator(f"#conversation-{loud.pk} .row-link").click()
    page.locator("#thread-container .message").first.wait_for()
    assert page_width(page) <= width
    bubble = page.locator("#thread-container .message .text").first
    assert bubble.evaluate("e => e.getBoundingClientRect().right") <= width
    # The hostile name is text, never markup.
    assert page.locator(".thread-header h1 b").count() == 0
    shot(page, f"{width}-thread")
    if width == 390:
        # A phone shows one pane at a time: the thread hides the list.
        assert not page.locator("#list-pane").is_visible()
        page.locator("[data-back]").click()
        page.locator("#list-pane").wait_for(state="visible")
        assert page.url.endswith("/")


def test_the_list_follows_views_and_filters_in_the_address(
    asgi_server, admin_member, team_setup, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    quiet = team_setup["quiet"]
    in_another_thread(lambda: quiet.labels.add(Label.objects.get(name="vip")))
    log_in(page, asgi_server, admin_member)

    page.locator('button[aria-controls="filter-label"]').click()
    page.locator("#filter-label [role=menuitemradio]", has_text="vip").click()
    page.wait_for_url("**/?label=vip")
    rows = page.locator("#conversation-list .conversation-row")
    expect(rows).to_have_count(1)
    assert "Grace Hopper" in rows.first.inner_text()

    page.locator(".view-tab", has_text="Unassigned").click()
    page.wait_for_url("**/?view=unassigned&label=vip")
    page.go_back()
    page.wait_for_url("**/?label=vip")
    assert page.evaluate("window.notReloaded") is True
    shot(page, "1440-filtered")


def test_bulk_assign_and_resolve_a_selection(
    asgi_server, admin_member, team_setup, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    quiet, loud = team_setup["quiet"], team_setup["loud"]
    log_in(page, asgi_server, admin_member)

    page.check(f"#conversation-{quiet.pk} .row-select")
    page.check(f"#conversation-{loud.pk} .row-select")
    expect(page.locator("[data-bulk-count]")).to_have_text("2")
    page.click("#bulk-bar button[aria-controls=bulk-assign]")
    page.locator("#bulk-assign [role=menuitem]", has_text="Ben Okafor").click()
    expect(page.locator(".conversation-row .assignee-chip")).to_have_count(2)
    expect(page.locator("#bulk-bar")).to_be_hidden()

    page.check(f"#conversation-{quiet.pk} .row-select")
    page.click("#bulk-bar button[aria-controls=bulk-status]")
    page.locator("#bulk-status [role=menuitem]", has_text="Resolved").click()
    expect(page.locator(".conversation-row")).to_have_count(1)
    expect(page.locator('[data-count="all"]')).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True

    stored = in_another_thread(
        lambda: {
            c.pk: (c.status, c.assignee_id)
            for c in Conversation.objects.filter(pk__in=[quiet.pk, loud.pk])
        }
    )
    ben = team_setup["ben"].user_id
    assert stored == {quiet.pk: ("resolved", ben), loud.pk: ("open", ben)}


def test_labels_are_added_and_removed_from_the_thread(
    asgi_server, admin_member, team_setup, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    quiet = team_setup["quiet"]
    log_in(page, asgi_server, admin_member, f"/conversations/{quiet.pk}/")

    page.keyboard.press("l")  # the Labels menu, by its shortcut
    page.locator("#label-menu [data-label=vip]").click()
    page.locator("#label-menu [data-label=billing]").click()
    page.keyboard.press("Escape")
    tags = page.locator(".thread-tags .label-chip")
    expect(tags).to_have_text(["billing", "vip"])
    row_labels = page.locator(f"#conversation-{quiet.pk} .label-chip")
    expect(row_labels).to_have_text(["billing", "vip"])
    page.locator("#thread-container .activity", has_text="added label vip").wait_for()

    page.click("button[aria-controls=label-menu]")
    page.locator("#label-menu [data-label=vip]").click()
    page.keyboard.press("Escape")
    expect(tags).to_have_text(["billing"])
    assert page.evaluate("window.notReloaded") is True
    names = in_another_thread(
        lambda: sorted(quiet.labels.values_list("name", flat=True))
    )
    assert names == ["billing"]


@pytest.fixture
def failed_reply(admin_member, sandbox):
    """A reply on the X channel (wired to the sandbox) that failed."""
    conversation = ConversationFactory(
        business=admin_member.business, contact__name="Retry Rita"
    )
    MessageFactory(conversation=conversation, text="Did it ship?")
    return ReplyFactory(
        conversation=conversation,
        status="failed",
        text="It ships today.",
        error="X answered 503: over capacity",
    )


def test_retry_sends_a_failed_reply_again_to_the_platform(
    asgi_server, tasks, admin_member, failed_reply, sandbox, browser_page
):
    page = browser_page
    conversation = failed_reply.conversation
    log_in(page, asgi_server, admin_member, f"/conversations/{conversation.pk}/")
    reply = page.locator(f"#message-{failed_reply.pk}")
    expect(reply.locator(".delivery")).to_contain_text("over capacity")

    reply.locator("button", has_text="Retry").click()

    expect(reply.locator(".delivery")).to_have_text("Sent", timeout=20_000)
    assert [dm["text"] for dm in sandbox.x.sent_dms] == ["It ships today."]
    expect(reply.locator(".attempts summary")).to_have_text("2 attempts")
    assert page.evaluate("window.notReloaded") is True


def test_a_mention_in_a_note_reaches_the_other_agents_mentions_view_only(
    asgi_server, admin_member, team_setup, sandbox, browser
):
    quiet = team_setup["quiet"]
    ben = team_setup["ben"]
    ana_page = browser.new_context().new_page()
    ana_page.set_default_timeout(20_000)
    ben_page = browser.new_context().new_page()
    ben_page.set_default_timeout(20_000)
    ben.user.set_password(PASSWORD)
    in_another_thread(lambda: ben.user.save())
    log_in(ben_page, asgi_server, ben)
    mentions = ben_page.locator('[data-count="mentions"]')
    expect(mentions).to_have_text("0")

    log_in(ana_page, asgi_server, admin_member, f"/conversations/{quiet.pk}/")
    ana_page.click(".reply-mode-button[data-mode=note]")
    ana_page.fill("#reply-text", "@Ben can you check the refund?")
    ana_page.keyboard.press("Control+Enter")
    ana_page.locator("li.message.note", has_text="can you check").wait_for()

    # Ben's count moves without a reload, and his Mentions view lists it.
    expect(mentions).to_have_text("1")
    ben_page.locator(".view-tab", has_text="Mentions").click()
    rows = ben_page.locator("#conversation-list .conversation-row")
    expect(rows).to_have_count(1)
    assert "Grace Hopper" in rows.first.inner_text()
    assert ben_page.evaluate("window.notReloaded") is True
    # Ana, who wrote it, is not mentioned.
    expect(ana_page.locator('[data-count="mentions"]')).to_have_text("0")

    # Opening it reads the mention: it leaves his Mentions view.
    rows.first.locator(".row-link").click()
    ben_page.locator("#thread-container li.message.note").wait_for()
    expect(mentions).to_have_text("0")
    # A note never reaches the platform.
    assert sandbox.x.sent_dms == []


def test_a_filter_is_saved_under_a_name_and_comes_back(
    asgi_server, admin_member, team_setup, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, asgi_server, admin_member)
    page.goto(f"{asgi_server.url}/?view=unassigned&label=vip")
    page.evaluate("window.notReloaded = true")

    page.click("[data-save-filter-open]")
    page.fill("#save-filter-name", "Unassigned VIPs")
    page.keyboard.press("Enter")
    saved = page.locator(".chip-saved", has_text="Unassigned VIPs")
    expect(saved).to_have_attribute("aria-current", "page")

    # Another list, then the saved one again, in one click.
    page.locator(".view-tab", has_text="All").click()
    page.wait_for_url("**/?label=vip")
    expect(saved).not_to_have_attribute("aria-current", "page")
    saved.click()
    page.wait_for_url("**/?view=unassigned&label=vip")
    # The saved list has arrived (the URL changes before the pane does).
    expect(saved).to_have_attribute("aria-current", "page")
    assert page.evaluate("window.notReloaded") is True
    # Until "Save this filter" is clicked, the form stays out of sight.
    expect(page.locator("#save-filter-name")).to_be_hidden()

    # The same name again is refused, saying why, and the name stays typed.
    page.click("[data-save-filter-open]")
    page.fill("#save-filter-name", "unassigned vips")
    page.keyboard.press("Enter")
    name = page.locator("#save-filter-name")
    wait_for(lambda: "already" in name.evaluate("e => e.validationMessage"))
    assert page.input_value("#save-filter-name") == "unassigned vips"

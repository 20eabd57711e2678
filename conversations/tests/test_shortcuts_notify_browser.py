"""Keyboard shortcuts, notifications, relative times and the preferences page
in a real browser (Debian's Chromium driven by Playwright) against PingBack
served by uvicorn, with PostgreSQL and Redis."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import Member
from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from conversations.services import ingest
from conversations.tests.factories import ConversationFactory, MessageFactory
from conversations.tests.test_live_browser import in_another_thread, log_in
from pingback.testing import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("PINGBACK_SCREENSHOT_DIR", "/tmp")

# Wraps window.Notification before any script of the page runs, so the test
# sees what the page shows: window.shown = [{title, body, tag}, ...].
CAPTURE_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.shown = [];
  window.shownObjects = [];
  function Captured(title, options) {
    window.shown.push({title, body: options && options.body,
                       tag: options && options.tag});
    const notification = new Real(title, options);
    window.shownObjects.push(notification);
    return notification;
  }
  Captured.requestPermission = (...args) => Real.requestPermission(...args);
  Object.defineProperty(Captured, "permission", {get: () => Real.permission});
  window.Notification = Captured;
})();
"""


@pytest.fixture
def conversations(admin_member):
    """Three conversations, newest first in the list: Cleo, Bea, Ana."""
    channel = ChannelFactory(business=admin_member.business)
    now = timezone.now()
    return [
        ConversationFactory(
            business=admin_member.business,
            channel=channel,
            contact__name=name,
            last_message_preview=f"Hello from {name}",
            last_message_at=now - timedelta(minutes=minutes),
        )
        for name, minutes in (("Cleo", 1), ("Bea", 5), ("Ana", 90))
    ]


def cursor_name(page) -> str:
    return page.locator(".conversation-row.is-cursor .name").inner_text()


def test_j_k_and_enter_open_the_conversation_under_the_cursor(
    asgi_server, admin_member, conversations, browser_page
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    cleo, bea, _ana = conversations

    page.keyboard.press("j")
    assert cursor_name(page) == "Cleo"
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert cursor_name(page) == "Bea"
    row = page.locator(".conversation-row.is-cursor")
    assert row.get_attribute("aria-current") == "true"
    assert page.locator(".conversation-row[aria-current]").count() == 1
    # Focus follows the cursor (the row's link), so the focus ring shows it.
    assert page.evaluate("document.activeElement.closest('.is-cursor') !== null")

    # The list is re-rendered (Bea now last): the cursor stays on Bea.
    page.evaluate(
        """() => {
          const body = document.querySelector('#conversation-list');
          const rows = [...body.querySelectorAll('.conversation-row')];
          body.innerHTML = '';
          rows.reverse().forEach(r => body.appendChild(r.cloneNode(true)));
          document.dispatchEvent(new CustomEvent('pingback:list-loaded'));
        }"""
    )
    assert cursor_name(page) == "Bea"
    page.keyboard.press("k")
    assert cursor_name(page) == "Ana"
    page.keyboard.press("j")

    page.keyboard.press("Enter")
    page.wait_for_url(f"**/conversations/{bea.pk}/")
    assert cleo.pk != bea.pk


def test_question_mark_opens_the_shortcut_list_and_escape_returns_focus(
    asgi_server, admin_member, conversations, browser_page
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.keyboard.press("j")
    focused = page.evaluate("document.activeElement.textContent.trim()")

    page.keyboard.press("?")

    dialog = page.locator("dialog#shortcuts-dialog[open]")
    dialog.wait_for()
    assert dialog.get_attribute("aria-labelledby") == "shortcuts-title"
    keys = dialog.locator("kbd").all_inner_texts()
    assert keys == ["j", "k", "Enter", "r", "e", "a", "l", "s", "/", "?"]
    # Shortcuts sleep while the dialog is open.
    page.keyboard.press("j")
    assert cursor_name(page) == "Cleo"
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.textContent.trim()") == focused


def test_r_focuses_the_reply_and_keys_typed_in_it_stay_text(
    asgi_server, admin_member, conversations, browser_page
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.goto(f"{asgi_server.url}/conversations/{conversations[0].pk}/")
    page.wait_for_selector("body[data-live=connected]")
    status = page.locator("#conversation-status")

    page.keyboard.press("r")

    assert page.evaluate("document.activeElement.id") == "reply-text"
    page.keyboard.type("jk?e r")
    assert page.input_value("#reply-text") == "jk?e r"
    assert page.locator("dialog[open]").count() == 0
    assert status.inner_text() == "Open"
    # Out of the field, e resolves the conversation; with Ctrl it does not.
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Control+e")
    page.wait_for_timeout(300)
    assert status.inner_text() == "Open"
    page.keyboard.press("e")
    expect(page.locator("#conversation-status")).to_have_text("Resolved")


def test_a_customer_message_shows_a_browser_notification_and_counts_in_the_title(
    asgi_server, tasks, admin_member, conversations, browser
):
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=asgi_server.url)
    context.add_init_script(CAPTURE_NOTIFICATIONS)
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, asgi_server, admin_member)
    channel = conversations[0].channel
    customer = InboundContact(external_id="777", name="Dora Customer")

    in_another_thread(
        lambda: ingest(
            channel=channel,
            items=[
                InboundMessage(
                    platform_message_id="n1",
                    contact=customer,
                    text="My parcel arrived broken",
                    sent_at=datetime.now(UTC),
                    thread_key="dm:777",
                )
            ],
        )
    )

    # (wait_for_function evaluates a string: the page's CSP forbids it.)
    wait_for(lambda: page.evaluate("window.shown.length") == 1, timeout=20)
    [shown] = page.evaluate("window.shown")
    assert shown["title"] == "New conversation from Dora Customer"
    assert shown["body"] == "My parcel arrived broken"
    assert shown["tag"].startswith("conversation-")
    # The page is not focused (headless, no window focus): counted in the tab.
    if not page.evaluate("document.hasFocus()"):
        assert page.title() == "(1) Inbox · PingBack"
    context.close()


def test_preferences_are_saved_without_reload_and_persist(
    asgi_server, admin_member, browser_page
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.goto(f"{asgi_server.url}/settings/preferences/")
    page.evaluate("window.notReloaded = true")
    sound = page.get_by_role("switch", name="Sound")
    reply = page.get_by_role("switch", name="Customer replies")
    assert sound.is_checked() is False and reply.is_checked() is True
    assert page.locator("[data-no-script-save]").is_hidden()

    # Keyboard: Tab to the switch, Space toggles it.
    sound.focus()
    page.keyboard.press("Space")
    page.locator("#save-status", has_text="Sound: on. Saved.").wait_for()
    reply.click()
    page.locator("#save-status", has_text="Customer replies: off. Saved.").wait_for()

    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate("document.body.dataset.notifySound") == "1"
    member = in_another_thread(lambda: Member.objects.get(pk=admin_member.pk))
    assert (member.notify_sound, member.notify_customer_reply) == (True, False)
    page.reload()
    assert page.get_by_role("switch", name="Sound").is_checked() is True
    assert page.get_by_role("switch", name="Customer replies").is_checked() is False
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(
            path=f"{SCREENSHOTS}/pingback-preferences-{width}.png", full_page=True
        )


@pytest.fixture
def just_now(admin_member):
    # Made before Playwright starts (see the `browser` fixture).
    return ConversationFactory(
        business=admin_member.business,
        contact__name="Eve",
        last_message_at=timezone.now(),
    )


def test_times_read_just_now_then_a_minute_later_1_min(
    asgi_server, admin_member, just_now, browser_page
):
    conversation = just_now
    page = browser_page
    page.clock.install()
    log_in(page, asgi_server, admin_member)
    time = page.locator(f"#conversation-{conversation.pk} time[data-relative]")
    assert time.inner_text() == "just now"
    assert time.get_attribute("title")  # the full date and time

    # Jumps the page's clock (its 30 s refresh fires) without waiting.
    page.clock.fast_forward(61_000)

    assert time.inner_text() == "1 min"
    page.close()


def test_times_js_follows_the_same_rule_as_the_server(
    asgi_server, admin_member, browser
):
    from conversations.tests.test_times_and_preferences import NOW, TIME_CASES

    context = browser.new_context(timezone_id="Europe/Lisbon")
    page = context.new_page()
    log_in(page, asgi_server, admin_member)
    cases = [[(NOW - ago).isoformat(), shown] for ago, shown in TIME_CASES]

    got = page.evaluate(
        """([now, cases]) => cases.map(([iso]) =>
             window.PingBack.times.shortTime(new Date(iso), new Date(now)))""",
        [NOW.isoformat(), cases],
    )

    assert got == [shown for _, shown in cases]
    assert page.evaluate(
        "now => window.PingBack.times.fullTime(new Date(now))", NOW.isoformat()
    ) == ("Sat 5 Dec 2026, 14:30")
    context.close()


def customer_writes(conversation, pid: str, text: str) -> None:
    identity = conversation.contact_identity
    in_another_thread(
        lambda: ingest(
            channel=conversation.channel,
            items=[
                InboundMessage(
                    platform_message_id=pid,
                    contact=InboundContact(
                        external_id=identity.external_id,
                        name=conversation.contact.name,
                    ),
                    text=text,
                    sent_at=datetime.now(UTC),
                    thread_key=conversation.thread_key,
                )
            ],
        )
    )


@pytest.fixture
def mine(admin_member, conversations):
    """Cleo's and Bea's conversations, assigned to the agent, each with an
    earlier message (made before Playwright starts)."""
    for conversation in conversations[:2]:
        conversation.assignee = admin_member.user
        conversation.save()
        MessageFactory(conversation=conversation, text="Earlier message")
    return conversations[:2]


def test_no_notification_for_the_open_conversation_and_a_click_opens_the_other(
    asgi_server, tasks, admin_member, mine, browser
):
    cleo, bea = mine
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=asgi_server.url)
    context.add_init_script(CAPTURE_NOTIFICATIONS)
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, asgi_server, admin_member)
    page.goto(f"{asgi_server.url}/conversations/{cleo.pk}/")
    page.wait_for_selector("body[data-live=connected]")

    customer_writes(cleo, "c1", "Cleo again, in the open thread")
    page.locator(
        "#thread-container", has_text="Cleo again, in the open thread"
    ).wait_for()
    customer_writes(bea, "b1", "Bea here, elsewhere")

    wait_for(lambda: page.evaluate("window.shown.length") >= 1, timeout=20)
    assert page.evaluate("window.shown") == [
        {
            "title": "Bea replied",
            "body": "Bea here, elsewhere",
            "tag": f"conversation-{bea.pk}",
        }
    ]
    page.evaluate("window.shownObjects[0].onclick()")
    page.wait_for_url(f"**/conversations/{bea.pk}/")
    context.close()

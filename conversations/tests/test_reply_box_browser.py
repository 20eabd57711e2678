"""The reply box in a real browser (Debian's Chromium driven by Playwright)
against PingBack served by uvicorn: `/` canned responses, drafts kept across a
reload, live limits, refusals that keep what was typed and chosen, private
notes, Ctrl+Enter; and screenshots at desktop and phone widths."""

from __future__ import annotations

import os
import threading

import pytest
from django.db import connections
from playwright.sync_api import expect

from channels_app.tests.factories import ChannelFactory
from conversations.models import Message
from conversations.tests.factories import ConversationFactory
from pingback.testing import wait_for
from sandbox.platforms.telegram.standin import DEMO_BOT, DEMO_CUSTOMER
from workspace.tests.factories import CannedResponseFactory

PASSWORD = "correct horse battery"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def conversation(admin_member, sandbox):
    """Casey's Telegram chat (made before Playwright starts: see `browser`)."""
    admin_member.user.first_name, admin_member.user.last_name = "Ada", "Agent"
    admin_member.user.save()
    business = admin_member.business
    channel = ChannelFactory(
        business=business,
        type="telegram",
        secrets={"bot_token": DEMO_BOT.token, "webhook_secret": "s" * 40},
        config={"bot_id": "7000000001", "bot_username": DEMO_BOT.username},
    )
    sandbox.telegram.open_chat(DEMO_CUSTOMER)
    conversation = ConversationFactory(
        business=business,
        channel=channel,
        contact__name="Casey Customer",
        thread_key=f"chat:{DEMO_CUSTOMER.id}",
    )
    CannedResponseFactory(
        business=business,
        short_code="refund",
        content="Hi {{contact.name}}, {{agent.name}} here: your refund is on its way.",
    )
    CannedResponseFactory(business=business, short_code="hello", content="Hello!")
    return conversation


@pytest.fixture
def page(conversation, admin_member, asgi_server, browser_page):
    """The agent, logged in, on the conversation's page. The rows come first:
    the ORM inside Playwright's greenlet would open a connection that outlives
    the test database."""
    page = browser_page
    page.goto(
        f"{asgi_server.url}/accounts/login/?next=/conversations/{conversation.pk}/"
    )
    page.fill("input[name=username]", admin_member.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#reply-form[data-reply-box-ready=true]")
    page.evaluate("localStorage.clear()")
    return page


def outbound():
    """The conversation's outbound messages, read outside Playwright's thread
    (there the ORM would open a connection that outlives the test database)."""
    result = []

    def run() -> None:
        try:
            result.append(
                list(Message.objects.filter(direction="outbound").order_by("pk"))
            )
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert result, "reading the messages failed or timed out"
    return result[0]


def test_slash_inserts_a_canned_response_with_its_variables_filled(page, conversation):
    box = page.locator("#reply-text")
    box.press_sequentially("Thanks! /ref")

    listbox = page.locator("[role=listbox]")
    listbox.locator("[role=option]").first.wait_for()
    assert listbox.locator("[role=option]").count() == 1
    assert page.locator(".reply-compose").get_attribute("aria-expanded") == "true"
    assert box.get_attribute("aria-activedescendant")
    box.press("Enter")

    assert box.input_value() == (
        "Thanks! Hi Casey Customer, Ada Agent here: your refund is on its way."
    )
    assert listbox.is_hidden()


def test_the_listbox_works_with_arrows_escape_and_the_mouse(page):
    box = page.locator("#reply-text")
    box.press_sequentially("/")
    options = page.locator("[role=listbox] [role=option]")
    options.nth(1).wait_for()
    assert options.nth(0).get_attribute("aria-selected") == "true"
    box.press("ArrowDown")
    assert options.nth(1).get_attribute("aria-selected") == "true"
    box.press("Escape")
    assert page.locator("[role=listbox]").is_hidden()
    assert box.input_value() == "/"

    box.press_sequentially("hel")
    page.locator("[role=option]", has_text="/hello").click()

    assert box.input_value() == "Hello!"
    # A slash inside a word opens nothing.
    box.press_sequentially(" and/or")
    page.wait_for_timeout(400)
    assert page.locator("[role=listbox]").is_hidden()


def test_the_draft_is_kept_after_a_reload_and_cleared_after_sending(page, sandbox):
    page.fill("#reply-text", "Half-written answer about order #4411")
    page.reload()
    page.wait_for_selector("#reply-form[data-reply-box-ready=true]")

    assert page.locator("#reply-text").input_value() == (
        "Half-written answer about order #4411"
    )
    assert page.locator(".reply-counter").inner_text() == "37 / 4,096"

    page.click("#reply-form button[type=submit]")
    wait_for(lambda: outbound() or None)
    expect(page.locator("#reply-text")).to_have_value("")
    page.reload()
    page.wait_for_selector("#reply-form[data-reply-box-ready=true]")
    assert page.locator("#reply-text").input_value() == ""


def test_the_counter_follows_the_text_and_turns_red_over_the_limit(page):
    counter = page.locator(".reply-counter")
    page.fill("#reply-text", "x" * 1234)
    assert counter.inner_text() == "1,234 / 4,096"
    assert "over" not in (counter.get_attribute("class") or "")
    assert page.locator(".reply-send").is_enabled()

    page.fill("#reply-text", "x" * 4100)

    assert counter.inner_text() == "4,100 / 4,096"
    assert "over" in counter.get_attribute("class")
    assert page.locator(".reply-send").is_disabled()
    assert page.locator(".reply-blocked").inner_text() == (
        "Telegram messages are limited to 4,096 characters; this reply has 4,100."
    )


def test_a_file_over_the_limit_is_not_attached(page, tmp_path):
    page.evaluate("document.querySelector('#reply-form').dataset.maxFileBytes = '1000'")
    page.locator(".reply-files-input").set_input_files(
        [
            {"name": "small.txt", "mimeType": "text/plain", "buffer": b"s" * 10},
            {"name": "huge.pdf", "mimeType": "application/pdf", "buffer": b"h" * 2000},
        ]
    )

    assert page.locator(".reply-file-name").all_inner_texts() == ["small.txt"]
    assert page.locator(".reply-error").inner_text() == (
        "huge.pdf is 2 KB; Telegram takes files up to 1000 bytes. It was not attached."
    )


def test_a_refused_reply_keeps_its_text_and_files(page, settings, sandbox):
    # The server's limits are stricter than the page knew (e.g. changed since
    # it was loaded): the box must not lose anything.
    settings.MEDIA_MAX_BYTES = 1000
    page.fill("#reply-text", "Here is the label")
    page.locator(".reply-files-input").set_input_files(
        [{"name": "label.pdf", "mimeType": "application/pdf", "buffer": b"p" * 2000}]
    )
    page.click("#reply-form button[type=submit]")

    error = page.locator(".reply-error[role=alert]")
    error.wait_for()
    assert (
        error.inner_text()
        == "Telegram takes files up to 1000 bytes; label.pdf is 2 KB."
    )
    assert page.locator("#reply-text").input_value() == "Here is the label"
    assert page.locator(".reply-file-name").all_inner_texts() == ["label.pdf"]
    assert outbound() == []
    assert sandbox.telegram.sent == []

    page.evaluate("document.querySelector('#reply-form').dataset.maxLength = '9999'")
    page.fill("#reply-text", "t" * 4097)
    page.locator(".reply-file-remove").click()
    page.click("#reply-form button[type=submit]")

    expect(error).to_contain_text("4,097")
    assert error.inner_text() == (
        "Telegram messages are limited to 4,096 characters; this reply has 4,097."
    )
    assert page.locator("#reply-text").input_value() == "t" * 4097
    assert outbound() == []


def test_the_note_toggle_posts_a_private_note_that_is_never_sent(page, sandbox):
    note = page.locator(".reply-mode-button[data-mode=note]")
    note.focus()
    page.keyboard.press("Enter")

    assert note.get_attribute("aria-pressed") == "true"
    assert (
        page.locator(".reply-mode-button[data-mode=reply]").get_attribute(
            "aria-pressed"
        )
        == "false"
    )
    assert page.locator(".reply-send").inner_text() == "Add note"
    assert "private note" in page.locator("#reply-text").get_attribute("placeholder")
    assert page.locator("#reply-form").get_attribute("data-mode") == "note"

    page.fill("#reply-text", "VIP: offer the express option")
    page.click("#reply-form button[type=submit]")

    [message] = wait_for(lambda: outbound() or None)
    assert (message.kind, message.text, message.status) == (
        "note",
        "VIP: offer the express option",
        "received",
    )
    page.locator("li.message.note", has_text="VIP: offer the express option").wait_for()
    assert sandbox.telegram.sent == []


def test_ctrl_enter_sends_and_announces_the_reply(page, sandbox, conversation):
    page.evaluate(
        "document.addEventListener('pingback:replied', "
        "e => { window.replied = e.detail })"
    )
    page.fill("#reply-text", "A replacement ships today.")
    page.locator("#reply-text").press("Control+Enter")

    [message] = wait_for(lambda: outbound() or None)
    expect(page.locator("#reply-text")).to_have_value("")
    assert page.evaluate("window.replied") == {
        "conversationId": conversation.pk,
        "messageId": message.pk,
    }
    assert page.locator("#reply-text").input_value() == ""
    wait_for(lambda: sandbox.telegram.sent or None)
    assert [s["text"] for s in sandbox.telegram.sent] == ["A replacement ships today."]
    page.locator(
        "li.message.outbound", has_text="A replacement ships today."
    ).wait_for()


def test_a_box_swapped_in_later_is_initialised(page, conversation):
    page.fill("#reply-text", "kept across the swap")
    page.evaluate(
        """(id) => {
            const box = document.querySelector('.reply-box');
            const html = box.outerHTML;
            box.remove();
            document.querySelector('.composer')
                .insertAdjacentHTML('beforeend', html);
            document.dispatchEvent(new CustomEvent('pingback:pane-loaded',
                {detail: {conversationId: id}}));
        }""",
        conversation.pk,
    )

    assert page.locator("#reply-text").input_value() == "kept across the swap"
    assert page.locator(".reply-counter").inner_text() == "20 / 4,096"


@pytest.mark.parametrize("width", [1440, 390])
def test_screenshot_with_a_long_draft(page, width, tmp_path):
    page.set_viewport_size({"width": width, "height": 900})
    page.fill("#reply-text", ("We are sorry about order #4411. " * 140).strip())
    page.locator(".reply-files-input").set_input_files(
        [
            {
                "name": "shipping-label-4411.pdf",
                "mimeType": "application/pdf",
                "buffer": b"p" * 48_000,
            },
            {"name": "parcel.png", "mimeType": "image/png", "buffer": b"i" * 2_400_000},
        ]
    )
    page.locator(".reply-box").scroll_into_view_if_needed()
    box = page.locator(".reply-box").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    page.screenshot(
        path=os.environ.get("PINGBACK_SCREENSHOT_DIR", str(tmp_path))
        + f"/reply-box-{width}.png",
        full_page=True,
    )
    page.fill("#reply-text", "")
    page.locator(".reply-file-remove").first.click()
    page.locator(".reply-file-remove").first.click()
    page.click(".reply-mode-button[data-mode=note]")
    page.locator("#reply-text").press_sequentially("Customer asked twice /")
    page.locator("[role=option]").nth(1).wait_for()
    page.screenshot(
        path=os.environ.get("PINGBACK_SCREENSHOT_DIR", str(tmp_path))
        + f"/reply-box-note-{width}.png",
        full_page=True,
    )

"""The customer panel in a real browser: the suggested merge in one click,
attributes edited in place with the keyboard, at 1440 and 390 px."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from channels_app.tests.factories import ChannelFactory
from contacts.services.contacts import contact_create
from conversations.models import Contact, Conversation
from conversations.services import conversation_update
from conversations.tests.factories import ContactIdentityFactory, ConversationFactory
from conversations.tests.test_workspace_browser import log_in
from pingback.axe import axe_violations
from pingback.testing import in_another_thread

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("PINGBACK_SCREENSHOTS", "/tmp/pingback-panel"))
HOSTILE = "<script>alert(1)</script> ‮שלום עולם " + "W" * 5000


@pytest.fixture
def twins(admin_member):
    """Ana on X and, as another contact, the same Ana on Telegram (the same
    e-mail address typed differently), with long and hostile details."""
    business = admin_member.business
    ana = contact_create(
        business=business,
        name="Ana",
        emails=["ana@example.com"],
        custom_attributes={"plan": "gold", "motto": HOSTILE[:1000]},
        note=HOSTILE,
    )
    twin = contact_create(
        business=business,
        name="Ana Lima " + "L" * 180,
        emails=["ANA@example.com"],
        phones=["+351912345678"],
        custom_attributes={"plan": "silver"},
    )
    x_channel = ChannelFactory(business=business)
    telegram = ChannelFactory(business=business, type="telegram")
    conversation = ConversationFactory(
        business=business,
        channel=x_channel,
        contact=ana,
        contact_identity=ContactIdentityFactory(
            contact=ana, channel=x_channel, handle="ana_on_x"
        ),
        last_message_preview="hello from x",
    )
    theirs = ConversationFactory(
        business=business,
        channel=telegram,
        contact=twin,
        contact_identity=ContactIdentityFactory(
            contact=twin, channel=telegram, handle="ana_on_telegram"
        ),
        last_message_preview="hello from telegram",
    )
    return {"ana": ana, "twin": twin, "conversation": conversation, "theirs": theirs}


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def _open(page, server, member, conversation, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, server, member)
    page.goto(f"{server.url}/conversations/{conversation.pk}/")
    page.wait_for_selector("body[data-live=connected]")
    if width < 1100:
        page.locator("#thread-header [data-panel-toggle]").click()
    panel = page.locator("#customer-panel")
    expect(panel.locator(".customer-panel")).to_be_visible()
    return panel


@pytest.mark.parametrize("width", [1440, 390])
def test_the_agent_merges_a_suggested_contact_in_one_click(
    asgi_server, admin_member, twins, browser_page, width
):
    page = browser_page
    panel = _open(page, asgi_server, admin_member, twins["conversation"], width)
    suggestion = panel.locator(".panel-merge")
    expect(suggestion).to_contain_text("Same person as Ana Lima")
    expect(suggestion).to_contain_text("e-mail ana@example.com")
    assert page_width(page) <= width
    shot(page, f"{width}-suggestion")

    suggestion.get_by_role("button", name="Review merge").click()
    preview = suggestion.locator(".panel-merge-preview")
    expect(preview).to_contain_text("1 telegram identity")
    expect(preview).to_contain_text("plan: keeps gold; silver goes into the note")
    merge = preview.get_by_role("button", name="Merge")
    expect(merge).to_be_focused()
    assert axe_violations(page) == []
    shot(page, f"{width}-preview")

    merge.press("Enter")
    expect(panel.locator(".panel-merge")).to_have_count(0)
    details = panel.locator(".panel-details")
    expect(details).to_contain_text("@ana_on_x")
    expect(details).to_contain_text("@ana_on_telegram")
    expect(details).to_contain_text("+351 912 345 678")
    expect(panel.locator(".panel-conversations")).to_contain_text("hello from telegram")
    expect(panel.locator(".panel-note")).to_contain_text("silver")
    assert not Contact.objects.filter(pk=twins["twin"].pk).exists()
    assert page_width(page) <= width
    assert axe_violations(page) == []
    shot(page, f"{width}-merged")


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_attributes_are_edited_in_place_with_the_keyboard(
    asgi_server, admin_member, twins, browser_page
):
    page = browser_page
    panel = _open(page, asgi_server, admin_member, twins["conversation"], 1440)
    value = panel.locator('[data-attribute-key="plan"]')
    value.focus()
    page.keyboard.press("Enter")
    field = panel.get_by_label("plan", exact=True)
    expect(field).to_be_focused()
    field.fill("platinum")
    field.press("Enter")
    expect(panel.locator('[data-attribute-key="plan"]')).to_have_text(
        "Edit plan: platinum"
    )
    expect(panel.locator('[data-attribute-key="plan"]')).to_be_focused()
    twins["ana"].refresh_from_db()
    assert twins["ana"].custom_attributes["plan"] == "platinum"

    # Escape leaves the value as it was.
    panel.locator('[data-attribute-key="plan"]').press("Enter")
    field = panel.get_by_label("plan", exact=True)
    field.fill("changed my mind")
    field.press("Escape")
    expect(panel.locator('[data-attribute-key="plan"]')).to_have_text(
        "Edit plan: platinum"
    )

    # A refused key keeps what was typed and says why.
    panel.get_by_role("button", name="Add attribute").click()
    key = panel.locator("#attribute-new-key")
    expect(key).to_be_focused()
    key.fill("Shoe Size")
    panel.locator("#attribute-new-value").fill("38")
    panel.locator("#attribute-new-value").press("Enter")
    form = panel.locator("#attribute-form-new")
    expect(form.get_by_role("alert")).to_contain_text("lowercase")
    expect(key).to_have_value("Shoe Size")
    expect(panel.locator("#attribute-new-value")).to_have_value("38")
    shot(page, "1440-refused")
    key.fill("shoe_size")
    key.press("Enter")
    expect(panel.locator('[data-attribute-key="shoe_size"]')).to_have_text(
        "Edit shoe_size: 38"
    )
    expect(panel.locator('[data-attribute-key="shoe_size"]')).to_be_focused()

    # Remove a key.
    panel.locator('[data-attribute-key="shoe_size"]').press("Enter")
    panel.locator("form:not([hidden])").get_by_role("button", name="Remove").click()
    expect(panel.locator('[data-attribute-key="shoe_size"]')).to_have_count(0)
    twins["ana"].refresh_from_db()
    assert "shoe_size" not in twins["ana"].custom_attributes
    assert axe_violations(page) == []


def test_a_live_update_does_not_wipe_what_the_agent_types(
    asgi_server, admin_member, twins, browser_page
):
    page = browser_page
    conversation = twins["conversation"]
    panel = _open(page, asgi_server, admin_member, conversation, 1440)
    panel.locator('[data-attribute-key="plan"]').press("Enter")
    field = panel.get_by_label("plan", exact=True)
    field.fill("half typed")

    # Another agent changes the conversation: the page hears of it.
    in_another_thread(
        lambda: conversation_update(
            conversation=Conversation.objects.get(pk=conversation.pk),
            by=admin_member.user,
            status=Conversation.Status.PENDING,
        )
    )
    expect(page.locator("#thread-container")).to_contain_text("pending")
    # The header (and, without an edit open, the panel) is fetched again.
    expect(page.locator("#conversation-status")).to_have_text("Pending")
    expect(field).to_have_value("half typed")
    expect(field).to_be_focused()

    # Once saved, the panel is current again.
    field.press("Enter")
    expect(panel.locator('[data-attribute-key="plan"]')).to_have_text(
        "Edit plan: half typed"
    )


def test_the_note_is_edited_in_place_at_390_px(
    asgi_server, admin_member, twins, browser_page
):
    page = browser_page
    panel = _open(page, asgi_server, admin_member, twins["conversation"], 390)
    panel.get_by_role("button", name="Edit note").click()
    note = panel.get_by_label("Note on this contact")
    expect(note).to_be_focused()
    note.fill("Call before noon.\nSpeaks Portuguese. " + "Z" * 3000)
    assert page_width(page) <= 390
    shot(page, "390-note-edit")
    panel.locator("#note-form").get_by_role("button", name="Save").click()
    expect(panel.locator(".panel-note")).to_contain_text("Call before noon.")
    expect(panel.get_by_role("button", name="Edit note")).to_be_focused()
    twins["ana"].refresh_from_db()
    assert twins["ana"].note.startswith("Call before noon.\nSpeaks Portuguese.")
    assert axe_violations(page) == []
    shot(page, "390-note-saved")

"""The inbox in Spanish in a real browser (Chromium, Playwright): a member who
chose Spanish gets the page, the list, the thread and the scripts' texts
(live status, relative times, shortcuts) in Spanish, and the longer Spanish
words never widen the page or spill out of the buttons, at 1440 and 390 px."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.tests import test_live_browser as live_browser
from conversations.tests.factories import ConversationFactory, MessageFactory
from workspace.models import Label, Team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
SHOTS = Path(os.environ.get("PINGBACK_SCREENSHOTS", "/tmp/shots-i18n"))

# Elements whose text is the interface's (not the customers'): none may be
# cut off or pushed past the right edge.
OVERFLOW_CHECK = """(width) => {
  const bad = [];
  const selectors = [
    ".topbar nav a", ".topbar nav button", ".views .view-tab", ".filter-bar .chip",
    ".thread-actions .button", ".reply-mode-button", ".reply-send", ".search-box button"
  ];
  for (const selector of selectors) {
    for (const element of document.querySelectorAll(selector)) {
      const box = element.getBoundingClientRect();
      if (!box.width || !element.offsetParent) { continue; }
      let scroller = element.parentElement;
      const scrolls = (e) => ["auto", "scroll"].includes(getComputedStyle(e).overflowX);
      while (scroller && !scrolls(scroller)) {
        scroller = scroller.parentElement;
      }
      const clipped = element.scrollWidth > element.clientWidth + 1 &&
        getComputedStyle(element).overflow !== "visible";
      const outside = !scroller && box.right > width + 1;
      if (clipped || outside) {
        bad.push(selector + ": " + element.textContent.trim());
      }
    }
  }
  // The view tabs' strip hides its scrollbar: every tab must show.
  for (const strip of document.querySelectorAll(".views")) {
    if (strip.scrollWidth > strip.clientWidth + 1) {
      bad.push(".views: " + strip.textContent.trim());
    }
  }
  return bad;
}"""


@pytest.fixture
def spanish_inbox(admin_member):
    """Ana, who chose Spanish, and a conversation with a fresh message."""
    admin_member.language = "es"
    admin_member.save(update_fields=["language"])
    admin_member.user.first_name, admin_member.user.last_name = "Ana", "Silva"
    admin_member.user.save()
    business = admin_member.business
    Team.objects.create(business=business, name="Soporte").members.add(admin_member)
    Label.objects.create(business=business, name="vip", color="#d97706")
    conversation = ConversationFactory(
        business=business,
        contact__name="Lucía Fernández",
        last_message_at=timezone.now() - timedelta(seconds=20),
        unread_count=1,
    )
    MessageFactory(
        conversation=conversation,
        text="Hola, mi pedido no ha llegado.",
        sent_at=timezone.now() - timedelta(seconds=20),
    )
    return conversation


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1440, 390])
def test_the_inbox_in_spanish(
    asgi_server, admin_member, spanish_inbox, browser_page, width
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": 860})
    page.goto(f"{asgi_server.url}/accounts/login/?next=/")
    page.fill("input[name=username]", admin_member.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-live=connected]")

    assert page.locator("html").get_attribute("lang") == "es"
    # Server-rendered texts...
    expect(page.locator(".topbar nav")).to_contain_text("Bandeja de entrada")
    expect(page.locator(".views")).to_contain_text("Mías")
    expect(page.locator(".views")).to_contain_text("Sin asignar")
    # ...and the scripts' (the JavaScript catalogue): live status, times.
    expect(page.locator("#live-status")).to_have_text("En directo")
    row = page.locator(f"#conversation-{spanish_inbox.pk}")
    expect(row.locator("time")).to_have_text("ahora mismo")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate(OVERFLOW_CHECK, width) == []
    nav = page.locator(".topbar nav")
    if width == 390:
        # The bar's links scroll sideways on a phone: the edge where links
        # are hidden fades, and the other edge once scrolled to the end.
        expect(nav).to_have_class(re.compile(r"\bnav-more\b"))
        nav.evaluate("n => { n.scrollLeft = n.scrollWidth; }")
        expect(nav).to_have_class(re.compile(r"\bnav-less\b"))
        expect(nav).not_to_have_class(re.compile(r"\bnav-more\b"))
        nav.evaluate("n => { n.scrollLeft = 0; }")
    else:
        expect(nav).not_to_have_class(re.compile(r"nav-(more|less)"))
    shot(page, f"{width}-list")

    row.locator(".row-link").click()
    page.locator("#thread-container .message").first.wait_for()
    actions = page.locator(".thread-actions")
    expect(actions).to_contain_text("Resolver")
    expect(actions).to_contain_text("Posponer")
    expect(page.locator("#reply-text")).to_have_attribute(
        "placeholder",
        "Responder por X (Twitter)… Escribe / para las respuestas predefinidas",
    )
    # Numbers as Spanish writes them (X's 10,000-character limit).
    expect(page.locator(".reply-counter")).to_have_text("0 / 10.000")
    # The message's day and time: day first, the month in Spanish.
    stamp = page.locator("#thread-container .message time").first.inner_text()
    assert re.fullmatch(r"\d{1,2} [a-zñ]{3,4}\.?, \d\d:\d\d", stamp), stamp
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate(OVERFLOW_CHECK, width) == []
    shot(page, f"{width}-thread")

    # The reply box's note mode swaps in its Spanish texts from the markup.
    page.locator(".reply-mode-button[data-mode=note]").click()
    expect(page.locator(".reply-send")).to_have_text("Añadir nota")

    # The shortcuts dialog is built by script, in Spanish.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("?")
    dialog = page.locator("#shortcuts-dialog")
    expect(dialog).to_contain_text("Atajos de teclado")
    expect(dialog).to_contain_text("Siguiente conversación de la lista")
    shot(page, f"{width}-shortcuts")


# ------------------------------------------------------------ the web widget

# The other site embedding the widget, and the widget channel (fixtures).
host_page = live_browser.host_page
widget_channel = live_browser.widget_channel


@pytest.mark.parametrize(
    ("locale", "send", "placeholder"),
    [("es-ES", "Enviar", "Escribe un mensaje…"), ("en-US", "Send", "Write a message…")],
)
def test_the_widget_follows_the_visitors_browser(
    asgi_server, host_page, widget_channel, browser, locale, send, placeholder
):
    context = browser.new_context(locale=locale, viewport={"width": 390, "height": 760})
    visitor = context.new_page()
    visitor.set_default_timeout(20_000)
    visitor.goto(host_page.origin + "/")

    launcher = visitor.locator(".launcher")
    launcher.click()
    expect(visitor.locator("form button")).to_have_text(send)
    expect(visitor.locator("textarea")).to_have_attribute("placeholder", placeholder)
    # The business's own welcome message is shown as written.
    expect(visitor.locator("li.welcome")).to_have_text(
        "Welcome to Acme Coffee! Ask us anything."
    )
    if locale == "es-ES":
        expect(launcher).to_have_attribute("aria-label", "Abrir el chat")
        assert visitor.locator("section.window").get_attribute("lang") == "es"
        shot(visitor, "390-widget")
    context.close()

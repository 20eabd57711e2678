"""The channel form of Django admin in a real browser (Debian's Chromium via
Playwright, PingBack served by uvicorn): a business admin who is not staff
logs in, chooses Telegram and sees only Telegram's settings, adds the
channel (setup runs against the sandbox stand-in), and copies the webhook
URL; the page runs under the Content-Security-Policy without a violation."""

from __future__ import annotations

import pytest

from channels_app.models import Channel
from conversations.tests.test_browser_security import SCREENSHOTS, watched_page
from sandbox.platforms.telegram.standin import DEMO_BOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


@pytest.fixture
def business_admin(admin_member):
    # Made before Playwright starts (see the `browser` fixture).
    user = admin_member.user
    user.is_staff = False
    user.save(update_fields=["is_staff"])
    return admin_member


def test_a_business_admin_adds_a_telegram_channel_in_the_browser(
    asgi_server, sandbox, business_admin, browser
):
    watched = watched_page(browser, permissions=["clipboard-write", "clipboard-read"])
    page = watched.page

    # Log in through the admin's own form.
    page.goto(f"{asgi_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", business_admin.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert "permission to view or edit anything" not in page.content()

    # Only the chosen type's settings show.
    page.goto(f"{asgi_server.url}/admin/channels_app/channel/add/")
    page.select_option("#id_type", "telegram")
    telegram = page.locator("fieldset.channel-config-telegram")
    whatsapp = page.locator("fieldset.channel-config-whatsapp")
    assert telegram.is_visible() and not whatsapp.is_visible()
    page.select_option("#id_type", "whatsapp")
    assert whatsapp.is_visible() and not telegram.is_visible()
    page.select_option("#id_type", "telegram")

    # Add it: setup runs, its outcome shows.
    page.select_option("#id_business", str(business_admin.business.pk))
    page.fill("input[name=telegram__bot_token]", DEMO_BOT.token)
    page.click("input[name=_continue]")
    page.locator(".messagelist", has_text="setup ready").wait_for()

    channel = Channel.objects.get()
    assert channel.setup_state == "ready"
    # A stored Telegram channel shows its own settings only.
    assert page.locator("fieldset.channel-config-telegram").is_visible()
    assert not page.locator("fieldset.channel-config-email").is_visible()

    # The webhook URL copies to the clipboard.
    page.click("button[data-copy-target=webhook-url]")
    page.locator("#webhook-url-done", has_text="Copied.").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == sandbox.telegram.webhook()["url"]
    assert copied.endswith(f"/api/v1/webhooks/telegram/{channel.pk}")
    assert watched.violations() == []
    page.screenshot(path=f"{SCREENSHOTS}/admin-channel-telegram.png", full_page=True)

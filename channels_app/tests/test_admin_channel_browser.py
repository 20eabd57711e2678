"""The channel form of Django admin in a real browser (Debian's Chromium via
Playwright, PingBack served by uvicorn): a business admin who is not staff
logs in, chooses Telegram and sees only Telegram's settings, adds the
channel (setup runs against the sandbox stand-in: getMe and setWebhook),
sees it ready and named after the bot, copies the webhook URL, renames it
and runs setup again (the name stays theirs); another business's admin sees
none of it. The pages run under the Content-Security-Policy without a
violation."""

from __future__ import annotations

import pytest

from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.models import Channel
from channels_app.tests.test_admin_channel_form import bot_api_calls
from conversations.tests.test_browser_security import SCREENSHOTS, watched_page
from sandbox.platforms.telegram.standin import DEMO_BOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


@pytest.fixture
def other_admin():
    """An admin of another business (made before Playwright starts)."""
    member = MemberFactory(business=BusinessFactory(plan="mini"), role="admin")
    member.user.is_staff = False
    member.user.save(update_fields=["is_staff"])
    return member


def admin_log_in(page, server, member) -> None:
    page.goto(f"{server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", member.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


@pytest.fixture
def business_admin(admin_member):
    # Made before Playwright starts (see the `browser` fixture).
    user = admin_member.user
    user.is_staff = False
    user.save(update_fields=["is_staff"])
    return admin_member


def test_a_business_admin_adds_a_telegram_channel_in_the_browser(
    asgi_server, sandbox, business_admin, other_admin, browser
):
    watched = watched_page(browser, permissions=["clipboard-write", "clipboard-read"])
    page = watched.page

    # Log in through the admin's own form.
    admin_log_in(page, asgi_server, business_admin)
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

    # Named after the bot by setup; the admin renames it.
    bot_name = channel.name
    assert bot_name and DEMO_BOT.username in bot_name
    assert page.input_value("input[name=name]") == bot_name
    page.fill("input[name=name]", "Support bot (EU)")
    page.click("input[name=_continue]")
    page.locator(".messagelist", has_text="setup ready").wait_for()
    channel.refresh_from_db()
    assert channel.name == "Support bot (EU)"

    # Run setup again from the list: the platform is asked again, the
    # typed name stays, and the list shows it.
    calls = bot_api_calls(sandbox).count("setWebhook")
    page.goto(f"{asgi_server.url}/admin/channels_app/channel/")
    assert page.locator("#result_list", has_text="Support bot (EU)").is_visible()
    page.check(f"input[name=_selected_action][value='{channel.pk}']")
    page.select_option("select[name=action]", "recheck_setup")
    page.click("button[name=index]")
    page.locator(".messagelist", has_text="setup ready").wait_for()
    assert bot_api_calls(sandbox).count("setWebhook") == calls + 1
    channel.refresh_from_db()
    assert (channel.setup_state, channel.name) == ("ready", "Support bot (EU)")
    assert watched.violations() == []

    # Another business's admin sees none of it: an empty list, and 404 for
    # the channel's own page.
    other = watched_page(browser).page
    admin_log_in(other, asgi_server, other_admin)
    other.goto(f"{asgi_server.url}/admin/channels_app/channel/")
    assert "0 channels" in other.content()
    assert "Support bot" not in other.content()
    answer = other.goto(
        f"{asgi_server.url}/admin/channels_app/channel/{channel.pk}/change/"
    )
    assert answer.status == 404
    assert "Support bot" not in other.content()

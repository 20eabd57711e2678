"""The channel settings pages in a real browser (Debian's Chromium via
Playwright, PingBack served by uvicorn, the platform sandbox over HTTP): a
business admin adds a Telegram channel through the in-app form (the
sandbox is asked getMe and setWebhook), sees it ready, copies its webhook
URL, renames it and runs setup again; another business's admin sees none
of it. The pages fit 1440 and 390 px windows with long and hostile names,
pass axe and the Content-Security-Policy (screenshots in
PINGBACK_SCREENSHOT_DIR, default /tmp)."""

from __future__ import annotations

import os

import pytest

from billing.tests.factories import MemberFactory
from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.test_admin_channel_form import bot_api_calls
from conversations.tests.test_browser_security import watched_page
from conversations.tests.test_live_browser import log_in
from pingback.axe import axe_violations
from sandbox.platforms.telegram.standin import DEMO_BOT
from workspace.tests.test_settings_browser import assert_fits

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("PINGBACK_SCREENSHOT_DIR", "/tmp")
RLO = "\u202e"
HOSTILE_NAME = f"<script>alert(1)</script> {RLO}evil name " + "W" * 150


@pytest.fixture
def other_admin():
    # Made before Playwright starts (see the `browser` fixture).
    return MemberFactory(role="admin")


def test_an_admin_adds_renames_and_sets_up_a_telegram_channel(
    asgi_server, sandbox, admin_member, other_admin, browser
):
    watched = watched_page(browser, permissions=["clipboard-write", "clipboard-read"])
    page = watched.page
    log_in(page, asgi_server, admin_member)

    # From the settings tabs to Telegram's own form.
    page.goto(f"{asgi_server.url}/settings/teams/")
    page.click(".settings-tabs >> text=Channels")
    page.locator(".settings-empty").wait_for()
    page.click("text=Add a channel")
    page.click("a[data-channel-type=telegram]")
    assert page.locator("input[name=telegram__bot_token]").get_attribute("type") == (
        "password"
    )
    assert axe_violations(page) == []

    # A malformed token: refused beside its field in the platform's words.
    page.fill("input[name=name]", "Typed before the refusal")
    page.fill("input[name=telegram__bot_token]", "not-a-token")
    page.click("main button[type=submit]")
    error = page.locator("#id_telegram__bot_token_error")
    error.wait_for()
    assert "Expected a bot token like 123456:ABC-DEF..." in error.inner_text()
    described = page.locator("#id_telegram__bot_token").get_attribute(
        "aria-describedby"
    )
    assert "id_telegram__bot_token_error" in described.split()
    assert page.locator("input[name=name]").input_value() == (
        "Typed before the refusal"
    )
    assert axe_violations(page) == []
    assert Channel.objects.count() == 0
    page.fill("input[name=name]", "")

    # Add it: the token is checked and the webhook registered on "Telegram".
    page.fill("input[name=telegram__bot_token]", DEMO_BOT.token)
    page.click("main button[type=submit]")
    page.locator("#setup-state[data-setup-state=ready]").wait_for()
    channel = Channel.objects.get()
    calls = bot_api_calls(sandbox)
    assert "getMe" in calls and "setWebhook" in calls
    assert channel.business == admin_member.business
    assert page.locator(".flash").inner_text().startswith("Setup of")
    assert axe_violations(page) == []

    # The webhook URL shown is the one registered, and it copies.
    registered = sandbox.telegram.webhook()["url"]
    assert page.locator("#webhook-url").inner_text() == registered
    page.click("button[data-copy-target=webhook-url]")
    page.locator("#webhook-url-done", has_text="Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == registered

    # Rename it: no call to Telegram, the new name shows.
    before = len(sandbox.requests())
    page.click("main a:text-is('Edit')")
    page.fill("input[name=name]", "Support bot")
    page.click("main button[type=submit]")
    page.locator("#channel-name", has_text="Support bot").wait_for()
    assert len(sandbox.requests()) == before
    channel.refresh_from_db()
    assert channel.name == "Support bot"

    # Run setup again: one more setWebhook, still ready.
    webhooks = bot_api_calls(sandbox).count("setWebhook")
    page.click("#run-setup")
    page.locator(".flash", has_text="Support bot").wait_for()
    assert bot_api_calls(sandbox).count("setWebhook") == webhooks + 1
    assert page.locator("#setup-state").get_attribute("data-setup-state") == "ready"
    assert watched.violations() == []

    # Another business's admin sees none of it.
    other = browser.new_context().new_page()
    log_in(other, asgi_server, other_admin)
    for path in ("", "edit/", "delete/"):
        response = other.goto(
            f"{asgi_server.url}/settings/channels/{channel.pk}/{path}"
        )
        assert response.status == 404, path
    other.goto(f"{asgi_server.url}/settings/channels/")
    assert other.locator(".channel-row").count() == 0
    assert "Support bot" not in other.content()


@pytest.fixture
def hostile(admin_member):
    """Channels with long and hostile names, messages and alerts."""
    business = admin_member.business
    business.plan = "pro"
    business.save(update_fields=["plan"])
    telegram = ChannelFactory(
        business=business,
        type="telegram",
        name=HOSTILE_NAME,
        config={"bot_username": "b" * 5000},
        secrets={"bot_token": DEMO_BOT.token},
        setup_state="failed",
        setup_message=f"Telegram said: <b>no</b> {RLO}" + "x" * 5000,
        alert="A" * 5000,
    )
    whatsapp = ChannelFactory(
        business=business,
        type="whatsapp",
        name="و" * 200,
        config={"phone_number_id": "1" * 200},
        secrets={
            "access_token": "EAAG-long-lived-access-token-0001",
            "verify_token": "v" * 5000,
            "app_secret": "app-secret-0123456789",
        },
        setup_state="action_required",
        setup_message="Paste the callback URL and verify token in Meta's dashboard.",
    )
    ChannelFactory(business=business, name="Acme on X", is_active=False)
    return {"telegram": telegram.pk, "whatsapp": whatsapp.pk}


@pytest.mark.parametrize("width", [1440, 390])
def test_the_pages_fit_the_window_and_pass_axe_with_hostile_names(
    asgi_server, admin_member, hostile, browser_page, width
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, asgi_server, admin_member)
    pages = [
        ("list", "/settings/channels/"),
        ("new", "/settings/channels/new/"),
        ("add-telegram", "/settings/channels/new/telegram/"),
        ("add-email", "/settings/channels/new/email/"),
        ("detail-telegram", f"/settings/channels/{hostile['telegram']}/"),
        ("detail-whatsapp", f"/settings/channels/{hostile['whatsapp']}/"),
        ("edit-whatsapp", f"/settings/channels/{hostile['whatsapp']}/edit/"),
        ("delete-telegram", f"/settings/channels/{hostile['telegram']}/delete/"),
    ]
    for name, path in pages:
        page.goto(asgi_server.url + path)
        assert_fits(page, width)
        assert axe_violations(page) == [], (name, width)
        page.screenshot(
            path=f"{SCREENSHOTS}/pingback-channels-{name}-{width}.png",
            full_page=True,
            # A tall page on a busy machine takes a while to paint.
            timeout=60_000,
        )

    # The hostile name is text, not markup.
    page.goto(asgi_server.url + "/settings/channels/")
    assert page.locator(".channel-rows script").count() == 0
    assert page.get_by_text("<script>alert(1)</script>", exact=False).count() >= 1

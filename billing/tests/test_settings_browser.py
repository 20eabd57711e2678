"""The members, API token and plan settings pages and the invitation page in a
real browser: an invited agent sets a password through the e-mailed link and
lands in the inbox; a token made in settings works from the moment it is shown
until it is revoked; the plan page says what the API's 402 says; and every page
passes axe and fits the window with long and hostile content at 1440 and
390 px (screenshots in PINGBACK_SCREENSHOT_DIR, default /tmp)."""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request

import pytest
from django.core import mail

from billing.services import api_token_create, member_invite
from billing.tests.factories import MemberFactory
from channels_app.tests.factories import ChannelFactory
from conversations.tests.factories import ConversationFactory
from conversations.tests.test_live_browser import log_in
from pingback.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("PINGBACK_SCREENSHOT_DIR", "/tmp")
RLO = "\u202e"
HOSTILE = f"<script>alert(1)</script> {RLO}evil name"
LONG_WORD = "W" * 5000
NEW_PASSWORD = "a new long passphrase"
LINK = re.compile(r"https?://\S+(?P<path>/invitations/[\w-]+/)")


def api_status(server, token: str) -> int:
    """The status of `GET /api/v1/tokens/` with `token` as Bearer."""
    request = urllib.request.Request(
        f"{server.url}/api/v1/tokens/", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def assert_fits(page, width: int) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than the {width}px window"


def test_an_invited_agent_sets_a_password_and_lands_in_the_inbox(
    asgi_server, admin_member, browser_page
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.goto(asgi_server.url + "/settings/members/")
    page.fill("#email", "new.agent@example.test")
    page.select_option("#role", "agent")
    page.click("main form.settings-form button[type=submit]")
    page.get_by_text("Invitation sent to").wait_for()
    assert page.locator('[data-state="invited"]').count() == 1
    page.click("header form button[type=submit]")  # log out
    page.wait_for_url("**/accounts/login/")

    assert mail.outbox[-1].to == ["new.agent@example.test"]
    link = LINK.search(mail.outbox[-1].body)["path"]
    page.goto(asgi_server.url + link)
    assert "new.agent@example.test" in page.locator("main").inner_text()
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password2", NEW_PASSWORD)
    page.click("main button[type=submit]")

    page.wait_for_selector("body[data-live=connected]")
    assert page.url == asgi_server.url + "/"
    assert "new.agent@example.test" in page.locator("header").inner_text()
    # The link was spent.
    page.goto(asgi_server.url + link)
    assert page.get_by_text("This link does not work any more").is_visible()
    assert axe_violations(page) == []


def test_a_token_made_in_settings_works_until_revoked(
    asgi_server, admin_member, browser_page
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.goto(asgi_server.url + "/settings/tokens/")
    page.fill("#name", "CRM sync")
    page.click("main form.settings-form button[type=submit]")

    secret = page.locator("#token-secret").input_value()
    assert secret.startswith("pb_")
    assert api_status(asgi_server, secret) == 200

    page.goto(asgi_server.url + "/settings/tokens/")
    assert page.locator("#token-secret").count() == 0
    assert secret not in page.content()
    row = page.locator(".settings-row", has_text="CRM sync")
    row.get_by_role("button", name="Revoke").click()
    page.get_by_text("it no longer works").wait_for()

    assert api_status(asgi_server, secret) == 401


def test_the_plan_page_says_what_the_402_says(asgi_server, admin_member, browser_page):
    for _ in range(3):
        ChannelFactory(business=admin_member.business)
    page = browser_page
    log_in(page, asgi_server, admin_member)

    page.goto(asgi_server.url + "/settings/plan/")

    assert page.locator(".plan-usage").inner_text() == "3 of 3 channels on Mini"
    assert page.locator(".plan-refusal").inner_text() == (
        "The Mini plan allows 3 channels and this business uses 3; upgrade to "
        "Pro to add more."
    )


@pytest.fixture
def hostile(admin_member):
    """Members, tokens and channels with long and hostile content."""
    business = admin_member.business
    business.name = HOSTILE + " " + LONG_WORD[:150]
    business.save()
    admin_member.user.first_name = HOSTILE
    admin_member.user.last_name = LONG_WORD[:150]
    admin_member.user.save()
    agent = MemberFactory(
        business=business,
        user__first_name=f"{RLO}Bob",
        user__last_name=LONG_WORD[:150],
        user__username=f"{'x' * 130}@example.test",
        user__email=f"{'x' * 130}@example.test",
    )
    ConversationFactory(business=business, assignee=agent.user)
    gone = MemberFactory(business=business, user__first_name="<b>Gone</b>")
    gone.user.is_active = False
    gone.user.save()
    member_invite(
        business=business,
        email=f"{'i' * 60}@example.test",
        role="admin",
        by=admin_member,
    )
    api_token_create(member=admin_member, name=HOSTILE + LONG_WORD[:60])
    revoked, _ = api_token_create(member=admin_member, name="old")
    revoked.revoked_at = revoked.created_at
    revoked.save()
    for _ in range(2):  # and the conversation's: 3 of 3
        ChannelFactory(business=business)
    return {"agent": agent.pk}


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)])
def test_pages_fit_the_window_and_pass_axe(
    asgi_server, admin_member, hostile, browser_page, width, height
):
    _, token = member_invite(
        business=admin_member.business,
        email=f"{'n' * 60}@example.test",
        role="agent",
        by=admin_member,
    )
    page = browser_page
    page.set_viewport_size({"width": width, "height": height})
    log_in(page, asgi_server, admin_member)
    pages = [
        ("members", "/settings/members/"),
        ("deactivate", f"/settings/members/{hostile['agent']}/deactivate/"),
        ("tokens", "/settings/tokens/"),
        ("plan", "/settings/plan/"),
    ]
    for name, path in pages:
        page.goto(asgi_server.url + path)
        if name == "members":  # refused: typed text kept beside the error
            page.fill("#email", LONG_WORD + HOSTILE)
            page.click("main form.settings-form button[type=submit]")
            page.locator("#email-errors").wait_for()
        page.screenshot(
            path=f"{SCREENSHOTS}/pingback-settings-{name}-{width}.png", full_page=True
        )
        assert_fits(page, width)
        assert axe_violations(page) == [], (name, width)
        assert page.locator("main script").count() == 0

    # A token just made, shown once.
    page.goto(asgi_server.url + "/settings/tokens/")
    page.fill("#name", HOSTILE)
    page.click("main form.settings-form button[type=submit]")
    page.locator("#token-secret").wait_for()
    assert_fits(page, width)
    assert axe_violations(page) == []
    page.screenshot(
        path=f"{SCREENSHOTS}/pingback-settings-token-created-{width}.png",
        full_page=True,
    )

    # The invitation page, for someone logged out.
    page.context.clear_cookies()
    page.goto(f"{asgi_server.url}/invitations/{token}/")
    page.fill("#password", "short")
    page.fill("#password2", "short")
    page.click("main button[type=submit]")
    page.locator("#password-errors").wait_for()
    assert_fits(page, width)
    assert axe_violations(page) == []
    page.screenshot(
        path=f"{SCREENSHOTS}/pingback-invitation-{width}.png", full_page=True
    )

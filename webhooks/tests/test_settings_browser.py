"""Settings → Webhooks in a real browser: an admin registers an endpoint
and sees its secret once, reads the attempts log (status, time, the
answer's start) and sends an event again with Redeliver; the pages pass
axe and fit 1440 and 390 px windows with long and hostile content
(screenshots in PINGBACK_SCREENSHOT_DIR, default /tmp)."""

from __future__ import annotations

import os

import pytest
from standardwebhooks import Webhook

from contacts.services.contacts import contact_create
from conversations.tests.test_live_browser import log_in
from pingback.axe import axe_violations
from pingback.testing import in_another_thread, wait_for
from pingback.tests.servers import Answer
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from webhooks.services.endpoints import endpoint_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("PINGBACK_SCREENSHOT_DIR", "/tmp")
RLO = "\u202e"
HOSTILE = f"<script>alert(1)</script> {RLO}evil " + "w" * 5000


def assert_fits(page, width: int) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than the {width}px window"


@pytest.fixture
def delivered(admin_member, receiver):
    """An endpoint with a hostile description and long URL, and one event
    delivered to it (the receiver answered with hostile text)."""
    receiver.answer("/hook", Answer(200, HOSTILE.encode()))
    endpoint, _ = endpoint_create(
        business=admin_member.business,
        url=f"{receiver.url}/hook",
        events=["contact.created"],
        description=HOSTILE[:200],
    )
    endpoint_create(
        business=admin_member.business,
        url="https://example.com/" + "p" * 1900,
        events=["message.created"],
    )
    contact_create(business=admin_member.business, name="Ada")  # commits: sent
    assert WebhookAttempt.objects.filter(event__endpoint=endpoint).count() == 1
    return endpoint


@pytest.mark.parametrize("width", [1440, 390])
def test_the_attempts_log_shows_the_attempt_and_redeliver_sends_it_again(
    asgi_server, admin_member, receiver, delivered, browser_page, width
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, asgi_server, admin_member)

    page.goto(asgi_server.url + "/settings/webhooks/")
    assert page.locator("nav.settings-tabs a[aria-current=page]").inner_text() == (
        "Webhooks"
    )
    assert_fits(page, width)
    assert axe_violations(page) == []
    page.screenshot(
        path=f"{SCREENSHOTS}/pingback-settings-webhooks-list-{width}.png",
        full_page=True,
    )

    page.goto(f"{asgi_server.url}/settings/webhooks/{delivered.pk}/")
    rows = page.locator(".webhook-attempts .settings-row")
    assert rows.count() == 1
    assert "Delivered" in rows.first.inner_text()
    assert "HTTP 200" in rows.first.inner_text()
    assert rows.first.locator("time").count() == 1
    # The answer's start, as text (never markup), at most 500 characters.
    excerpt = rows.first.locator(".webhook-excerpt").inner_text()
    assert excerpt.startswith("<script>alert(1)</script>")
    assert len(excerpt) == 500
    assert page.locator(".webhook-attempts script").count() == 0
    assert_fits(page, width)
    assert axe_violations(page) == []
    page.screenshot(
        path=f"{SCREENSHOTS}/pingback-settings-webhooks-edit-{width}.png",
        full_page=True,
    )

    page.get_by_role("button", name="Redeliver").first.click()

    page.locator(".flash").wait_for()
    assert "queued for redelivery" in page.locator(".flash").inner_text()
    wait_for(lambda: len([r for r in receiver.received if r.method == "POST"]) == 2)
    page.reload()
    assert page.locator(".webhook-attempts .settings-row").count() == 2
    posts = [r for r in receiver.received if r.method == "POST"]
    assert posts[0].headers["webhook-id"] == posts[1].headers["webhook-id"]


def test_a_new_endpoint_shows_its_secret_once(
    asgi_server, admin_member, receiver, browser_page
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.goto(asgi_server.url + "/settings/webhooks/new/")
    page.click("main button[type=submit]")  # nothing filled in

    page.locator("#url-errors").wait_for()
    assert page.locator("#events-errors").is_visible()
    assert axe_violations(page) == []

    page.fill("#url", f"{receiver.url}/hook")
    page.get_by_label("Contact created").check()
    page.get_by_label("Message created").check()
    page.click("main button[type=submit]")

    secret = page.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    assert axe_violations(page) == []
    page.screenshot(path=f"{SCREENSHOTS}/pingback-settings-webhooks-secret.png")
    endpoint = in_another_thread(lambda: WebhookEndpoint.objects.get())
    assert endpoint.secrets["current"] == secret
    assert endpoint.events == ["message.created", "contact.created"]
    # The secret the admin was shown is the one that signs: the Standard
    # Webhooks reference library verifies a delivery with it.
    business = admin_member.business
    in_another_thread(lambda: contact_create(business=business, name="Ada"))
    [first] = [r for r in receiver.received if r.method == "POST"]
    assert Webhook(secret).verify(first.body, first.headers)["type"] == (
        "contact.created"
    )

    page.get_by_role("link", name="Done").click()
    assert secret not in page.content()
    page.get_by_role("button", name="Rotate secret").click()
    rotated = page.locator("#webhook-secret").inner_text()
    assert rotated.startswith("whsec_") and rotated != secret
    # Rotating sends nothing; a delivery after it verifies with the new
    # secret shown and, for a day, with the old one.
    assert in_another_thread(lambda: WebhookEvent.objects.count()) == 1
    in_another_thread(lambda: contact_create(business=business, name="Grace"))
    second = [r for r in receiver.received if r.method == "POST"][1]
    for shown in (rotated, secret):
        assert Webhook(shown).verify(second.body, second.headers)["data"]["name"] == (
            "Grace"
        )


def test_agents_are_refused(asgi_server, agent_member, browser_page):
    page = browser_page
    log_in(page, asgi_server, agent_member)
    answer = page.goto(asgi_server.url + "/settings/webhooks/")
    assert answer.status == 403
    page.goto(asgi_server.url + "/settings/teams/")
    assert page.locator("nav.settings-tabs").get_by_text("Webhooks").count() == 0

"""The inbox in a real browser (Debian's Chromium driven by Playwright): a DM
arrives, the agent opens it, replies, and watches the reply go from Queued to
Sent without reloading, while a real Celery worker sends it to the X sandbox."""

import os

import pytest
import requests

from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import fixture_bytes
from sandbox.platforms.x.payloads import sign

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def channel(admin_member):
    # Made before Playwright starts: the ORM inside its greenlet would open a
    # connection of its own that outlives the test database.
    return ChannelFactory(business=admin_member.business)


def test_agent_replies_from_the_inbox_and_sees_it_sent(
    live_server, sandbox, celery_worker, admin_member, channel, browser_page
):
    page = browser_page
    body = fixture_bytes("x", "dm__text")
    delivered = requests.post(
        f"{live_server.url}/api/v1/webhooks/x/{channel.id}",
        data=body,
        headers={
            "content-type": "application/json",
            "x-twitter-webhooks-signature": sign(body, channel.secrets["api_secret"]),
        },
        timeout=10,
    )
    assert delivered.status_code == 200

    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", admin_member.user.username)
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    row = page.locator("li.conversation-row").first
    row.wait_for()
    assert row.locator(".channel-icon.channel-x").count() == 1
    assert "Hi! My order #4411 never arrived." in row.inner_text()

    row.locator("a").click()
    page.fill("#reply-text", "A replacement ships today.")
    page.click("#reply-form button[type=submit]")

    outbound = page.locator("li.message.outbound").last
    outbound.locator(".delivery-sent").wait_for()
    assert outbound.locator(".delivery").inner_text() == "Sent"
    assert [d["text"] for d in sandbox.x.sent_dms] == ["A replacement ships today."]
    page.screenshot(
        path=os.environ.get("PINGBACK_SCREENSHOT", "/tmp/pingback-inbox.png")
    )

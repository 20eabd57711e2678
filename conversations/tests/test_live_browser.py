"""The live inbox and the web widget in a real browser (Debian's Chromium driven
by Playwright), against PingBack served by uvicorn (`pingback.asgi`), with a
real Celery worker on the broker when Redis is configured.

- A page on another origin embeds the widget; the visitor writes; the agent sees
  the conversation arrive at the top of the inbox without reloading, opens it
  and replies; the visitor sees the reply without reloading.
- An X webhook arriving while the agent has the inbox open shows up live, and
  so does the next message in the open thread.
- After the server restarts, the inbox reconnects and catches up on a message
  that arrived (through another web process) while it was disconnected.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.utils import timezone

from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import fixture_bytes
from conversations.models import Conversation, Message
from conversations.services import post_reply
from conversations.tests.factories import ConversationFactory
from pingback.testing import AsgiServer, in_another_thread, wait_for
from sandbox.platforms.x.payloads import sign

PASSWORD = "correct horse battery"
DM_TEXT = "Hi! My order #4411 never arrived."
FOLLOW_UP_TEXT = "Any news about order #4411?"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class HostPage:
    """Another site (`http://localhost:<port>/`) whose page embeds the widget
    with the snippet, and whose own CSS tries to restyle it."""

    def __init__(self) -> None:
        self.html = b""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.origin = f"http://localhost:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self):
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page.html)))
                self.end_headers()
                self.wfile.write(page.html)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def embed(self, snippet: str) -> None:
        self.html = (
            "<!doctype html><html><head><title>Acme Coffee</title>"
            "<style>li, button { color: rgb(255, 0, 0) !important; }</style>"
            f"</head><body><h1>Acme Coffee</h1>{snippet}</body></html>"
        ).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host_page() -> Iterator[HostPage]:
    page = HostPage()
    yield page
    page.close()


# Made before Playwright starts: the ORM inside its greenlet would open a
# connection of its own that outlives the test database.


@pytest.fixture
def x_channel(admin_member) -> Channel:
    return ChannelFactory(business=admin_member.business)


@pytest.fixture
def widget_channel(admin_member, host_page, asgi_server, settings) -> Channel:
    from channels_app.platforms.web_widget import embed_snippet

    settings.PINGBACK_PUBLIC_BASE_URL = asgi_server.url
    channel = ChannelFactory(
        business=admin_member.business,
        type="webchat",
        secrets={},
        config={
            "allowed_domains": [f"localhost:{host_page.port}"],
            "welcome_message": "Welcome to Acme Coffee! Ask us anything.",
            "brand_color": "#6b3e26",
        },
    )
    host_page.embed(embed_snippet(channel))
    return channel


@pytest.fixture
def older_conversation(admin_member, x_channel):
    return ConversationFactory(
        business=admin_member.business,
        channel=x_channel,
        contact__name="Earlier Customer",
        last_message_at=timezone.now() - timedelta(days=1),
    )


def log_in(page, server: AsgiServer, member) -> None:
    page.goto(f"{server.url}/accounts/login/?next=/")
    page.fill("input[name=username]", member.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-live=connected]")
    # Survives only as long as the page is not reloaded.
    page.evaluate("window.notReloaded = true")


def follow_up_dm() -> bytes:
    """The customer's next DM: `dm__text` with a new id, later, other text."""
    body = json.loads(fixture_bytes("x", "dm__text"))
    event = body["direct_message_events"][0]
    event["id"] = "1861000000000000102"
    event["created_timestamp"] = str(int(event["created_timestamp"]) + 60_000)
    event["message_create"]["message_data"]["text"] = FOLLOW_UP_TEXT
    return json.dumps(body, separators=(",", ":")).encode()


def post_x_dm(base_url: str, channel: Channel, body: bytes | None = None) -> None:
    body = body or fixture_bytes("x", "dm__text")
    response = requests.post(
        f"{base_url}/api/v1/webhooks/x/{channel.id}",
        data=body,
        headers={
            "content-type": "application/json",
            "x-twitter-webhooks-signature": sign(body, channel.secrets["api_secret"]),
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_a_visitor_on_another_site_and_an_agent_talk_live(
    asgi_server,
    host_page,
    tasks,
    admin_member,
    widget_channel,
    older_conversation,
    browser,
):
    agent = browser.new_context().new_page()
    agent.set_default_timeout(20_000)
    log_in(agent, asgi_server, admin_member)
    assert agent.locator("li.conversation-row").count() == 1

    visitor = browser.new_context().new_page()
    visitor.set_default_timeout(20_000)
    visitor.goto(host_page.origin + "/")
    visitor.locator(".launcher").click()
    welcome = visitor.locator("li.welcome")
    assert welcome.inner_text() == "Welcome to Acme Coffee! Ask us anything."
    visitor.evaluate("window.notReloaded = true")
    visitor.fill("textarea", "Do you sell decaf beans?")
    visitor.press("textarea", "Enter")
    visitor.locator("li.inbound:not(.pending)").wait_for()

    top = agent.locator("li.conversation-row").first
    top.locator("text=Do you sell decaf beans?").wait_for()
    assert agent.locator("li.conversation-row").count() == 2
    assert top.locator(".channel-icon.channel-webchat").count() == 1
    assert top.locator(".badge").inner_text().split()[-1] == "1"
    assert agent.evaluate("window.notReloaded") is True

    top.locator("a").click()
    agent.fill("#reply-text", "Yes: Colombian and Ethiopian decaf.")
    agent.click("#reply-form button[type=submit]")
    agent.locator("li.message.outbound .delivery-sent").wait_for()

    reply = visitor.locator("li.outbound", has_text="Colombian and Ethiopian decaf")
    reply.wait_for()
    assert visitor.evaluate("window.notReloaded") is True
    # The host page's CSS does not reach inside the widget's shadow root.
    assert reply.evaluate("e => getComputedStyle(e).color") != "rgb(255, 0, 0)"
    brand = visitor.locator(".launcher").evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert brand == "rgb(107, 62, 38)"
    visitor.screenshot(
        path=os.environ.get("PINGBACK_WIDGET_SCREENSHOT", "/tmp/pingback-widget.png")
    )

    # A returning visitor (same browser, new page) sees their history.
    returning = visitor.context.new_page()
    returning.goto(host_page.origin + "/")
    returning.locator(".launcher").click()
    returning.locator("li.outbound", has_text="Ethiopian decaf").wait_for()
    assert returning.locator("li.inbound").all_inner_texts() == [
        "Do you sell decaf beans?"
    ]


def test_the_widget_keeps_what_the_visitor_writes_offline_and_catches_up(
    asgi_server, host_page, tasks, admin_member, widget_channel, browser
):
    visitor = browser.new_page()
    visitor.set_default_timeout(30_000)
    visitor.goto(host_page.origin + "/")
    visitor.locator(".launcher").click()
    visitor.fill("textarea", "Is the shop open on Sunday?")
    visitor.press("textarea", "Enter")
    visitor.locator("li.inbound:not(.pending)").wait_for()
    visitor.evaluate("window.notReloaded = true")

    asgi_server.stop()
    visitor.locator("#pingback-widget[data-state=reconnecting]").wait_for(
        state="attached"
    )
    visitor.fill("textarea", "Hello? Anyone?")
    visitor.press("textarea", "Enter")
    visitor.locator("li.inbound.pending", has_text="Hello? Anyone?").wait_for()
    conversation = wait_for(lambda: in_another_thread(Conversation.objects.first))
    in_another_thread(
        lambda: post_reply(
            conversation=conversation,
            author=admin_member.user,
            text="Yes, from 10 to 4.",
        )
    )
    asgi_server.start()

    visitor.locator("li.outbound", has_text="Yes, from 10 to 4.").wait_for()
    visitor.locator("li.inbound.pending").wait_for(state="detached")
    written_offline = Message.objects.filter(text="Hello? Anyone?")
    assert wait_for(lambda: in_another_thread(written_offline.count)) == 1
    assert visitor.locator("li.inbound").all_inner_texts() == [
        "Is the shop open on Sunday?",
        "Hello? Anyone?",
    ]
    assert visitor.evaluate("window.notReloaded") is True


def test_an_x_webhook_shows_up_live_in_the_inbox_and_the_open_thread(
    asgi_server, sandbox, tasks, admin_member, x_channel, browser
):
    agent = browser.new_page()
    agent.set_default_timeout(20_000)
    log_in(agent, asgi_server, admin_member)
    assert agent.locator("li.conversation-row").count() == 0

    post_x_dm(asgi_server.url, x_channel)

    row = agent.locator("li.conversation-row").first
    row.locator(f"text={DM_TEXT}").wait_for()
    assert row.locator(".channel-icon.channel-x").count() == 1
    assert agent.evaluate("window.notReloaded") is True

    row.locator("a").click()
    agent.wait_for_selector("body[data-live=connected]")
    agent.evaluate("window.notReloaded = true")
    post_x_dm(asgi_server.url, x_channel, follow_up_dm())

    agent.locator("li.message.inbound", has_text=FOLLOW_UP_TEXT).wait_for()
    assert agent.locator("li.message.inbound").count() == 2
    assert agent.evaluate("window.notReloaded") is True


def test_after_a_server_restart_the_inbox_reconnects_and_catches_up(
    asgi_server, live_server, sandbox, tasks, admin_member, x_channel, browser
):
    agent = browser.new_page()
    agent.set_default_timeout(30_000)
    log_in(agent, asgi_server, admin_member)

    asgi_server.stop()
    agent.wait_for_selector("body[data-live=disconnected]")
    # Another web process takes the webhook while this one is down.
    post_x_dm(live_server.url, x_channel)
    asgi_server.start()

    agent.wait_for_selector("body[data-live=connected]")
    agent.locator("li.conversation-row", has_text=DM_TEXT).wait_for()
    assert agent.evaluate("window.notReloaded") is True

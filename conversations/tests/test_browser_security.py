"""What runs in an agent's browser is PingBack's own, seen in a real browser
(Debian's Chromium driven by Playwright) against PingBack served by uvicorn
(`pingback.asgi`), with a real Celery worker when Redis is configured.

- Every page sends the Content-Security-Policy and works under it: no
  violation is reported, and the live inbox, the reply form, the inbox filters,
  the copy button, the admin and Swagger UI still work.
- A web widget works on a customer site whose own policy allows only what
  docs/channels/widget.md says.
- Remote images in an e-mail are not fetched; a `javascript:` media URL is no
  link; a name with a right-to-left override is isolated.
- Attachments are served with the headers that keep them from running as pages.
- Screenshots of long and hostile content at desktop and phone widths.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from playwright.sync_api import expect

from channels_app.models import Channel
from channels_app.platforms.email_html import html_sanitise
from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation, DeliveryAttempt, Message
from conversations.services import post_reply
from conversations.services.attachments import attachment_link
from conversations.tests.factories import (
    ContactFactory,
    ContactIdentityFactory,
    ConversationFactory,
    MessageFactory,
)
from conversations.tests.test_live_browser import (
    DM_TEXT,
    PASSWORD,
    in_another_thread,
    post_x_dm,
)
from pingback.testing import AsgiServer, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}
RLO = "\u202e"
# Reports every Content-Security-Policy violation the page sees.
WATCH_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""
SCREENSHOTS = os.environ.get("PINGBACK_SCREENSHOT_DIR", "/tmp")


# ------------------------------------------------------------------ fixtures


class Watched:
    """A page whose CSP violations (events and console lines) are recorded."""

    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(WATCH_VIOLATIONS)
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        reported = self.page.evaluate("window.cspViolations || []")
        return reported + self.console


def parse_policy(header: str | None) -> dict[str, str]:
    """A Content-Security-Policy header as `{directive: sources}`."""
    parts = (part.strip().split(" ", 1) for part in (header or "").split(";"))
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts if part[0]}


def watched_page(browser, **context) -> Watched:
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(20_000)
    return Watched(page)


def log_in(page, server: AsgiServer, member) -> None:
    page.goto(f"{server.url}/accounts/login/?next=/")
    page.fill("input[name=username]", member.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-live=connected]")


# Made before Playwright starts: the ORM inside its greenlet would open a
# connection of its own that outlives the test database.


@pytest.fixture
def staff_admin(admin_member):
    user = admin_member.user
    user.is_staff = True
    user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return admin_member


@pytest.fixture
def x_channel(admin_member) -> Channel:
    return ChannelFactory(business=admin_member.business)


@pytest.fixture
def widget_channel(admin_member) -> Channel:
    return ChannelFactory(
        business=admin_member.business,
        type="webchat",
        secrets={},
        config={"allowed_domains": ["localhost"], "brand_color": "#6b3e26"},
    )


class ImageServer:
    """A sender's server (`http://127.0.0.1:<free port>/`): serves a PNG at
    any path and records every request it gets."""

    def __init__(self, body: bytes) -> None:
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append({"path": self.path, **dict(self.headers)})
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Set-Cookie", "tracked=1")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# A 1x1 transparent PNG: the usual tracking pixel.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    server = ImageServer(PIXEL)
    yield server
    server.close()


@pytest.fixture
def email_conversation(admin_member, image_server) -> Conversation:
    channel = ChannelFactory(
        business=admin_member.business, type="email", secrets={}, config={}
    )
    conversation = ConversationFactory(
        business=admin_member.business,
        channel=channel,
        contact__name="Robin Mail",
        subject="Broken lid",
    )
    MessageFactory(
        conversation=conversation,
        text="The lid is broken.",
        html=html_sanitise(
            "<p>The lid is <b>broken</b>.</p>"
            f'<img src="{image_server.url}/pixel.png?reader=agent" alt="">'
            f'<p><img src="{image_server.url}/lid.png" alt="Photo of the lid"></p>'
            '<p><a href="javascript:alert(1)">click</a> '
            '<a href="tel:+15550100">call</a> '
            '<a href="https://robin.test/lid">my site</a></p>'
        ),
    )
    return conversation


# --------------------------------------------------------------- every page


def open_login(page, server, member, objects) -> None:
    page.goto(f"{server.url}/accounts/login/")
    page.wait_for_selector("input[name=username]")


def open_inbox(page, server, member, objects) -> None:
    log_in(page, server, member)
    # A filter menu swaps the list in (static/inbox/menus.js, workspace.js).
    page.click("button[aria-controls=filter-status]")
    page.click("#filter-status [role=menuitemradio] >> text=Resolved")
    page.wait_for_url("**/?status=resolved")
    page.locator("button[aria-controls=filter-status]", has_text="Resolved").wait_for()
    # Opening a conversation swaps in its thread and panel.
    page.click("button[aria-controls=filter-status]")
    page.click("#filter-status [role=menuitemradio] >> text=Open")
    page.locator("li.conversation-row .row-link").first.click()
    page.locator("#thread-container").wait_for()
    page.click("button[aria-controls=label-menu]")
    page.wait_for_selector("body[data-live=connected]")


def open_conversation(page, server, member, objects) -> None:
    log_in(page, server, member)
    page.goto(f"{server.url}/conversations/{objects['conversation'].pk}/")
    page.wait_for_selector("body[data-live=connected]")
    page.locator(".html", has_text="The lid is broken.").wait_for()


def open_widget_settings(page, server, member, objects) -> None:
    log_in(page, server, member)
    page.goto(f"{server.url}/settings/widgets/")
    # Waits for the new page's load event: its script listens on the button
    # only once it has run.
    with page.expect_navigation():
        page.locator("a", has_text=str(objects["widget"])).click()
    page.click("#copy-snippet")
    page.locator("#copy-done", has_text="Copied.").wait_for()


def open_admin(page, server, member, objects) -> None:
    log_in(page, server, member)
    page.goto(f"{server.url}/admin/")
    page.wait_for_selector("#site-name")
    page.goto(
        f"{server.url}/admin/conversations/conversation/"
        f"{objects['conversation'].pk}/change/"
    )
    page.wait_for_selector("#conversation_form")


def open_api_docs(page, server, member, objects) -> None:
    page.goto(f"{server.url}/api/docs/")
    page.locator(".swagger-ui .info .title", has_text="PingBack API").wait_for()
    operation = page.locator(".opblock-summary", has_text="/api/v1/conversations/")
    operation.first.click()
    page.locator(".opblock-body .parameters").first.wait_for()


def open_browsable_api(page, server, member, objects) -> None:
    log_in(page, server, member)
    page.goto(f"{server.url}/api/v1/conversations/")
    page.wait_for_selector(".response-info")


@pytest.mark.parametrize(
    "visit",
    [
        open_login,
        open_inbox,
        open_conversation,
        open_widget_settings,
        open_admin,
        open_api_docs,
        open_browsable_api,
    ],
    ids=[
        "login",
        "inbox",
        "conversation",
        "widget-settings",
        "admin",
        "api-docs",
        "browsable-api",
    ],
)
def test_every_page_sends_the_policy_and_works_without_breaking_it(
    visit,
    asgi_server,
    staff_admin,
    widget_channel,
    email_conversation,
    image_server,
    browser,
):
    # given
    watched = watched_page(browser, permissions=["clipboard-write"])
    policies: dict[str, dict[str, str]] = {}

    def record(response) -> None:
        if response.request.resource_type == "document":
            policies[response.url] = parse_policy(
                response.headers.get("content-security-policy")
            )

    watched.page.on("response", record)
    objects = {"conversation": email_conversation, "widget": widget_channel}

    # when
    visit(watched.page, asgi_server, staff_admin, objects)

    # then
    assert policies, "no page was loaded"
    assert {url: POLICY for url in policies} == policies
    assert watched.violations() == []
    assert image_server.requests == []


def test_the_live_inbox_and_the_reply_work_under_the_policy(
    asgi_server, sandbox, tasks, admin_member, x_channel, browser
):
    # given: the inbox is open and live ('self' lets it open its websocket)
    watched = watched_page(browser)
    agent = watched.page
    log_in(agent, asgi_server, admin_member)
    agent.evaluate("window.notReloaded = true")

    # when a DM arrives, the agent opens it and replies
    post_x_dm(asgi_server.url, x_channel)
    row = agent.locator("li.conversation-row").first
    row.locator(f"text={DM_TEXT}").wait_for()
    assert agent.evaluate("window.notReloaded") is True
    row.locator("a").click()
    agent.fill("#reply-text", "A replacement ships today.")
    agent.click("#reply-form button[type=submit]")

    # then
    agent.locator("li.message.outbound .delivery-sent").wait_for()
    assert [d["text"] for d in sandbox.x.sent_dms] == ["A replacement ships today."]
    assert watched.violations() == []


# ------------------------------------------------------------- widget on a site


class StrictSite:
    """A customer site (`http://localhost:<port>/`) with its own strict
    Content-Security-Policy that allows PingBack as docs/channels/widget.md
    says: the script from the PingBack origin, the websocket to it."""

    def __init__(self) -> None:
        self.html = b""
        self.policy = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Security-Policy", site.policy)
                self.send_header("Content-Length", str(len(site.html)))
                self.end_headers()
                self.wfile.write(site.html)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.origin = f"http://localhost:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def strict_site() -> Iterator[StrictSite]:
    site = StrictSite()
    yield site
    site.close()


@pytest.fixture
def strict_site_widget(asgi_server, strict_site, admin_member, settings) -> Channel:
    """A widget embedded on `strict_site`, whose policy allows exactly what
    docs/channels/widget.md asks for."""
    from channels_app.platforms.web_widget import embed_snippet

    settings.PINGBACK_PUBLIC_BASE_URL = asgi_server.url
    channel = ChannelFactory(
        business=admin_member.business,
        type="webchat",
        secrets={},
        config={"allowed_domains": [f"localhost:{strict_site.port}"]},
    )
    websocket_origin = asgi_server.url.replace("http://", "ws://")
    strict_site.policy = (
        "default-src 'self'; style-src 'self'; img-src 'self'; "
        f"script-src 'self' {asgi_server.url}; "
        f"connect-src 'self' {websocket_origin}"
    )
    strict_site.html = (
        "<!doctype html><html><head><title>Acme</title></head><body>"
        f"<h1>Acme</h1>{embed_snippet(channel)}</body></html>"
    ).encode()
    return channel


def test_the_widget_works_on_a_site_with_a_strict_policy(
    asgi_server, strict_site, tasks, strict_site_widget, browser
):
    # given: the site allows exactly what the widget docs ask for
    watched = watched_page(browser)
    visitor = watched.page

    # when
    visitor.goto(strict_site.origin + "/")
    visitor.locator(".launcher").click()
    visitor.fill("textarea", "Do you sell decaf beans?")
    visitor.press("textarea", "Enter")

    # then: it is styled (the brand colour) and the message went through
    visitor.locator("li.inbound:not(.pending)").wait_for()
    brand = visitor.locator(".launcher").evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert brand == "rgb(37, 83, 199)"
    assert watched.violations() == []
    stored = Message.objects.filter(text="Do you sell decaf beans?")
    assert wait_for(lambda: in_another_thread(stored.count)) == 1


# --------------------------------------------------------- hostile content


def test_remote_images_load_only_on_request_and_only_through_pingback(
    asgi_server, admin_member, email_conversation, image_server, settings, browser
):
    # given: PingBack may reach the sender's server (on loopback here)
    settings.EGRESS_ALLOWED_HOSTS = [image_server.url.removeprefix("http://")]
    watched = watched_page(browser)
    page = watched.page
    log_in(page, asgi_server, admin_member)

    # when the agent opens the e-mail
    page.goto(f"{asgi_server.url}/conversations/{email_conversation.pk}/")
    page.wait_for_load_state("networkidle")

    # then the images are there, without a source, and the sender heard nothing
    held = page.locator(".html img.remote-image")
    assert held.count() == 2
    assert held.evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))") == [
        None,
        None,
    ]
    assert held.evaluate_all("imgs => imgs.map(i => i.dataset.remoteSrc)") == [
        f"{image_server.url}/pixel.png?reader=agent",
        f"{image_server.url}/lid.png",
    ]
    assert (
        page.locator(".remote-images")
        .inner_text()
        .startswith("2 remote images not loaded")
    )
    assert image_server.requests == []
    page.screenshot(path=f"{SCREENSHOTS}/pingback-email-held.png", full_page=True)

    # when the agent asks for them
    page.click("button.load-remote-images")

    # then they arrive from PingBack's origin, fetched by PingBack's server
    page.wait_for_function(
        "() => [...document.querySelectorAll('.html img.remote-image')]"
        ".every(i => i.complete && i.naturalWidth === 1)"
    )
    sources = held.evaluate_all("imgs => imgs.map(i => i.src)")
    assert [src.startswith(f"{asgi_server.url}/remote-images/") for src in sources] == [
        True,
        True,
    ]
    assert sorted(r["path"] for r in image_server.requests) == [
        "/lid.png",
        "/pixel.png?reader=agent",
    ]
    for request in image_server.requests:
        assert "Cookie" not in request
        assert "Referer" not in request
        assert request["User-Agent"] == "PingBack image proxy"
    assert page.locator("button.load-remote-images").is_disabled()
    assert page.locator(".remote-images").inner_text() == (
        "Remote images loaded through PingBack."
    )
    page.screenshot(path=f"{SCREENSHOTS}/pingback-email-loaded.png", full_page=True)

    # when the thread is re-rendered live (an agent's reply elsewhere)
    conversation = email_conversation
    in_another_thread(
        lambda: post_reply(
            conversation=conversation, author=admin_member.user, text="On its way."
        )
    )

    # then the loaded images stay loaded
    page.locator("li.message.outbound", has_text="On its way.").wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.html img.remote-image')]"
        ".every(i => i.complete && i.naturalWidth === 1)"
    )
    assert page.locator(".remote-images").inner_text() == (
        "Remote images loaded through PingBack."
    )
    assert watched.violations() == []


@pytest.fixture
def media_message(url, email_conversation) -> Message:
    return MessageFactory(
        conversation=email_conversation,
        text="See the file",
        attachments=[{"kind": "document", "filename": "invoice.pdf", "url": url}],
    )


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
    ],
    ids=["javascript", "mixed-case", "leading-space", "tab-inside", "data", "vbscript"],
)
def test_a_media_url_that_is_not_a_web_link_is_shown_as_text(
    url, asgi_server, admin_member, email_conversation, media_message, browser
):
    # given: a platform sent a media URL of another scheme (`media_message`)
    watched = watched_page(browser)
    page = watched.page
    log_in(page, asgi_server, admin_member)

    # when
    page.goto(f"{asgi_server.url}/conversations/{email_conversation.pk}/")

    # then
    attachment = page.locator(".attachment-document")
    assert attachment.locator("a").count() == 0
    assert attachment.locator(".unsafe-url").text_content() == url
    hrefs = page.locator("#thread a[href]").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    assert hrefs == ["https://robin.test/lid"]
    assert page.locator("#thread a", has_text="click").count() == 1
    assert page.locator("#thread a", has_text="call").count() == 1
    assert watched.violations() == []


@pytest.fixture
def spoofing_conversation(admin_member, x_channel) -> Conversation:
    contact = ContactFactory(business=admin_member.business, name=f"Eve {RLO}gnp.exe")
    conversation = ConversationFactory(
        business=admin_member.business,
        channel=x_channel,
        contact=contact,
        contact_identity=ContactIdentityFactory(
            contact=contact, channel=x_channel, handle=f"{RLO}eve"
        ),
        last_message_preview=f"Invoice {RLO}fdp.exe attached",
    )
    MessageFactory(conversation=conversation, text=f"Invoice {RLO}fdp.exe attached")
    return conversation


def test_a_name_with_a_right_to_left_override_is_isolated(
    asgi_server, admin_member, spoofing_conversation, browser
):
    # given a contact whose name, handle and message carry U+202E
    watched = watched_page(browser)
    page = watched.page

    # when
    log_in(page, asgi_server, admin_member)

    # then: in the list, the name and the preview are isolated
    row = page.locator("li.conversation-row").first
    assert row.locator(".name").evaluate("e => e.tagName") == "BDI"
    assert row.locator(".name").text_content() == f"Eve {RLO}gnp.exe"
    assert row.locator(".preview").get_attribute("dir") == "auto"

    # when
    row.locator("a").click()
    page.locator("#thread-container li.message").first.wait_for()

    # then: in the header (with the handle), the panel and the thread too
    header = page.locator(".thread-header h1")
    assert header.locator(".name").evaluate("e => e.tagName") == "BDI"
    assert header.locator(".handle bdi").text_content() == f"{RLO}eve"
    message = page.locator("li.message.inbound").first
    assert message.locator(".author").evaluate("e => e.tagName") == "BDI"
    assert message.locator(".text").get_attribute("dir") == "auto"
    assert page.title() == f"\u2068Eve {RLO}gnp.exe\u2069 · Inbox · PingBack"
    identity = page.locator(".panel-identity bdi").first
    assert identity.text_content() == f"{RLO}eve"
    assert watched.violations() == []


# --------------------------------------------------------------- attachments


def stored_attachment(conversation, filename: str, content_type: str, body: bytes):
    stored = default_storage.save(f"attachments/test/{filename}", ContentFile(body))
    message = MessageFactory(
        conversation=conversation,
        attachments=[
            {
                "kind": "document",
                "filename": filename,
                "content_type": content_type,
                "size": len(body),
                "stored": stored,
            }
        ],
    )
    return attachment_link(message.pk, 0)


@pytest.mark.parametrize(
    ("filename", "content_type", "served_type", "disposition"),
    [
        ("lid.png", "image/png", "image/png", 'inline; filename="lid.png"'),
        ("lid.jpg", "image/jpeg", "image/jpeg", 'inline; filename="lid.jpg"'),
        ("lid.gif", "image/gif", "image/gif", 'inline; filename="lid.gif"'),
        ("lid.webp", "image/webp", "image/webp", 'inline; filename="lid.webp"'),
        (
            "logo.svg",
            "image/svg+xml",
            "application/octet-stream",
            'attachment; filename="logo.svg"',
        ),
        (
            "invoice.html",
            "text/html",
            "application/octet-stream",
            'attachment; filename="invoice.html"',
        ),
        (
            "voice.mp4",
            "video/mp4",
            "application/octet-stream",
            'attachment; filename="voice.mp4"',
        ),
        (
            "notes.txt",
            "",
            "application/octet-stream",
            'attachment; filename="notes.txt"',
        ),
    ],
    ids=["png", "jpeg", "gif", "webp", "svg", "html", "video", "no-type"],
)
def test_attachments_are_served_so_they_cannot_run_as_pages(
    filename, content_type, served_type, disposition, live_server, business
):
    # given
    conversation = ConversationFactory(business=business)
    body = b"<svg onload=alert(1)><script>alert(1)</script></svg>"
    link = stored_attachment(conversation, filename, content_type, body)

    # when
    response = requests.get(live_server.url + link, timeout=10)

    # then
    assert response.status_code == 200
    assert response.headers["Content-Type"] == served_type
    assert response.headers["Content-Disposition"] == disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert parse_policy(response.headers["Content-Security-Policy"]) == {
        "default-src": "'none'",
        "sandbox": "",
        "frame-ancestors": "'none'",
    }
    assert response.content == body


# --------------------------------------------------------------- screenshots


LONG_NAME = "Maximiliana Alexandrina Konstantinopoulou-Wolfeschlegelsteinhausen " * 2
HOSTILE_NAMES = [
    LONG_NAME.strip(),
    f"Eve {RLO}gnp.exe",
    '<img src=x onerror="alert(1)"><b>Bold</b>',
    "محمد عبد الله",
]


@pytest.fixture
def hostile_inbox(admin_member, x_channel) -> Conversation:
    conversations = []
    for index, name in enumerate(HOSTILE_NAMES):
        contact = ContactFactory(business=admin_member.business, name=name)
        conversation = ConversationFactory(
            business=admin_member.business,
            channel=x_channel,
            contact=contact,
            contact_identity=ContactIdentityFactory(
                contact=contact,
                channel=x_channel,
                handle=("a_very_long_handle_without_breaks" * 3)[: 40 + index],
            ),
            unread_count=index,
            last_message_preview=f"Invoice {RLO}fdp.exe attached. " + "Word " * 30,
        )
        MessageFactory(
            conversation=conversation,
            text=f"Invoice {RLO}fdp.exe attached. "
            + "Word " * 80
            + "https://example.test/"
            + "x" * 200,
        )
        MessageFactory(
            conversation=conversation,
            direction="outbound",
            author=admin_member.user,
            status="sent",
            text="Thanks, we are looking into it.",
        )
        conversations.append(conversation)
    return conversations[0]


@pytest.mark.parametrize("width", [1440, 390], ids=["desktop", "phone"])
def test_screenshots_of_hostile_content(
    width, asgi_server, admin_member, hostile_inbox, browser
):
    watched = watched_page(browser, viewport={"width": width, "height": 900})
    page = watched.page
    log_in(page, asgi_server, admin_member)
    page.screenshot(path=f"{SCREENSHOTS}/pingback-inbox-{width}.png", full_page=True)

    page.goto(f"{asgi_server.url}/conversations/{hostile_inbox.pk}/")
    page.wait_for_selector("body[data-live=connected]")
    page.screenshot(
        path=f"{SCREENSHOTS}/pingback-conversation-{width}.png", full_page=True
    )

    # Nothing sticks out sideways, and the names' HTML stayed text.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the conversation page scrolls sideways"
    )
    page.goto(f"{asgi_server.url}/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the inbox scrolls sideways"
    )
    assert page.locator("li.conversation-row b").count() == 0
    assert watched.violations() == []


@pytest.fixture
def delivery_problems(admin_member, x_channel) -> Conversation:
    """A conversation whose replies failed or may not have arrived, with long
    and hostile reasons, on a channel X is rate-limiting."""
    Channel.objects.filter(pk=x_channel.pk).update(
        paused_until=timezone.now() + timezone.timedelta(minutes=5),
        alert=f"X says: {RLO}gnp.exe " + "no credits " * 20,
    )
    conversation = ConversationFactory(
        business=admin_member.business, channel=x_channel
    )
    failed = MessageFactory(
        conversation=conversation,
        direction="outbound",
        author=admin_member.user,
        status="failed",
        text="Your refund is on its way.",
        error='<img src=x onerror="alert(1)"> ' + "Reason" * 60,
    )
    for outcome in ["retry", "retry", "failed"]:
        DeliveryAttempt.objects.create(
            message=failed, outcome=outcome, status_code=429, reason="X rate limit"
        )
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        author=admin_member.user,
        status="uncertain",
        text="We have sent a replacement.",
        error="The worker stopped while sending this message: it may not have "
        "been delivered. Retry to send it again, or mark it as sent.",
    )
    return conversation


@pytest.mark.parametrize("width", [1440, 390], ids=["desktop", "phone"])
def test_delivery_problems_are_shown_with_their_actions(
    width, asgi_server, admin_member, delivery_problems, browser
):
    watched = watched_page(browser, viewport={"width": width, "height": 900})
    page = watched.page
    log_in(page, asgi_server, admin_member)

    page.goto(f"{asgi_server.url}/conversations/{delivery_problems.pk}/")
    page.wait_for_selector("body[data-live=connected]")
    page.click(".attempts summary")
    page.screenshot(path=f"{SCREENSHOTS}/pingback-delivery-{width}.png", full_page=True)

    # The banner, both statuses and their buttons are there, as buttons.
    assert page.locator("#channel-paused").is_visible()
    assert page.locator("#channel-alert").is_visible()
    assert page.get_by_text("May not have been delivered", exact=True).is_visible()
    assert page.get_by_role("button", name="Retry").count() == 2
    assert page.get_by_role("button", name="Mark as sent").count() == 1
    assert page.locator(".delivery-failed img").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the conversation page scrolls sideways"
    )

    # When the agent marks the uncertain reply as sent.
    page.get_by_role("button", name="Mark as sent").click()

    # Then, in place, it reads Sent and offers nothing more.
    expect(page.get_by_role("button", name="Mark as sent")).to_have_count(0)
    assert page.get_by_role("button", name="Retry").count() == 1
    assert watched.violations() == []


@pytest.mark.parametrize("width", [1440, 390], ids=["desktop", "phone"])
def test_the_delivery_problems_page_under_hostile_content(
    width, asgi_server, admin_member, delivery_problems, browser
):
    watched = watched_page(browser, viewport={"width": width, "height": 900})
    page = watched.page
    log_in(page, asgi_server, admin_member)

    page.click("text=Deliveries")
    page.wait_for_selector("h1:has-text('Delivery problems')")
    page.screenshot(
        path=f"{SCREENSHOTS}/pingback-deliveries-{width}.png", full_page=True
    )

    assert page.locator("input[name=message_ids]").count() == 2
    assert page.locator(".deliveries-table img").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways"
    )
    assert watched.violations() == []

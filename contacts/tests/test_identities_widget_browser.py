"""The widget script identifies a signed-in visitor, in a real browser: a
site's page (another origin, served here) embeds the widget with the
identification on its script tag, or calls `PingBackWidget.identify`, and
PingBack, served by uvicorn, names the contact only when the hash verifies."""

import threading
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from channels_app.tests.factories import ChannelFactory
from contacts.services.identities import identifier_hash
from conversations.models import Contact
from pingback.testing import in_another_thread, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


class SitePage:
    """A customer's website on `http://localhost:<free port>`: one page whose
    HTML the test sets."""

    def __init__(self) -> None:
        self.html = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def site() -> Iterator[SitePage]:
    page = SitePage()
    page.thread.start()
    yield page
    page.server.shutdown()
    page.server.server_close()


@pytest.fixture
def widget(business):
    return ChannelFactory(
        business=business,
        type="webchat",
        secrets={"identity_secret": SECRET},
        config={"allowed_domains": ["localhost"]},
    )


def embed(asgi_server, channel, **attributes: str) -> str:
    extra = "".join(
        f' data-pingback-{name.replace("_", "-")}="{escape(value)}"'
        for name, value in attributes.items()
    )
    return (
        "<!doctype html><html lang=en><title>Shop</title><body><h1>Shop</h1>"
        f'<script src="{asgi_server.url}/static/widget/pingback-widget.js" '
        f'data-pingback-channel="{channel.pk}"{extra} async></script></body></html>'
    )


def contact_names() -> list[str]:
    return in_another_thread(
        lambda: sorted(Contact.objects.values_list("name", flat=True))
    )


def test_the_embed_identifies_a_signed_in_visitor(
    asgi_server, site, widget, browser_page
):
    # given: the site's server signed its user id into the page
    site.html = embed(
        asgi_server,
        widget,
        identifier="user-42",
        identifier_hash=identifier_hash(SECRET, "user-42"),
        name="Ada Lovelace",
        email="ada@example.com",
    )

    # when
    browser_page.goto(site.url)

    # then
    wait_for(lambda: contact_names() == ["Ada Lovelace"])
    emails = in_another_thread(
        lambda: list(Contact.objects.values_list("emails__address", flat=True))
    )
    assert emails == ["ada@example.com"]


def test_identify_from_the_page_and_a_forged_hash_refused(
    asgi_server, site, widget, browser_page
):
    # given: an anonymous visitor
    site.html = embed(asgi_server, widget)
    warnings: list[str] = []
    browser_page.on(
        "console",
        lambda message: (
            warnings.append(message.text) if message.type == "warning" else None
        ),
    )
    browser_page.goto(site.url)
    browser_page.locator("[data-state=connected]").wait_for(state="attached")

    # when: the page identifies them with a hash it made up
    with browser_page.expect_console_message(
        lambda message: "identification refused" in message.text
    ) as refusal:
        browser_page.evaluate(
            """() => PingBackWidget.identify({identifier: "user-42",
                identifier_hash: "00".repeat(32), name: "Mallory"})"""
        )

    # then: refused, said in the console only
    assert refusal.value.type == "warning"
    assert contact_names() == []

    # when: with the hash the site's server computed
    digest = identifier_hash(SECRET, "user-42")
    browser_page.evaluate(
        f"""() => PingBackWidget.identify({{identifier: "user-42",
            identifier_hash: "{digest}", name: "Ada Lovelace"}})"""
    )

    # then
    wait_for(lambda: contact_names() == ["Ada Lovelace"])

"""The remote-image proxy: an e-mail's remote image reaches an agent only
through PingBack, for agents of the message's business, fetched under the
outbound HTTP policy (a real HTTP server on a free port plays the sender's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.platforms.email_html import html_sanitise
from conversations.services.remote_images import remote_image_link
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
# path: (content type, body)
FILES = {
    "/pixel.png": ("image/png", PIXEL),
    "/page.html": ("text/html", b"<script>alert(1)</script>"),
    "/logo.svg": ("image/svg+xml", b"<svg onload='alert(1)'/>"),
    "/big.png": ("image/png", PIXEL + b"\0" * 4096),
}


class SenderServer:
    """The sender's server: serves `FILES` and records each request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append({"path": self.path, **dict(self.headers)})
                content_type, body = FILES[self.path]
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Set-Cookie", "tracked=1")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.netloc = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"http://{self.netloc}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def sender(settings) -> Iterator[SenderServer]:
    server = SenderServer()
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc]
    yield server
    server.close()


@pytest.fixture
def email_message(business, sender):
    images = "".join(f'<img src="{sender.url}{path}" alt="">' for path in FILES)
    return MessageFactory(
        conversation=ConversationFactory(business=business),
        html=html_sanitise(f"<p>Hello</p>{images}"),
    )


@pytest.fixture
def agent_client(client, agent_member):
    client.force_login(agent_member.user)
    client.cookies["tracked"] = "agent-session-cookie"
    return client


def test_an_agent_gets_the_image_through_pingback_without_their_cookies(
    agent_client, email_message, sender
):
    # when
    response = agent_client.get(
        remote_image_link(email_message.pk, f"{sender.url}/pixel.png"),
        HTTP_REFERER="http://testserver/conversations/1/",
        HTTP_USER_AGENT="Agent's browser",
    )

    # then
    assert response.status_code == 200
    assert response.content == PIXEL
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == (
        "default-src 'none'; sandbox; frame-ancestors 'none'"
    )
    assert "Set-Cookie" not in response
    [request] = sender.requests
    assert request["path"] == "/pixel.png"
    assert request["User-Agent"] == "PingBack image proxy"
    assert "Cookie" not in request
    assert "Referer" not in request


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (
            "/page.html",
            "The link is not a PNG, JPEG, GIF or WebP image.",
        ),
        (
            "/logo.svg",
            "The link is not a PNG, JPEG, GIF or WebP image.",
        ),
        (
            "/big.png",
            "The image could not be loaded: the file is larger than 1024 bytes.",
        ),
    ],
    ids=["html", "svg", "too-large"],
)
def test_what_is_not_a_small_raster_image_is_not_served(
    path, reason, agent_client, email_message, sender, settings
):
    # given
    settings.REMOTE_IMAGE_MAX_BYTES = 1024

    # when
    response = agent_client.get(remote_image_link(email_message.pk, sender.url + path))

    # then
    assert response.status_code == 502
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == reason


def test_an_address_that_is_not_public_is_not_fetched(
    agent_client, email_message, sender, settings
):
    # given: loopback is not allowed (the default)
    settings.EGRESS_ALLOWED_HOSTS = []

    # when
    response = agent_client.get(
        remote_image_link(email_message.pk, f"{sender.url}/pixel.png")
    )

    # then
    assert response.status_code == 502
    assert response.content.decode() == (
        "The image could not be loaded: 127.0.0.1 is not a public address."
    )
    assert sender.requests == []


def other_business_agent(client, message, url):
    member = MemberFactory(business=BusinessFactory())
    client.force_login(member.user)
    return client.get(remote_image_link(message.pk, url))


def forged_token(client, message, url):
    link = remote_image_link(message.pk, url)
    return client.get(link[:-3] + "abc")


def url_not_in_the_message(client, message, url):
    return client.get(remote_image_link(message.pk, url + "?other"))


@pytest.mark.parametrize(
    "ask",
    [other_business_agent, forged_token, url_not_in_the_message],
    ids=["other-business", "forged-token", "url-not-in-message"],
)
def test_a_link_for_another_business_or_forged_is_404_and_fetches_nothing(
    ask, agent_client, email_message, sender
):
    # when
    response = ask(agent_client, email_message, f"{sender.url}/pixel.png")

    # then
    assert response.status_code == 404
    assert sender.requests == []


def test_a_visitor_who_is_not_logged_in_is_sent_to_log_in(
    client, email_message, sender
):
    # when
    link = remote_image_link(email_message.pk, f"{sender.url}/pixel.png")
    response = client.get(link)

    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert sender.requests == []

"""Customer satisfaction in a real browser (Debian's Chromium driven by
Playwright, PingBack served by uvicorn on a free port): the public rating
page on a phone and a desktop, the widget's inline rating on another site,
and an agent's view of a long hostile comment on the conversation and in
Reports. Screenshots go under /tmp/shots-csat/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from channels_app.platforms.web_widget import embed_snippet
from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation, Message
from conversations.services.conversations import activity_message, conversation_update
from pingback.testing import in_another_thread, wait_for
from satisfaction.models import (
    SatisfactionRating,
    SatisfactionRequest,
    SatisfactionSettings,
)
from satisfaction.services import rating_submit, rating_token
from satisfaction.tests.conftest import conversation_on

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots-csat")
PASSWORD = "correct horse battery"
HOSTILE = (
    '<img src=x onerror="alert(1)"> "; DROP TABLE ratings; -- '
    "El pedido llegó tarde y nadie contestó durante tres días. "
    "תודה רבה على المساعدة "
    + "Supercalifragilisticexpialidocious" * 12
    + "\nSecond line: 🙂🙂🙂 "
    + "very long comment " * 40
)


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_sideways_scroll(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth"
    )


def asked_request(business) -> SatisfactionRequest:
    """An asked rating request of a resolved Telegram conversation (made
    directly: sending the question is tested end to end elsewhere)."""
    conversation = conversation_on(business, "telegram")
    conversation.contact.name = "Dana O\u2019Brien-Łukasiewicz"
    conversation.contact.save(update_fields=["name"])
    Conversation.objects.filter(pk=conversation.pk).update(status="resolved")
    resolution = activity_message(
        conversation, "Ana resolved this conversation", by=None
    )
    resolution.save()
    return SatisfactionRequest.objects.create(
        business=business,
        conversation=conversation,
        resolution=resolution,
        channel_type="telegram",
        status="asked",
    )


@pytest.mark.parametrize("width", [390, 1440])
def test_the_rating_page_on_a_phone_and_a_desktop(
    asgi_server, business, browser, width
):
    request = asked_request(business)
    url = f"{asgi_server.url}/rate/{rating_token(request)}/"
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(15_000)
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    outside: list[str] = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url) if not r.url.startswith(asgi_server.url) else None
        ),
    )

    page.goto(url)
    assert page.locator("h1").inner_text() == f"How did {business.name} do?"
    # no score chosen: refused beside the field, the comment kept
    page.fill("#comment", HOSTILE)
    page.click("button.rate-submit")
    page.locator("#score-errors").wait_for()
    assert page.locator("#score-errors").inner_text() == (
        "Choose a score from 1 (bad) to 5 (great)."
    )
    assert page.input_value("#comment") == HOSTILE  # as typed
    assert no_sideways_scroll(page)
    shot(page, f"rate-refused-{width}")

    page.click("label[for=score-2]")
    page.click("button.rate-submit")
    page.locator("text=Thank you!").wait_for()
    assert "2 out of 5" in page.locator("main").inner_text()
    assert no_sideways_scroll(page)
    assert page.evaluate("() => typeof window.alertCalled") == "undefined"
    shot(page, f"rate-thanks-{width}")

    rating = in_another_thread(lambda: SatisfactionRating.objects.get())
    assert rating.score == 2 and rating.comment == HOSTILE.strip()
    assert failed == [] and outside == []

    # the page again (reused link): the thanks, no form
    page.goto(url)
    assert page.locator("form.rate-form").count() == 0


class HostPage:
    """A customer's website on `http://localhost:<free port>` embedding the
    widget."""

    def __init__(self) -> None:
        self.html = b""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(site.html)))
                self.end_headers()
                self.wfile.write(site.html)

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.origin = f"http://localhost:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def host_page() -> Iterator[HostPage]:
    page = HostPage()
    yield page
    page.server.shutdown()
    page.server.server_close()


@pytest.mark.parametrize("width", [390, 1440])
def test_the_visitor_rates_in_the_widget(
    asgi_server, host_page, tasks, admin_member, settings, browser, width
):
    settings.PINGBACK_PUBLIC_BASE_URL = asgi_server.url
    channel = ChannelFactory(
        business=admin_member.business,
        type="webchat",
        secrets={},
        config={"allowed_domains": [f"localhost:{host_page.port}"]},
    )
    SatisfactionSettings.objects.create(
        business=admin_member.business,
        enabled=True,
        question="Thanks for chatting with Acme Coffee! How did we do?",
    )
    host_page.html = (
        "<!doctype html><html><head><meta name=viewport "
        "content='width=device-width, initial-scale=1'><title>Acme</title></head>"
        f"<body><h1>Acme Coffee</h1>{embed_snippet(channel)}</body></html>"
    ).encode()
    visitor = browser.new_page(viewport={"width": width, "height": 800})
    visitor.set_default_timeout(20_000)

    visitor.goto(host_page.origin + "/")
    visitor.locator(".launcher").click()
    visitor.fill("textarea", "Is my decaf order on its way?")
    visitor.press("textarea", "Enter")
    visitor.locator("li.inbound:not(.pending)").wait_for()
    conversation = wait_for(lambda: in_another_thread(Conversation.objects.first))
    in_another_thread(
        lambda: conversation_update(
            conversation=conversation, by=admin_member.user, status="resolved"
        )
    )

    rating = visitor.locator(".rating")
    rating.wait_for()
    comment = rating.locator("textarea")
    comment.fill(HOSTILE)
    rating.locator(".rating-send").click()  # no score yet
    error = rating.locator(".rating-error")
    error.wait_for()
    assert error.inner_text() == "Choose a score from 1 (bad) to 5 (great)."
    assert comment.input_value() == HOSTILE
    shot(visitor, f"widget-refused-{width}")

    rating.locator("button[data-score='4']").click()
    assert rating.locator("button[data-score='4']").get_attribute("aria-pressed") == (
        "true"
    )
    rating.locator(".rating-send").click()
    rating.locator(".rating-done").wait_for()
    assert rating.locator(".rating-done").inner_text() == (
        "You rated us 4 of 5. Thank you!"
    )
    assert comment.is_hidden()
    shot(visitor, f"widget-rated-{width}")
    stored = in_another_thread(lambda: SatisfactionRating.objects.get())
    assert (stored.score, stored.comment) == (4, HOSTILE.strip())

    # the visitor comes back: the question shows as rated
    visitor.reload()
    visitor.locator(".launcher").click()
    visitor.locator(".rating .rating-done").wait_for()


def log_in(page, server, member) -> None:
    page.goto(f"{server.url}/accounts/login/?next=/")
    page.fill("input[name=username]", member.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/**")


@pytest.mark.parametrize("width", [390, 1440])
def test_an_agent_sees_the_hostile_comment_on_the_conversation_and_in_reports(
    asgi_server, admin_member, browser, width
):
    request = asked_request(admin_member.business)
    rating_submit(request=request, score=1, comment=HOSTILE)
    conversation_id = request.conversation_id
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(15_000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, asgi_server, admin_member)

    page.goto(f"{asgi_server.url}/conversations/{conversation_id}/")
    entry = page.locator("li.activity", has_text="The customer rated this")
    entry.wait_for()
    assert entry.inner_text().startswith("The customer rated this conversation 1/5")
    panel = page.locator(".panel-csat")
    if panel.count() and panel.is_visible():
        assert "1/5" in panel.inner_text()
    shot(page, f"conversation-{width}")

    page.goto(f"{asgi_server.url}/reports/")
    section = page.locator(".csat-report")
    section.wait_for()
    assert page.locator("[data-csat=average]").inner_text() == "1.00 / 5"
    assert page.locator("[data-csat=count]").inner_text() == "1"
    assert "DROP TABLE" in section.locator(".csat-comment").inner_text()
    assert no_sideways_scroll(page)
    section.screenshot(path=str(SHOTS / f"reports-csat-{width}.png"))

    # the admin turns ratings on in Settings → Business
    page.goto(f"{asgi_server.url}/settings/business/")
    page.check("#csat_enabled")
    page.fill("#csat_question", "")
    page.click("form.csat-form button[type=submit]")
    page.locator("#csat_question-errors").wait_for()
    assert page.is_checked("#csat_enabled")  # what was typed stays
    page.locator("form.csat-form").screenshot(
        path=str(SHOTS / f"settings-csat-refused-{width}.png")
    )
    page.fill("#csat_question", "How did we do? 1 (bad) to 5 (great).")
    page.click("form.csat-form button[type=submit]")
    page.locator("text=Satisfaction ratings on").wait_for()
    assert no_sideways_scroll(page)
    assert dialogs == []
    assert (
        in_another_thread(
            lambda: Message.objects.filter(conversation_id=conversation_id).count()
        )
        >= 2
    )

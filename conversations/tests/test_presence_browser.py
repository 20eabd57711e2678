"""Presence in a real browser (Chromium via Playwright) against PingBack served
by uvicorn, over the real channel layer: two agents on one conversation page
see each other viewing and typing (never themselves), typing fades out, the
online list shows both; a widget visitor and an agent see each other type."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from billing.tests.factories import MemberFactory, UserFactory
from channels_app.tests.factories import ChannelFactory
from conversations.tests import test_live_browser as live
from conversations.tests.factories import ConversationFactory
from conversations.tests.presence_helpers import presence_reset
from conversations.tests.test_live_browser import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The widget's host page and channel, as the live inbox tests make them.
host_page = live.host_page
widget_channel = live.widget_channel


@pytest.fixture(autouse=True)
def clean_presence():
    presence_reset()
    yield
    presence_reset()


def named(member, first: str, last: str):
    member.user.first_name, member.user.last_name = first, last
    member.user.save()
    return member


def agent_page(browser, server, member):
    page = browser.new_context().new_page()
    page.set_default_timeout(20_000)
    log_in(page, server, member)
    return page


def test_two_agents_see_each_other_view_and_type_and_who_is_online(
    asgi_server, admin_member, business, browser
):
    ana = named(admin_member, "Ana", "Silva")
    ben = MemberFactory(
        business=business, user=UserFactory(first_name="Ben", last_name="Okoro")
    )
    conversation = ConversationFactory(
        business=business, channel=ChannelFactory(business=business)
    )
    url = f"{asgi_server.url}/conversations/{conversation.pk}/"

    ben_page = agent_page(browser, asgi_server, ben)
    ben_page.goto(url)
    ben_page.wait_for_selector("body[data-live=connected]")
    ben_page.evaluate(
        "() => { const d = document.createElement('div');"
        " d.setAttribute('data-online-agents', ''); d.id = 'online';"
        " document.body.appendChild(d); }"
    )
    presence_line = ben_page.locator(f'[data-presence-for="{conversation.pk}"]')
    # Alone: nothing to show (Ben never sees himself).
    assert presence_line.is_hidden()

    ana_page = agent_page(browser, asgi_server, ana)
    ana_page.goto(url)
    ana_page.wait_for_selector("body[data-live=connected]")

    presence_line.locator("text=Ana Silva is viewing").wait_for()
    ana_page.locator("[data-presence-for]", has_text="Ben Okoro is viewing").wait_for()
    assert "Ana Silva" not in ana_page.locator("[data-presence-for]").inner_text()
    online = ben_page.locator("#online li.presence-agent")
    online.nth(1).wait_for()
    assert sorted(online.all_inner_texts()) == ["Ana Silva", "Ben Okoro (you)"]
    assert ben_page.locator("#online .presence-dot").count() == 2
    dot = ben_page.locator("#online .presence-dot").first.evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert dot == "rgb(47, 168, 79)"

    ana_page.locator("#reply-text").press_sequentially("Hello the", delay=50)
    presence_line.locator("text=Ana Silva is typing…").wait_for()
    assert "viewing" not in presence_line.inner_text()
    # No frame for ~5 s: back to viewing.
    presence_line.locator("text=Ana Silva is viewing").wait_for(timeout=12_000)

    ana_page.close()
    presence_line.wait_for(state="hidden", timeout=12_000)
    ben_page.locator("#online li.presence-agent").nth(1).wait_for(state="detached")
    assert online.all_inner_texts() == ["Ben Okoro (you)"]


def test_a_widget_visitor_and_an_agent_see_each_other_type(
    asgi_server, host_page, tasks, admin_member, widget_channel, browser
):
    named(admin_member, "Ana", "Silva")
    visitor = browser.new_context().new_page()
    visitor.set_default_timeout(20_000)
    visitor.goto(host_page.origin + "/")
    visitor.locator(".launcher").click()
    visitor.fill("textarea", "Do you ship to Porto?")
    visitor.press("textarea", "Enter")
    visitor.locator("li.inbound:not(.pending)").wait_for()

    agent = agent_page(browser, asgi_server, admin_member)
    row = agent.locator("li.conversation-row", has_text="Do you ship to Porto?")
    row.locator("a").first.click()
    agent.wait_for_url("**/conversations/*/")
    agent.wait_for_selector(
        "body[data-live=connected] [data-presence-for]", state="attached"
    )

    # The agent's page tells the server which conversation it shows when the
    # pane loads; on a busy machine that can reach the server after a short
    # burst of typing has already expired. The visitor keeps typing, as people
    # do, until the agent sees it (at most 20 s).
    customer_typing = agent.locator(
        ".presence-customer", has_text="The customer is typing…"
    )
    for _ in range(20):
        visitor.locator("textarea").press_sequentially("And to Fa", delay=60)
        try:
            customer_typing.wait_for(timeout=1_000)
            break
        except PlaywrightTimeoutError:
            continue
    customer_typing.wait_for()

    agent.locator("#reply-text").press_sequentially("Yes, we do", delay=60)
    typing = visitor.locator(".typing")
    typing.wait_for()
    assert typing.inner_text() == "typing…"
    # The visitor never learns who types.
    assert "Ana" not in visitor.locator("#pingback-widget").evaluate(
        "e => e.shadowRoot.textContent"
    )
    typing.wait_for(state="hidden", timeout=12_000)

"""The settings pages for canned responses, labels and teams in a real
browser: no serious or critical accessibility violation (axe-core), label
colours painted under the strict CSP, the colour picker in step with the text
field, and nothing wider than the window with long and hostile content, at
1440 and 390 px (screenshots in PINGBACK_SCREENSHOT_DIR, default /tmp)."""

from __future__ import annotations

import os

import pytest

from billing.tests.factories import MemberFactory
from conversations.tests.factories import ConversationFactory
from conversations.tests.test_live_browser import log_in
from pingback.axe import axe_violations
from workspace.tests.factories import (
    CannedResponseFactory,
    LabelFactory,
    TeamFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("PINGBACK_SCREENSHOT_DIR", "/tmp")
# A right-to-left override: everything after it would read backwards if it
# escaped its element.
RLO = "\u202e"
HOSTILE_NAME = f"<b>bold</b> {RLO}evil name"
CSP_WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
def hostile(admin_member):
    """Rows with long and hostile content; ids of one of each."""
    business = admin_member.business
    agent = MemberFactory(
        business=business, user__first_name=HOSTILE_NAME, user__last_name="x" * 80
    )
    label = LabelFactory(
        business=business,
        name=HOSTILE_NAME[:40],
        color="#d62976",
        description="A description of two hundred characters " * 5,
    )
    LabelFactory(business=business, name="vip", color="#1f77b4")
    LabelFactory(business=business, name="L" * 40, color="#25d366")
    conversation = ConversationFactory(business=business)
    conversation.labels.add(label)
    team = TeamFactory(
        business=business,
        name=HOSTILE_NAME + " " + "T" * 70,
        description="Unbroken" * 40,
        members=[agent, admin_member],
    )
    canned = CannedResponseFactory(
        business=business,
        short_code="a" * 40,
        content=("Hello {{contact.name}}, " + "w" * 300 + " ") * 12
        + "é" * (4000 - 12 * 325),
        created_by=agent,
    )
    CannedResponseFactory(business=business, short_code="refund", content="Refunded.")
    return {"label": label.pk, "team": team.pk, "canned": canned.pk}


def pages(ids) -> list[tuple[str, str]]:
    return [
        ("canned-list", "/settings/canned-responses/"),
        ("canned-form", f"/settings/canned-responses/{ids['canned']}/"),
        ("canned-new", "/settings/canned-responses/new/"),
        ("label-list", "/settings/labels/"),
        ("label-form", f"/settings/labels/{ids['label']}/"),
        ("team-list", "/settings/teams/"),
        ("team-form", f"/settings/teams/{ids['team']}/"),
        ("team-delete", f"/settings/teams/{ids['team']}/delete/"),
    ]


def assert_fits(page, width: int) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than the {width}px window"


@pytest.mark.parametrize("width", [1440, 390])
def test_pages_fit_the_window_and_pass_axe(
    asgi_server, admin_member, hostile, browser_page, width
):
    page = browser_page
    page.add_init_script(CSP_WATCH)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, asgi_server, admin_member)

    for name, path in pages(hostile):
        page.goto(asgi_server.url + path)
        assert_fits(page, width)
        assert axe_violations(page) == [], (name, width)
        page.screenshot(
            path=f"{SCREENSHOTS}/pingback-settings-{name}-{width}.png",
            full_page=True,
        )
        assert page.evaluate("window.cspViolations") == [], name

    # The hostile name is text, not markup, and its override stays inside.
    page.goto(asgi_server.url + "/settings/labels/")
    assert page.locator(".settings-rows b").count() == 0
    assert page.get_by_text("<b>bold</b>", exact=False).count() >= 1


def test_a_refused_form_passes_axe_and_ties_the_error(
    asgi_server, admin_member, hostile, browser_page
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.goto(asgi_server.url + "/settings/labels/new/")
    page.fill("#name", "VIP")
    page.fill("#color", "#123456")
    page.fill("#description", "Typed before the refusal")
    page.click("main button[type=submit]")

    page.locator("#name-errors").wait_for()
    assert page.locator("#name-errors").inner_text() == (
        "A label with this name already exists."
    )
    assert page.locator("#name").input_value() == "VIP"
    assert page.locator("#description").input_value() == "Typed before the refusal"
    described = page.locator("#name").get_attribute("aria-describedby").split()
    assert "name-errors" in described
    assert axe_violations(page) == []
    page.screenshot(path=f"{SCREENSHOTS}/pingback-settings-label-refused.png")


def test_label_colours_are_painted_and_the_picker_follows_the_text(
    asgi_server, admin_member, hostile, browser_page
):
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.goto(asgi_server.url + "/settings/labels/")

    colour = page.evaluate(
        """() => getComputedStyle(
                   document.querySelector('.swatch[data-color="#1f77b4"]')
                 ).backgroundColor"""
    )
    assert colour == "rgb(31, 119, 180)"

    page.goto(asgi_server.url + f"/settings/labels/{hostile['label']}/")
    assert page.locator("#color-picker").input_value() == "#d62976"
    page.fill("#color", "#00FF00")
    assert page.locator("#color-picker").input_value() == "#00ff00"
    page.locator("#color-picker").evaluate(
        "el => { el.value = '#123abc'; el.dispatchEvent(new Event('input')); }"
    )
    assert page.locator("#color").input_value() == "#123abc"


def test_an_agent_sees_read_only_pages_that_pass_axe(
    asgi_server, agent_member, hostile, browser_page
):
    page = browser_page
    log_in(page, asgi_server, agent_member)
    for path in (
        "/settings/canned-responses/",
        "/settings/labels/",
        "/settings/teams/",
    ):
        page.goto(asgi_server.url + path)
        assert page.get_by_text("Only admins can change these.").is_visible()
        assert page.locator("main form[method=post]").count() == 0
        assert axe_violations(page) == []


@pytest.fixture
def grace(admin_member):
    admin_member.user.first_name = "Grace"
    admin_member.user.save()
    return admin_member


def test_the_canned_response_form_previews_the_variables(
    asgi_server, grace, browser_page
):
    admin_member = grace
    page = browser_page
    log_in(page, asgi_server, admin_member)
    page.goto(asgi_server.url + "/settings/canned-responses/new/")
    preview = page.locator(".canned-preview-text")
    assert not page.locator(".canned-preview").is_visible()

    page.fill(
        "#content",
        "Hi {{ contact.name }}, {{agent.name}} here about #{{conversation.id}} "
        "{{other.thing}} <b>x</b>",
    )

    assert preview.inner_text() == (
        "Hi Ada Lovelace, Grace here about #1042 {{other.thing}} <b>x</b>"
    )
    assert axe_violations(page) == []

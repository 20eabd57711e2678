"""`short_time` / `full_time` (the inbox's times, server side) and the
preferences page's forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse

from billing.tests.factories import UserFactory
from conversations.templatetags.times import (
    day_time_text,
    full_time_text,
    short_time_text,
)

# Saturday 5 December 2026, 14:30 in Lisbon (UTC+0 in winter).
NOW = datetime(2026, 12, 5, 14, 30, tzinfo=UTC)
LISBON = ZoneInfo("Europe/Lisbon")


# (how long before NOW, what the inbox shows in Lisbon); times.js is checked
# against the same table in test_shortcuts_notify_browser.py.
TIME_CASES = [
    (timedelta(seconds=0), "just now"),
    (timedelta(seconds=59), "just now"),
    (timedelta(seconds=-30), "just now"),
    (timedelta(seconds=60), "1 min"),
    (timedelta(minutes=59, seconds=59), "59 min"),
    (timedelta(hours=1), "13:30"),
    (timedelta(hours=14, minutes=30), "00:00"),
    (timedelta(hours=14, minutes=31), "Fri 23:59"),
    (timedelta(days=6), "Sun 14:30"),
    (timedelta(days=7), "28 Nov"),
    (timedelta(days=338), "1 Jan"),
    (timedelta(days=339), "31 Dec 2025"),
    (timedelta(hours=-3), "17:30"),
    (timedelta(days=-2), "7 Dec"),
]


@pytest.mark.parametrize(("ago", "shown"), TIME_CASES)
def test_short_time_follows_the_documented_rule(ago, shown):
    assert short_time_text(NOW - ago, NOW, LISBON) == shown


def test_short_time_uses_calendar_days_of_the_zone():
    # 23:30 UTC on Friday is already Saturday 08:30 in Tokyo.
    tokyo = ZoneInfo("Asia/Tokyo")
    friday_night = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)
    assert short_time_text(friday_night, NOW, tokyo) == "08:30"
    assert short_time_text(friday_night, NOW, LISBON) == "Fri 23:30"


def test_the_filters_render_in_a_template():
    when = datetime(2025, 3, 1, 9, 5, tzinfo=UTC)
    html = Template(
        "{% load times %}{{ when|short_time }}|{{ when|full_time }}"
        '|{{ when|short_time:"Asia/Tokyo" }}|{{ none|short_time }}'
    ).render(Context({"when": when, "none": None}))
    assert html == "1 Mar 2025|Sat 1 Mar 2025, 09:05|1 Mar 2025|"
    assert full_time_text(NOW, LISBON) == "Sat 5 Dec 2026, 14:30"


def test_day_time_puts_the_day_first_and_the_year_when_it_is_another():
    assert day_time_text(NOW, NOW, LISBON) == "5 Dec, 14:30"
    last_year = datetime(2025, 12, 31, 23, 59, 9, tzinfo=UTC)
    assert day_time_text(last_year, NOW, LISBON) == "31 Dec 2025, 23:59"
    assert (
        day_time_text(last_year, NOW, LISBON, seconds=True) == "31 Dec 2025, 23:59:09"
    )
    # The year is the zone's: 23:59 UTC on 31 December is 2026 in Tokyo.
    assert day_time_text(last_year, NOW, ZoneInfo("Asia/Tokyo")) == "1 Jan, 08:59"


def test_day_time_speaks_the_active_language():
    from django.utils import translation

    when = datetime(2026, 12, 5, 9, 5, tzinfo=UTC)
    template = Template(
        '{% load times %}{{ when|day_time }}|{{ when|day_time:"seconds" }}'
        "|{{ none|day_time }}"
    )
    with translation.override("es"):
        html = template.render(Context({"when": when, "none": None}))
    assert html.startswith("5 dic, ") and "|5 dic, " in html and html.endswith("|")


# ------------------------------------------------------------------ the page


@pytest.fixture
def client_of(db):
    def build(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return build


URL = "/settings/preferences/"


def test_the_url_is_named():
    assert reverse("preferences") == URL


@pytest.mark.django_db
def test_one_switch_saves_and_answers_all_four(agent_member, client_of):
    response = client_of(agent_member.user).post(
        URL, {"field": "notify_mention", "value": "0"}
    )

    assert response.status_code == 200
    assert response.json() == {
        "notify_new_conversation": True,
        "notify_customer_reply": True,
        "notify_mention": False,
        "notify_sound": False,
    }
    agent_member.refresh_from_db()
    assert agent_member.notify_mention is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"field": "role", "value": "1"}, "field"),
        ({"field": "notify_sound", "value": "maybe"}, "value"),
    ],
)
def test_a_bad_switch_is_400_naming_the_field(agent_member, client_of, body, named):
    response = client_of(agent_member.user).post(URL, body)

    assert response.status_code == 400
    assert list(response.json()) == [named]
    agent_member.refresh_from_db()
    assert (agent_member.role, agent_member.notify_sound) == ("agent", False)


@pytest.mark.django_db
def test_the_form_without_script_sets_all_four(agent_member, client_of):
    client = client_of(agent_member.user)
    response = client.post(URL, {"notify_sound": "on"})

    assert response.status_code == 302
    agent_member.refresh_from_db()
    assert (
        agent_member.notify_new_conversation,
        agent_member.notify_customer_reply,
        agent_member.notify_mention,
        agent_member.notify_sound,
    ) == (False, False, False, True)
    page = client.get(URL).content.decode()
    assert "Preferences saved." in page
    assert 'name="notify_sound" aria-describedby="help-notify_sound" checked' in page


@pytest.mark.django_db
def test_only_members_see_the_page(client_of):
    assert Client().get(URL).status_code == 302  # to the login page
    assert client_of(UserFactory()).get(URL).status_code == 403


@pytest.mark.django_db
def test_the_body_carries_the_sound_switch_and_the_scripts(agent_member, client_of):
    page = client_of(agent_member.user).get(URL).content.decode()
    assert 'data-notify-sound="0"' in page
    assert f'data-user-id="{agent_member.user.pk}"' in page
    for script in ("times.js", "shortcuts.js", "notify.js"):
        assert f"/static/inbox/{script}" in page

"""Business hours and away messages on `/settings/business/`: admins save
them, a refusal names the day or channel and keeps what was typed, agents
only read."""

from __future__ import annotations

import pytest
from django.test import Client

from channels_app.tests.factories import ChannelFactory
from workspace.hours import WEEKDAYS
from workspace.models import AwayMessage, OpeningInterval
from workspace.selectors import business_hours
from workspace.services import away_message_save

pytestmark = pytest.mark.django_db

URL = "/settings/business/"


def page_client(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def hours_form(**days) -> dict:
    """The hours form: `monday=[("09:00", "18:00")]` opens Monday 9-18."""
    data = {"form": "hours", "hours_enabled": "on"}
    for day in WEEKDAYS:
        intervals = days.get(day, [])
        if intervals:
            data[f"{day}-open"] = "on"
        data[f"{day}-opens"] = [o for o, _ in intervals] or [""]
        data[f"{day}-closes"] = [c for _, c in intervals] or [""]
    return data


def test_an_admin_saves_a_split_day_and_a_closed_weekend(admin_member):
    answer = page_client(admin_member).post(
        URL,
        hours_form(
            monday=[("09:00", "12:30"), ("13:30", "18:00")],
            friday=[("9:00", "24:00")],
        ),
    )

    assert answer.status_code == 302
    hours = business_hours(admin_member.business)
    assert dict(hours.week) == {0: [(540, 750), (810, 1080)], 4: [(540, 1440)]}
    page = page_client(admin_member).get(URL).content.decode()
    assert 'value="13:30"' in page
    assert 'value="24:00"' in page


def test_a_refused_interval_is_named_by_day_and_the_typed_week_stays(admin_member):
    answer = page_client(admin_member).post(
        URL,
        hours_form(
            monday=[("09:00", "18:00")],
            tuesday=[("22:00", "02:00")],
            wednesday=[("nine", "17:00")],
        ),
    )

    assert answer.status_code == 400
    page = answer.content.decode()
    assert 'id="tuesday-errors"' in page
    assert "Interval 1 (22:00-02:00): it must close after it opens" in page
    assert 'id="wednesday-errors"' in page
    assert "the opening time is not a time of day" in page
    assert 'id="monday-errors"' not in page
    for typed in ('value="22:00"', 'value="02:00"', 'value="nine"', 'value="18:00"'):
        assert typed in page
    assert not OpeningInterval.objects.exists()


def test_a_day_marked_open_needs_its_hours(admin_member):
    form = hours_form(monday=[("09:00", "18:00")])
    form["thursday-open"] = "on"

    answer = page_client(admin_member).post(URL, form)

    assert answer.status_code == 400
    assert "untick Open for a closed day" in answer.content.decode()
    assert not OpeningInterval.objects.exists()


def test_turning_business_hours_off_removes_them(admin_member):
    client = page_client(admin_member)
    client.post(URL, hours_form(monday=[("09:00", "18:00")]))

    form = hours_form(monday=[("09:00", "18:00")])
    del form["hours_enabled"]
    answer = client.post(URL, form)

    assert answer.status_code == 302
    assert business_hours(admin_member.business) is None


def test_an_agent_reads_but_cannot_save(agent_member):
    client = page_client(agent_member)
    assert client.get(URL).status_code == 200

    answer = client.post(URL, hours_form(monday=[("09:00", "18:00")]))

    assert answer.status_code == 403
    assert not OpeningInterval.objects.exists()


def test_an_admin_writes_each_channel_away_message(admin_member):
    business = admin_member.business
    x = ChannelFactory(business=business, name="Support on X")
    sms = ChannelFactory(business=business, name="Shop SMS", is_active=False)

    answer = page_client(admin_member).post(
        URL,
        {
            "form": "away",
            f"away-{x.pk}-enabled": "on",
            f"away-{x.pk}-body": "  We are closed; back at 9:00.  ",
            f"away-{sms.pk}-body": "Draft for later",
        },
    )

    assert answer.status_code == 302
    assert AwayMessage.objects.get(channel=x).enabled
    assert AwayMessage.objects.get(channel=x).body == "We are closed; back at 9:00."
    assert not AwayMessage.objects.get(channel=sms).enabled
    assert AwayMessage.objects.get(channel=sms).body == "Draft for later"
    page = page_client(admin_member).get(URL).content.decode()
    assert "deactivated: nothing is sent" in page


def test_a_refused_away_message_names_its_channel_and_saves_none(admin_member):
    business = admin_member.business
    x = ChannelFactory(business=business, name="Support on X")
    other = ChannelFactory(business=business, name="Second X")
    away_message_save(channel=x, enabled=True, body="Old text")

    answer = page_client(admin_member).post(
        URL,
        {
            "form": "away",
            f"away-{x.pk}-enabled": "on",
            f"away-{x.pk}-body": "New text, typed",
            f"away-{other.pk}-enabled": "on",
            f"away-{other.pk}-body": "   ",
        },
    )

    assert answer.status_code == 400
    page = answer.content.decode()
    assert f'id="away-{other.pk}-body-errors"' in page
    assert "Write the away message, or turn it off." in page
    assert "New text, typed" in page
    assert AwayMessage.objects.get(channel=x).body == "Old text"
    assert not AwayMessage.objects.filter(channel=other).exists()


def test_an_away_message_longer_than_the_channel_carries_is_refused(admin_member):
    x = ChannelFactory(business=admin_member.business)  # an X DM: 10,000

    answer = page_client(admin_member).post(
        URL,
        {"form": "away", f"away-{x.pk}-enabled": "on", f"away-{x.pk}-body": "a" * 1001},
    )

    assert answer.status_code == 400
    assert "at most 1000 characters; this one has 1001" in answer.content.decode()

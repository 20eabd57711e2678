"""The business settings page's customer satisfaction form: off by
default, admins turn it on and set the question, a refusal keeps what was
typed, agents cannot change it."""

from __future__ import annotations

import pytest
from django.test import Client

from satisfaction.models import DEFAULT_QUESTION, SatisfactionSettings

pytestmark = pytest.mark.django_db

URL = "/settings/business/"


def logged_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def test_off_by_default_with_the_default_question(admin_member):
    body = logged_in(admin_member).get(URL).content.decode()

    assert 'id="csat_enabled" name="csat_enabled">' in body  # not checked
    assert DEFAULT_QUESTION in body
    assert not SatisfactionSettings.objects.exists()


def test_an_admin_turns_it_on_with_a_question(admin_member, business):
    client = logged_in(admin_member)

    saved = client.post(
        URL,
        {"form": "csat", "csat_enabled": "on", "csat_question": " How was it? "},
    )

    assert saved.status_code == 302
    stored = SatisfactionSettings.objects.get(business=business)
    assert (stored.enabled, stored.question) == (True, "How was it?")
    page = client.get(URL).content.decode()
    assert 'id="csat_enabled" name="csat_enabled" checked' in page
    assert "Satisfaction ratings on" in page


def test_an_empty_question_is_refused_keeping_the_checkbox(admin_member):
    refused = logged_in(admin_member).post(
        URL, {"form": "csat", "csat_enabled": "on", "csat_question": "   "}
    )

    assert refused.status_code == 400
    body = refused.content.decode()
    assert "Write the question the customer is asked." in body
    assert 'id="csat_question-errors"' in body
    assert 'id="csat_enabled" name="csat_enabled" checked' in body
    assert not SatisfactionSettings.objects.exists()


def test_an_agent_cannot_change_it(agent_member):
    refused = logged_in(agent_member).post(
        URL, {"form": "csat", "csat_enabled": "on", "csat_question": "Rate us"}
    )

    assert refused.status_code == 403
    assert not SatisfactionSettings.objects.exists()

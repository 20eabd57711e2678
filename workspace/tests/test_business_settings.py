"""The business's general settings (name, time zone, default country,
search language), in `/settings/business/` and `/api/v1/business/`."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from billing.models import Business
from conversations.search import search
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="text search languages: PostgreSQL"
)
URL = "/api/v1/business/"


def page_client(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def test_every_member_reads_the_settings(api_client_for, agent_member):
    answer = api_client_for(agent_member).get(URL)

    assert answer.status_code == 200
    business = agent_member.business
    assert answer.json() == {
        "id": str(business.pk),
        "name": business.name,
        "plan": business.plan,
        "time_zone": business.time_zone,
        "default_country": business.default_country,
        "search_language": business.search_language,
        "business_hours": None,
    }


def test_an_agent_cannot_change_them(api_client_for, agent_member):
    answer = api_client_for(agent_member).patch(
        URL, {"time_zone": "Europe/Lisbon"}, format="json"
    )

    assert answer.status_code == 403
    assert Business.objects.get(pk=agent_member.business_id).time_zone == "UTC"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_zone", "Mars/Olympus_Mons"),
        ("default_country", "XX"),
        ("search_language", "klingon"),
        ("name", " "),
    ],
)
def test_a_refused_value_is_a_400_naming_its_field_and_nothing_changes(
    admin_api, admin_member, field, value
):
    answer = admin_api.patch(
        URL, {"time_zone": "Europe/Lisbon", field: value}, format="json"
    )

    assert answer.status_code == 400
    assert list(answer.json()) == [field]
    assert Business.objects.get(pk=admin_member.business_id).time_zone == "UTC"


def test_an_admin_sets_the_default_country_and_a_local_number_is_found(
    admin_api, admin_member
):
    from contacts.services.contacts import contact_create

    business = admin_member.business
    contact_create(business=business, name="Ana", phones=["+351912345678"])

    answer = admin_api.patch(URL, {"default_country": "pt"}, format="json")

    assert answer.status_code == 200
    assert answer.json()["default_country"] == "PT"
    business.refresh_from_db()
    assert [c.name for c in search(business, "912 345 678").contacts] == ["Ana"]


@postgresql_only
def test_a_new_search_language_reindexes_older_messages(
    admin_member, django_capture_on_commit_callbacks
):
    # given: a message written before the change, in a business searching
    # words as written
    business = admin_member.business
    MessageFactory(
        conversation=ConversationFactory(business=business),
        text="The parcels were delivered",
    )
    assert search(business, "deliver").conversations == []

    # when: the admin picks English on the settings page
    with django_capture_on_commit_callbacks(execute=True):
        answer = page_client(admin_member).post(
            reverse("settings-business"),
            {
                "name": business.name,
                "time_zone": "Europe/London",
                "default_country": "GB",
                "search_language": "english",
            },
        )

    # then: the older message is found by another form of its words
    assert answer.status_code == 302
    business.refresh_from_db()
    assert business.search_language == "english"
    assert len(search(business, "deliver").conversations) == 1


def test_the_page_keeps_what_was_typed_beside_the_refusal(admin_member):
    answer = page_client(admin_member).post(
        reverse("settings-business"),
        {
            "name": "Acme",
            "time_zone": "Lisbon",
            "default_country": "",
            "search_language": "simple",
        },
    )

    html = answer.content.decode()
    assert answer.status_code == 400
    assert "is not a time zone" in html
    assert 'value="Lisbon"' in html
    assert 'id="time_zone" name="time_zone"' in html


def test_an_agent_sees_the_settings_read_only_and_cannot_post(agent_member):
    client = page_client(agent_member)

    html = client.get(reverse("settings-business")).content.decode()
    answer = client.post(
        reverse("settings-business"), {"name": "Hijacked", "time_zone": "UTC"}
    )

    assert "Only admins can change these." in html
    assert "<fieldset disabled" in html
    assert answer.status_code == 403
    assert Business.objects.get(pk=agent_member.business_id).name != "Hijacked"

"""`/api/v1/contacts/`: list, search, label filter, CRUD, field errors,
another business's contacts, conversations on every channel."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.tests.factories import BusinessFactory
from channels_app.tests.factories import ChannelFactory
from contacts.services.contacts import contact_create
from conversations.models import Contact
from conversations.tests.factories import (
    ContactIdentityFactory,
    ConversationFactory,
)
from workspace.models import Label

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/"


@pytest.fixture
def agent_api(agent_member, api_client_for):
    return api_client_for(agent_member)


def test_list_newest_first_with_details(admin_api, admin_member):
    business = admin_member.business
    vip = Label.objects.create(business=business, name="vip", color="#d97706")
    older = contact_create(business=business, name="Old Customer")
    Contact.objects.filter(pk=older.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    ana = contact_create(
        business=business,
        name="Ana Lima",
        company="Lima & Co",
        emails=["Ana@Example.com"],
        phones=["+351 912 345 678"],
        custom_attributes={"plan": "pro"},
        label_ids=[vip.pk],
        note="Prefers e-mail.",
    )
    identity = ContactIdentityFactory(contact=ana, handle="ana_l")
    ConversationFactory(business=business, contact=ana, contact_identity=identity)
    contact_create(business=BusinessFactory(), name="Not ours")

    answer = admin_api.get(URL)

    assert answer.status_code == 200
    rows = answer.json()["results"]
    assert [row["name"] for row in rows] == ["Ana Lima", "Old Customer"]
    row = rows[0]
    assert row["emails"] == ["ana@example.com"]
    assert row["phones"] == ["+351912345678"]
    assert row["labels"] == [{"id": vip.pk, "name": "vip", "color": "#d97706"}]
    assert row["custom_attributes"] == {"plan": "pro"}
    assert row["note"] == "Prefers e-mail."
    assert row["company"] == "Lima & Co"
    assert row["conversations_count"] == 1
    assert row["identities"] == [
        {
            "id": identity.pk,
            "channel_id": str(identity.channel_id),
            "channel_type": identity.channel.type,
            "handle": "ana_l",
            "external_id": identity.external_id,
        }
    ]


def test_list_query_count_does_not_grow_with_the_page(
    admin_api, admin_member, django_assert_max_num_queries
):
    business = admin_member.business
    labels = [Label.objects.create(business=business, name=f"l{i}") for i in range(3)]
    for i in range(30):
        contact = contact_create(
            business=business,
            name=f"Customer {i}",
            emails=[f"c{i}@example.com"],
            phones=[f"+1415555{i:04d}"],
            label_ids=[label.pk for label in labels],
        )
        ConversationFactory(business=business, contact=contact)
    admin_api.get(URL)  # the token's first use records when it was used
    with django_assert_max_num_queries(6):
        answer = admin_api.get(URL, {"page_size": 30})
    assert len(answer.json()["results"]) == 30


def test_q_finds_by_name_email_and_phone_typed_any_way(admin_api, admin_member):
    business = admin_member.business
    business.default_country = "PT"
    business.save()
    ana = contact_create(business=business, name="Ana Lima", emails=["ana@example.com"])
    bob = contact_create(business=business, name="Bob", phones=["+351912345678"])
    contact_create(business=business, name="Carla")

    def names(q):
        return [r["name"] for r in admin_api.get(URL, {"q": q}).json()["results"]]

    assert names("lima") == [ana.name]
    assert names("ANA@example") == [ana.name]
    assert names("912 345 678") == [bob.name]
    assert names("nobody") == []


def test_label_filter_by_id_or_name_and_unknown_is_400(admin_api, admin_member):
    business = admin_member.business
    vip = Label.objects.create(business=business, name="VIP")
    foreign = Label.objects.create(business=BusinessFactory(), name="foreign")
    contact_create(business=business, name="Ana", label_ids=[vip.pk])
    contact_create(business=business, name="Bob")

    by_id = admin_api.get(URL, {"label": vip.pk}).json()["results"]
    by_name = admin_api.get(URL, {"label": "vip"}).json()["results"]
    assert [r["name"] for r in by_id] == ["Ana"]
    assert [r["name"] for r in by_name] == ["Ana"]
    refused = admin_api.get(URL, {"label": foreign.pk})
    assert refused.status_code == 400
    assert "label" in refused.json()


def test_create_retrieve_update_by_an_agent(agent_api, agent_member):
    business = agent_member.business
    vip = Label.objects.create(business=business, name="vip")
    created = agent_api.post(
        URL,
        {
            "name": "Ana",
            "emails": ["ANA@example.com"],
            "phones": ["+1 415 555 0100"],
            "labels": ["vip"],
            "custom_attributes": {"plan": "free"},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    contact_id = created.json()["id"]
    assert created.json()["phones"] == ["+14155550100"]
    assert created.json()["labels"][0]["id"] == vip.pk

    changed = agent_api.patch(
        f"{URL}{contact_id}",
        {"company": "Acme", "custom_attributes": {"plan": "pro"}},
        format="json",
    )
    assert changed.status_code == 200
    shown = agent_api.get(f"{URL}{contact_id}").json()
    assert shown["company"] == "Acme"
    assert shown["name"] == "Ana"
    assert shown["emails"] == ["ana@example.com"]
    assert shown["custom_attributes"] == {"plan": "pro"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"emails": ["not an address"]}, "emails"),
        ({"phones": ["call me maybe"]}, "phones"),
        ({"custom_attributes": {"Bad Key": 1}}, "custom_attributes"),
        ({"custom_attributes": [1, 2]}, "custom_attributes"),
        ({"labels": ["no such label"]}, "labels"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_bad_fields_answer_400_naming_them_and_change_nothing(
    admin_api, admin_member, body, field
):
    contact = contact_create(business=admin_member.business, name="Ana")
    answer = admin_api.patch(f"{URL}{contact.pk}", body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()
    contact.refresh_from_db()
    assert contact.name == "Ana"
    assert contact.custom_attributes == {}
    assert admin_api.post(URL, body, format="json").status_code == 400
    assert Contact.objects.filter(business=admin_member.business).count() == 1


def test_another_business_contact_is_404(admin_api):
    foreign = contact_create(business=BusinessFactory(), name="Theirs")
    for answer in (
        admin_api.get(f"{URL}{foreign.pk}"),
        admin_api.patch(f"{URL}{foreign.pk}", {"name": "Mine"}, format="json"),
        admin_api.delete(f"{URL}{foreign.pk}"),
        admin_api.get(f"{URL}{foreign.pk}/conversations"),
        admin_api.get(f"{URL}{foreign.pk}/data"),
        admin_api.post(f"{URL}{foreign.pk}/erase"),
        admin_api.get(f"{URL}not-a-number"),
    ):
        assert answer.status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Theirs"
    assert foreign.erased_at is None


def test_delete_is_for_admins(agent_api, admin_api, agent_member):
    contact = contact_create(business=agent_member.business, name="Ana")
    assert agent_api.delete(f"{URL}{contact.pk}").status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert admin_api.delete(f"{URL}{contact.pk}").status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_conversations_on_every_channel_newest_first(admin_api, admin_member):
    business = admin_member.business
    contact = contact_create(business=business, name="Ana")
    now = timezone.now()
    old = ConversationFactory(
        business=business,
        contact=contact,
        channel=ChannelFactory(business=business, type="x"),
        last_message_at=now - timedelta(days=1),
    )
    new = ConversationFactory(
        business=business,
        contact=contact,
        channel=ChannelFactory(business=business, type="email"),
        last_message_at=now,
    )
    ConversationFactory(business=business)  # someone else's

    answer = admin_api.get(f"{URL}{contact.pk}/conversations")

    assert answer.status_code == 200
    rows = answer.json()["results"]
    assert [row["id"] for row in rows] == [new.pk, old.pk]
    assert {row["channel_type"] for row in rows} == {"x", "email"}


def test_unauthenticated_is_refused():
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code in (401, 403)


def test_schema_documents_the_contacts_endpoints(admin_api):
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/v1/contacts/" in paths
    assert "/api/v1/contacts/import" in paths or "/api/v1/contacts/import/" in paths
    assert any("erase" in path for path in paths)


def test_conversations_query_count_does_not_grow(
    admin_api, admin_member, django_assert_max_num_queries
):
    business = admin_member.business
    contact = contact_create(business=business, name="Ana")
    vip = Label.objects.create(business=business, name="vip")
    for _ in range(12):
        conversation = ConversationFactory(business=business, contact=contact)
        conversation.labels.add(vip)
    admin_api.get(f"{URL}{contact.pk}/conversations")
    with django_assert_max_num_queries(8):
        answer = admin_api.get(f"{URL}{contact.pk}/conversations")
    rows = answer.json()["results"]
    assert len(rows) == 12
    assert rows[0]["labels"] == [{"id": vip.pk, "name": "vip", "color": vip.color}]

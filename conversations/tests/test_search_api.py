"""`GET /api/v1/search/` and `?q=` on `GET /api/v1/conversations/`."""

from __future__ import annotations

import pytest

from billing.tests.factories import BusinessFactory
from channels_app.tests.factories import ChannelFactory
from contacts.services.contacts import contact_create
from conversations.tests.factories import ConversationFactory, MessageFactory
from workspace.models import Label

pytestmark = pytest.mark.django_db


def test_search_answers_conversations_with_the_match_and_contacts(business, admin_api):
    conversation = ConversationFactory(business=business, subject="")
    message = MessageFactory(
        conversation=conversation, text="My <b>voucher</b> code is not working"
    )
    contact = contact_create(
        business=business, name="Voucher Collector", emails=["v@example.com"]
    )

    response = admin_api.get("/api/v1/search/", {"q": "voucher"})

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    [found] = body["conversations"]
    assert found["id"] == conversation.pk
    assert found["contact"] == {
        "id": conversation.contact_id,
        "name": conversation.contact.name,
    }
    assert found["channel_type"] == conversation.channel_type
    assert found["match"]["message_id"] == message.pk
    assert found["match"]["kind"] == "message"
    assert found["match"]["direction"] == "inbound"
    assert "<mark>voucher</mark>" in found["match"]["highlight"]
    assert "&lt;b&gt;" in found["match"]["highlight"]
    assert body["contacts"] == [
        {
            "id": contact.pk,
            "name": "Voucher Collector",
            "company": "",
            "emails": ["v@example.com"],
            "phones": [],
        }
    ]


@pytest.mark.parametrize("q", ["", "   ", "!!", "a" * 201])
def test_empty_or_too_long_q_answers_400_naming_q(admin_api, q):
    response = admin_api.get("/api/v1/search/", {"q": q})
    assert response.status_code == 400
    assert list(response.json()) == ["q"]


def test_missing_q_answers_400_naming_q(admin_api):
    response = admin_api.get("/api/v1/search/")
    assert response.status_code == 400
    assert "q" in response.json()


def test_filters_of_another_business_answer_400_naming_them(business, admin_api):
    other = BusinessFactory()
    foreign_channel = ChannelFactory(business=other)
    Label.objects.create(business=other, name="foreign")
    for params, field in (
        ({"channel": str(foreign_channel.pk)}, "channel"),
        ({"label": "foreign"}, "label"),
        ({"status": "sleeping"}, "status"),
        ({"assignee": "someone"}, "assignee"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
    ):
        response = admin_api.get("/api/v1/search/", {"q": "hello", **params})
        assert response.status_code == 400, params
        assert field in response.json(), params


def test_search_filters_and_pages(business, admin_api, admin_member):
    label = Label.objects.create(business=business, name="VIP")
    messages = []
    for n in range(4):
        conversation = ConversationFactory(
            business=business, assignee=admin_member.user if n % 2 else None
        )
        if n == 3:
            conversation.labels.add(label)
        messages.append(
            MessageFactory(conversation=conversation, text=f"invoice number {n}")
        )

    mine = admin_api.get("/api/v1/search/", {"q": "invoice", "assignee": "me"})
    assert [c["match"]["message_id"] for c in mine.json()["conversations"]] == [
        messages[3].pk,
        messages[1].pk,
    ]
    labelled = admin_api.get(
        "/api/v1/search/", {"q": "invoice", "label": "vip", "assignee": "me"}
    )
    assert [c["id"] for c in labelled.json()["conversations"]] == [
        messages[3].conversation_id
    ]
    first = admin_api.get("/api/v1/search/", {"q": "invoice", "limit": 3}).json()
    assert len(first["conversations"]) == 3
    second = admin_api.get(first["next"]).json()
    assert [c["match"]["message_id"] for c in second["conversations"]] == [
        messages[0].pk
    ]
    assert second["contacts"] == []


def test_search_never_shows_another_business(business, admin_api):
    MessageFactory(
        conversation=ConversationFactory(business=BusinessFactory()),
        text="classified pineapple",
    )
    contact_create(business=BusinessFactory(), name="Pineapple Grower")

    body = admin_api.get("/api/v1/search/", {"q": "pineapple"}).json()

    assert body == {"conversations": [], "contacts": [], "next": None}


def test_search_api_query_count(business, admin_api, django_assert_max_num_queries):
    for n in range(30):
        conversation = ConversationFactory(business=business, subject=f"Order {n}")
        MessageFactory(conversation=conversation, text=f"order {n} is late")
        contact_create(business=business, name=f"Order Fan {n}", emails=[f"o{n}@x.io"])
    admin_api.get("/api/v1/search/", {"q": "order"})

    with django_assert_max_num_queries(6):
        response = admin_api.get("/api/v1/search/", {"q": "order", "status": "open"})

    assert len(response.json()["conversations"]) == 25
    assert len(response.json()["contacts"]) == 10


def test_list_q_finds_by_message_subject_and_contact(business, admin_api):
    by_message = MessageFactory(
        conversation=ConversationFactory(business=business), text="broken hinge"
    ).conversation
    by_subject = ConversationFactory(business=business, subject="Hinge warranty")
    contact = contact_create(
        business=business, name="Hinge Specialist", phones=["+14155550100"]
    )
    by_contact = ConversationFactory(business=business, contact=contact)
    ConversationFactory(business=business, subject="Other")
    ConversationFactory(business=BusinessFactory(), subject="Hinge elsewhere")

    response = admin_api.get("/api/v1/conversations/", {"q": "hinge"})

    assert response.status_code == 200
    assert sorted(c["id"] for c in response.json()["results"]) == sorted(
        [by_message.pk, by_subject.pk, by_contact.pk]
    )
    by_phone = admin_api.get("/api/v1/conversations/", {"q": "+1 (415) 555-0100"})
    assert [c["id"] for c in by_phone.json()["results"]] == [by_contact.pk]
    assert admin_api.get("/api/v1/conversations/", {"q": "x" * 201}).status_code == 400

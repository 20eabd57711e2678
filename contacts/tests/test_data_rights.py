"""Data rights: a contact's data export holds everything PingBack has about
them; erasure removes the content (files included) and keeps the counts."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from billing.tests.factories import BusinessFactory
from contacts.models import ContactEmail, ContactLabel, ContactPhone
from contacts.services.contacts import contact_create
from conversations.models import ContactIdentity, Conversation, Message
from conversations.search import contacts_matching
from conversations.services.conversations import activity_message
from conversations.tests.factories import (
    ContactIdentityFactory,
    ConversationFactory,
    MessageFactory,
    ReplyFactory,
)
from satisfaction.models import SatisfactionRating, SatisfactionRequest
from satisfaction.services import rating_submit
from workspace.models import Label

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/contacts/"


@pytest.fixture
def customer(admin_member):
    """Ana with details, a label, an identity and two conversations: one
    with a stored attachment, an agent's reply and a private note."""
    business = admin_member.business
    vip = Label.objects.create(business=business, name="vip")
    ana = contact_create(
        business=business,
        name="Ana Lima",
        company="Lima Lda",
        emails=["ana@example.com"],
        phones=["+351912345678"],
        custom_attributes={"plan": "pro"},
        label_ids=[vip.pk],
        note="Asked about refunds twice.",
    )
    identity = ContactIdentityFactory(contact=ana, handle="ana_l")
    first = ConversationFactory(
        business=business,
        contact=ana,
        contact_identity=identity,
        subject="Refund for order 42",
        last_message_preview="My address is Rua Nova 1",
    )
    stored = default_storage.save(
        "attachments/test/inbound/passport.jpg", ContentFile(b"jpeg bytes")
    )
    MessageFactory(
        conversation=first,
        text="My address is Rua Nova 1",
        attachments=[
            {
                "kind": "image",
                "filename": "passport.jpg",
                "content_type": "image/jpeg",
                "size": 10,
                "stored": stored,
            }
        ],
        sender_contact=ana,
    )
    ReplyFactory(conversation=first, text="Thanks Ana, refunded.", status="sent")
    MessageFactory(
        conversation=first,
        direction="outbound",
        kind="note",
        status="received",
        platform_message_id=None,
        text="She is a long-time customer.",
    )
    second = ConversationFactory(business=business, contact=ana)
    MessageFactory(conversation=second, text="Hello again")
    return {"ana": ana, "first": first, "second": second, "stored": stored}


def test_data_export_holds_everything(admin_api, customer):
    ana = customer["ana"]
    answer = admin_api.get(f"{URL}{ana.pk}/data")

    assert answer.status_code == 200
    data = answer.json()
    assert data["contact"]["name"] == "Ana Lima"
    assert data["contact"]["company"] == "Lima Lda"
    assert data["contact"]["note"] == "Asked about refunds twice."
    assert data["contact"]["custom_attributes"] == {"plan": "pro"}
    assert [e["address"] for e in data["emails"]] == ["ana@example.com"]
    assert [p["number"] for p in data["phones"]] == ["+351912345678"]
    assert data["labels"] == ["vip"]
    assert data["identities"][0]["handle"] == "ana_l"
    assert len(data["conversations"]) == 2
    first = next(c for c in data["conversations"] if c["id"] == customer["first"].pk)
    assert first["subject"] == "Refund for order 42"
    texts = [m["text"] for m in first["messages"]]
    assert texts == [
        "My address is Rua Nova 1",
        "Thanks Ana, refunded.",
        "She is a long-time customer.",
    ]
    attachment = first["messages"][0]["attachments"][0]
    assert attachment["filename"] == "passport.jpg"
    assert attachment["content_type"] == "image/jpeg"
    assert "stored" not in attachment  # where PingBack keeps it is not theirs


def test_an_agent_may_download_the_data_but_not_erase(
    agent_member, api_client_for, customer
):
    # The customer fixture's contact belongs to the admin's business, which
    # is the agent's too.
    agent_api = api_client_for(agent_member)
    ana = customer["ana"]
    assert agent_api.get(f"{URL}{ana.pk}/data").status_code == 200
    assert agent_api.post(f"{URL}{ana.pk}/erase").status_code == 403
    ana.refresh_from_db()
    assert ana.erased_at is None
    assert ana.name == "Ana Lima"
    assert default_storage.exists(customer["stored"])


def test_erase_removes_content_and_keeps_counts(admin_api, admin_member, customer):
    ana = customer["ana"]
    business = admin_member.business
    messages_before = Message.objects.filter(conversation__contact=ana).count()

    answer = admin_api.post(f"{URL}{ana.pk}/erase")

    assert answer.status_code == 200
    assert answer.json()["name"] == "Erased contact"
    assert answer.json()["erased_at"]
    ana.refresh_from_db()
    assert ana.name == "Erased contact"
    assert (ana.company, ana.note, ana.avatar_url) == ("", "", "")
    assert ana.custom_attributes == {}
    assert ana.search_text == ""
    assert not ContactIdentity.objects.filter(contact=ana).exists()
    assert not ContactEmail.objects.filter(contact=ana).exists()
    assert not ContactPhone.objects.filter(contact=ana).exists()
    assert not ContactLabel.objects.filter(contact=ana).exists()
    # Rows stay (plus one activity entry per conversation), content goes.
    assert Conversation.objects.filter(contact=ana).count() == 2
    messages = Message.objects.filter(conversation__contact=ana)
    assert messages.count() == messages_before + 2
    for message in messages.exclude(kind=Message.ACTIVITY):
        assert (message.text, message.html, message.attachments) == ("", "", [])
    for conversation in Conversation.objects.filter(contact=ana):
        assert conversation.subject == ""
        assert conversation.last_message_preview == ""
        assert conversation.thread_key == f"erased:{conversation.pk}"
        entry = conversation.messages.get(kind=Message.ACTIVITY)
        assert entry.author == admin_member.user
        assert "erased" in entry.text
    # The stored file is gone; the contact is not found by search.
    assert not default_storage.exists(customer["stored"])
    assert not contacts_matching(business, "ana").exists()
    assert not contacts_matching(business, "912345678").exists()
    listed = admin_api.get(URL, {"q": "lima"}).json()["results"]
    assert listed == []
    # Changing an erased contact is refused.
    refused = admin_api.patch(f"{URL}{ana.pk}", {"name": "Ana"}, format="json")
    assert refused.status_code == 409


def test_erase_leaves_other_contacts_alone(admin_api, admin_member, customer):
    business = admin_member.business
    other = contact_create(business=business, name="Bob", emails=["bob@example.com"])
    theirs = ConversationFactory(business=business, contact=other, subject="Hi")
    MessageFactory(conversation=theirs, text="Bob's message")
    foreign = contact_create(business=BusinessFactory(), name="Ana Lima")

    admin_api.post(f"{URL}{customer['ana'].pk}/erase")

    assert Message.objects.get(conversation=theirs).text == "Bob's message"
    theirs.refresh_from_db()
    assert theirs.subject == "Hi"
    other.refresh_from_db()
    foreign.refresh_from_db()
    assert other.name == "Bob" and foreign.name == "Ana Lima"
    assert "bob@example.com" in other.search_text


def _rated(conversation: Conversation, score: int, comment: str) -> SatisfactionRating:
    """`conversation` resolved, its customer asked to rate it and rating it
    `score` with `comment`."""
    resolution = activity_message(conversation, "Resolved", by=None)
    resolution.save()
    request = SatisfactionRequest.objects.create(
        business=conversation.business,
        conversation=conversation,
        resolution=resolution,
        channel_type=conversation.channel_type,
        status=SatisfactionRequest.Status.ASKED,
    )
    return rating_submit(request=request, score=score, comment=comment)


def test_the_data_export_holds_the_ratings_and_erasing_keeps_only_scores(
    admin_api, admin_member, customer
):
    ana, first, second = customer["ana"], customer["first"], customer["second"]
    slow = _rated(first, 2, "Slow. Call me on 912 345 678")
    great = _rated(second, 5, "")
    bob = contact_create(business=admin_member.business, name="Bob")
    theirs = ConversationFactory(business=admin_member.business, contact=bob)
    _rated(theirs, 1, "Bob's own words")

    data = admin_api.get(f"{URL}{ana.pk}/data").json()

    assert data["ratings"] == [
        {
            "conversation_id": first.pk,
            "score": 2,
            "comment": "Slow. Call me on 912 345 678",
            "rated_at": slow.created_at.isoformat(),
        },
        {
            "conversation_id": second.pk,
            "score": 5,
            "comment": "",
            "rated_at": great.created_at.isoformat(),
        },
    ]

    assert admin_api.post(f"{URL}{ana.pk}/erase").status_code == 200

    # As with messages: the rows and scores stay, the customer's words go.
    erased = admin_api.get(f"{URL}{ana.pk}/data").json()
    assert [
        (r["conversation_id"], r["score"], r["comment"]) for r in erased["ratings"]
    ] == [
        (first.pk, 2, ""),
        (second.pk, 5, ""),
    ]
    assert SatisfactionRating.objects.get(conversation=theirs).comment == (
        "Bob's own words"
    )
    bobs = admin_api.get(f"{URL}{bob.pk}/data").json()["ratings"]
    assert [(r["score"], r["comment"]) for r in bobs] == [(1, "Bob's own words")]

"""`contact.updated` and `conversation.updated` for every way a contact or a
conversation's labels change: one event per change (an edit touching three
fields is one event, naming them in `changed`), none for a save that
changes nothing. Sent for real to the loopback receiver."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.services.contacts import (
    contact_attributes_set,
    contact_create,
    contact_details_add,
    contact_update,
)
from contacts.services.identities import (
    VisitorIdentification,
    identity_profile_apply,
    visitor_details_apply,
)
from contacts.services.rights import contact_erase
from contacts.services.transfer import contacts_import
from conversations.services.conversations import conversation_update
from conversations.tests.factories import ContactIdentityFactory, ConversationFactory
from workspace.tests.factories import LabelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(receiver, endpoint, django_capture_on_commit_callbacks):
    """Run the block's changes with their on-commit hand-off, then give the
    events the receiver got (type, data)."""

    class Sent:
        def __call__(self, event_type=None):
            found = [
                json.loads(r.body) for r in receiver.received if r.method == "POST"
            ]
            return [e for e in found if event_type in (None, e["type"])]

        def __enter__(self):
            self._capture = django_capture_on_commit_callbacks(execute=True)
            self._capture.__enter__()
            return self

        def __exit__(self, *exc):
            return self._capture.__exit__(*exc)

    return Sent()


@pytest.fixture
def contact(business, endpoint):
    return contact_create(business=business, name="Ada", emails=["ada@example.com"])


def test_an_edit_touching_three_fields_is_one_event_naming_them(contact, sent):
    with sent:
        contact_update(
            contact,
            name="Ada Lovelace",
            company="Analytical Engines",
            emails=["ada@example.com", "ada@engines.example"],
        )

    [event] = sent("contact.updated")
    assert event["data"]["name"] == "Ada Lovelace"
    assert event["data"]["company"] == "Analytical Engines"
    assert event["data"]["changed"] == ["name", "company", "emails"]


def test_a_save_changing_nothing_sends_nothing(contact, sent):
    with sent:
        contact_update(contact, name="Ada", emails=["ada@example.com"])
        contact_attributes_set(contact, {})
        contact_details_add(contact, emails=["ADA@example.com"], source="agent")

    assert sent("contact.updated") == []


def test_two_quick_edits_are_two_events(contact, sent):
    with sent:
        contact_update(contact, note="first")
        contact_update(contact, note="second")

    assert [e["data"]["changed"] for e in sent("contact.updated")] == [
        ["note"],
        ["note"],
    ]


def test_custom_attributes_details_and_labels_each_send_one_event(
    business, contact, sent
):
    vip = LabelFactory(business=business, name="vip")
    with sent:
        contact_attributes_set(contact, {"plan": "pro", "seats": 3})
        contact_details_add(contact, phones=["+14155550100"], source="agent")
        contact_update(contact, label_ids=[vip.pk])
        contact_update(contact, label_ids=[])

    assert [e["data"]["changed"] for e in sent("contact.updated")] == [
        ["custom_attributes"],
        ["phones"],
        ["labels"],
        ["labels"],
    ]


def test_a_csv_import_updating_a_contact_sends_one_event_per_row(
    business, contact, sent
):
    LabelFactory(business=business, name="vip")
    csv = (
        b"name,emails,phones,labels,attr:plan\n"
        b"Ada King,ada@example.com,+14155550100,vip,pro\n"
        b"Grace,grace@example.com,,,\n"
    )

    with sent:
        contacts_import(business, SimpleUploadedFile("c.csv", csv))

    [updated] = sent("contact.updated")
    assert updated["data"]["id"] == contact.pk
    assert updated["data"]["name"] == "Ada King"
    assert sorted(updated["data"]["changed"]) == [
        "custom_attributes",
        "labels",
        "name",
        "phones",
    ]
    assert [e["data"]["name"] for e in sent("contact.created")][-1] == "Grace"

    # The same file again changes nothing: no event.
    before = len(sent())
    with sent:
        contacts_import(business, SimpleUploadedFile("c.csv", csv))
    assert len(sent()) == before


def test_erasing_a_contact_sends_one_update(contact, admin_member, sent):
    with sent:
        contact_erase(contact, by=admin_member.user)

    [event] = sent("contact.updated")
    assert event["data"]["changed"] == ["erased"]
    assert event["data"]["name"] != "Ada"
    assert event["data"]["erased_at"]


def test_a_fetched_profile_and_a_website_identification_send_one_event_each(
    business, endpoint, sent
):
    identity = ContactIdentityFactory(
        contact__business=business, contact__name="", contact__avatar_url=""
    )
    with sent:
        identity_profile_apply(
            identity,
            name="Ada Lovelace",
            handle="ada",
            avatar_url="https://example.com/a.png",
        )
        visitor_details_apply(
            identity,
            VisitorIdentification(
                identifier="u1",
                identifier_hash="",
                email="ada@example.com",
                phone="+14155550100",
                attributes={"plan": "pro"},
            ),
        )

    assert [sorted(e["data"]["changed"]) for e in sent("contact.updated")] == [
        ["avatar_url", "name"],
        ["custom_attributes", "emails", "phones"],
    ]


def test_labels_added_and_removed_send_conversation_updated(
    business, admin_member, sent
):
    conversation = ConversationFactory(business=business)
    vip, bug = (LabelFactory(business=business, name=n) for n in ("vip", "bug"))
    with sent:
        conversation_update(
            conversation=conversation, by=admin_member.user, labels_add=[vip, bug]
        )
        conversation_update(
            conversation=conversation, by=admin_member.user, labels_remove=[bug]
        )
        # Adding a label it has changes nothing: no event.
        conversation_update(
            conversation=conversation, by=admin_member.user, labels_add=[vip]
        )

    updated = sent("conversation.updated")
    assert [
        (e["data"]["labels_added"], e["data"]["labels_removed"]) for e in updated
    ] == [
        (
            sorted(
                [{"id": vip.pk, "name": "vip"}, {"id": bug.pk, "name": "bug"}],
                key=lambda label: label["id"],
            ),
            [],
        ),
        ([], [{"id": bug.pk, "name": "bug"}]),
    ]
    assert sent("conversation.status_changed") == []


def test_a_status_and_a_label_changed_together_are_one_update(
    business, admin_member, sent
):
    conversation = ConversationFactory(business=business)
    vip = LabelFactory(business=business, name="vip")
    with sent:
        conversation_update(
            conversation=conversation,
            by=admin_member.user,
            status="resolved",
            labels_add=[vip],
        )

    [updated] = sent("conversation.updated")
    assert updated["data"]["status"] == "resolved"
    assert updated["data"]["labels_added"] == [{"id": vip.pk, "name": "vip"}]
    [changed] = sent("conversation.status_changed")
    assert "labels_added" not in changed["data"]

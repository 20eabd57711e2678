"""Erasing a contact's data empties it in the stored bodies of the
business's webhook events too (sent ones, which the settings page shows and
Redeliver sends again, and pending ones), and leaves other people's events
alone."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from contacts.services.merge import contact_merge
from contacts.services.rights import ERASED_NAME, contact_erase
from conversations.models import Conversation
from conversations.services.conversations import conversation_update
from conversations.services.ingest import ingest
from conversations.tests.factories import ContactFactory
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

SECRET_TEXT = "my card ends in 4242, please refund"
COMMENT = "Ana was lovely, thanks"


def dm(number: int, external_id: str, name: str, text: str) -> InboundMessage:
    return InboundMessage(
        platform_message_id=f"dm-{external_id}-{number}",
        thread_key=f"dm:{external_id}",
        contact=InboundContact(external_id=external_id, name=name),
        text=text,
        sent_at=timezone.now(),
    )


def bodies(business) -> list[dict]:
    return [
        json.loads(body)
        for body in WebhookEvent.objects.filter(
            endpoint__business=business
        ).values_list("body", flat=True)
    ]


def test_erasing_empties_the_contacts_data_in_stored_webhook_events(
    business, receiver, endpoint, admin_member, django_capture_on_commit_callbacks
):
    from satisfaction.models import SatisfactionRequest, SatisfactionSettings
    from satisfaction.services import rating_link

    SatisfactionSettings.objects.create(business=business, enabled=True)
    channel = ChannelFactory(business=business, type="telegram", config={})
    with django_capture_on_commit_callbacks(execute=True):
        ingest(
            channel=channel,
            items=[
                dm(1, "4242", "Ada Lovelace", SECRET_TEXT),
                dm(2, "5151", "Grace Hopper", "Grace's own question"),
            ],
        )
    ada_conversation = Conversation.objects.get(thread_key="dm:4242")
    ada = ada_conversation.contact
    Conversation.objects.filter(pk=ada_conversation.pk).update(subject="Refund 4242")
    # A contact merged into Ada earlier: its events are hers too.
    twin = ContactFactory(business=business, name="Ada L. (twin)")
    with django_capture_on_commit_callbacks(execute=True):
        contact_merge(kept=ada, other=twin, by=admin_member.user)
    # She rates the resolved conversation with a comment.
    with django_capture_on_commit_callbacks() as callbacks:
        conversation_update(
            conversation=Conversation.objects.get(pk=ada_conversation.pk),
            by=admin_member.user,
            status="resolved",
        )
    for callback in callbacks:
        callback()
    path = urlsplit(
        rating_link(SatisfactionRequest.objects.get(conversation=ada_conversation))
    ).path
    with django_capture_on_commit_callbacks(execute=True):
        assert Client().post(path, {"score": "5", "comment": COMMENT}).status_code == (
            303
        )
    stored = json.dumps(bodies(business))
    for private in (SECRET_TEXT, "Ada Lovelace", COMMENT, "Refund 4242"):
        assert private in stored
    sent_before = len(receiver.received)

    with django_capture_on_commit_callbacks(execute=True):
        contact_erase(ada, by=admin_member.user)

    stored = json.dumps(bodies(business), ensure_ascii=False)
    for private in (SECRET_TEXT, "Ada Lovelace", COMMENT, "Refund 4242", "twin"):
        assert private not in stored
    events = bodies(business)
    erased_names = [
        e["data"]["name"]
        for e in events
        if e["type"].startswith("contact.") and e["data"]["id"] in (ada.pk, twin.pk)
    ]
    assert erased_names and set(erased_names) == {ERASED_NAME}
    [rated] = [e for e in events if e["type"] == "conversation.rated"]
    assert (rated["data"]["rating"]["score"], rated["data"]["rating"]["comment"]) == (
        5,
        "",
    )
    # The shape and everything else stay: ids, sequence, direction, status.
    ada_messages = [
        e
        for e in events
        if e["type"] == "message.created"
        and e["data"]["conversation_id"] == ada_conversation.pk
    ]
    assert ada_messages and all(e["data"]["text"] == "" for e in ada_messages)
    assert all(e["data"]["direction"] == "inbound" for e in ada_messages)
    assert all("sequence" in e for e in ada_messages)
    # Grace is untouched, and the erasure itself is announced as before.
    assert "Grace's own question" in stored and "Grace Hopper" in stored
    announced = [json.loads(r.body) for r in receiver.received[sent_before:]]
    assert [
        e["data"]["changed"] for e in announced if e["type"] == "contact.updated"
    ] == [["erased"]]

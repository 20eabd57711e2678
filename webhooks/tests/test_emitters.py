"""The changes that make events, through the services that make them:
ingest (a new customer, a reopened conversation), the snooze ending, an
assignment, a merge, a reply and its delivery to the platform (the X
sandbox over real HTTP)."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from contacts.services.merge import contact_merge
from conversations.models import Conversation
from conversations.services.conversations import (
    conversation_update,
    conversations_wake_snoozed,
)
from conversations.services.ingest import ingest
from conversations.services.replies import post_reply
from conversations.tests.factories import ContactFactory, ConversationFactory

pytestmark = pytest.mark.django_db


def events(receiver) -> list[dict]:
    return [json.loads(r.body) for r in receiver.received if r.method == "POST"]


def dm(number: int, text: str) -> InboundMessage:
    return InboundMessage(
        platform_message_id=f"dm-{number}",
        thread_key="dm:4242",
        contact=InboundContact(external_id="4242", name="Ada"),
        text=text,
        sent_at=timezone.now(),
    )


def test_a_new_customer_writing_makes_a_contact_a_conversation_and_a_message(
    business, receiver, endpoint, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(business=business)
    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel=channel, items=[dm(1, "Hello"), dm(2, "Anyone?")])

    sent = events(receiver)
    assert [e["type"] for e in sent] == [
        "contact.created",
        "conversation.created",
        "message.created",
        "message.created",
    ]
    conversation = Conversation.objects.get(channel=channel)
    assert sent[0]["data"]["id"] == conversation.contact_id
    assert sent[1]["data"]["id"] == conversation.pk
    assert sent[1]["data"]["status"] == "open"
    assert [e["data"]["text"] for e in sent[2:]] == ["Hello", "Anyone?"]
    assert sent[2]["data"]["direction"] == "inbound"

    # The same batch again (the platform repeats it): nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel=channel, items=[dm(1, "Hello"), dm(2, "Anyone?")])
    assert len(events(receiver)) == 4

    # Resolved, then the customer writes again: reopened, one more message.
    conversation_update(conversation=conversation, by=None, status="resolved")
    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel=channel, items=[dm(3, "Still there?")])
    later = events(receiver)[4:]
    assert [e["type"] for e in later] == [
        "conversation.status_changed",
        "conversation.updated",
        "message.created",
    ]
    assert later[0]["data"]["previous_status"] == "resolved"
    assert later[0]["data"]["status"] == "open"


def test_the_end_of_a_snooze_is_a_status_change(
    business, receiver, endpoint, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(
        business=business,
        status="snoozed",
        snoozed_until=timezone.now() - timedelta(minutes=1),
    )
    ConversationFactory(
        status="snoozed", snoozed_until=timezone.now() - timedelta(minutes=1)
    )  # another business's: not sent here

    with django_capture_on_commit_callbacks(execute=True):
        assert conversations_wake_snoozed() == 2

    sent = events(receiver)
    assert [e["type"] for e in sent] == [
        "conversation.status_changed",
        "conversation.updated",
    ]
    assert sent[0]["data"]["id"] == conversation.pk
    assert sent[0]["data"]["previous_status"] == "snoozed"


def test_an_assignment_is_announced_with_the_previous_assignee(
    business, receiver, endpoint, admin_member, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(business=business)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_update(
            conversation=conversation, by=admin_member.user, assignee=admin_member.user
        )

    assigned = [e for e in events(receiver) if e["type"] == "conversation.assigned"]
    assert [e["data"]["assignee_id"] for e in assigned] == [admin_member.user_id]
    assert assigned[0]["data"]["previous_assignee_id"] is None
    assert not [e for e in events(receiver) if e["type"].endswith("status_changed")]


def test_a_merge_names_both_contacts(
    business, receiver, endpoint, admin_member, django_capture_on_commit_callbacks
):
    kept = ContactFactory(business=business, name="Ada")
    other = ContactFactory(business=business, name="Ada L.")
    with django_capture_on_commit_callbacks(execute=True):
        contact_merge(kept=kept, other=other, by=admin_member.user)

    [merged] = [e for e in events(receiver) if e["type"] == "contact.merged"]
    assert merged["data"]["id"] == kept.pk
    assert merged["data"]["merged_contact_id"] == other.pk


def test_a_reply_and_its_delivery_to_the_platform(
    business,
    receiver,
    endpoint,
    sandbox,
    settings,
    admin_member,
    django_capture_on_commit_callbacks,
):
    settings.EGRESS_ALLOWED_HOSTS = [urlsplit(sandbox.url).netloc, receiver.netloc]
    channel = ChannelFactory(business=business)
    conversation = ConversationFactory(business=business, channel=channel)

    with django_capture_on_commit_callbacks(execute=True):
        reply = post_reply(
            conversation=conversation, author=admin_member.user, text="On it"
        )

    sent = events(receiver)
    assert [e["type"] for e in sent] == ["message.created", "message.status_changed"]
    assert sent[0]["data"]["id"] == reply.pk
    assert sent[0]["data"]["direction"] == "outbound"
    assert sent[0]["data"]["author_id"] == admin_member.user_id
    assert sent[1]["data"]["status"] == "sent"


def test_a_customers_rating_is_announced_once(
    business, receiver, endpoint, admin_member, django_capture_on_commit_callbacks
):
    from django.test import Client

    from satisfaction.models import (
        SatisfactionRating,
        SatisfactionRequest,
        SatisfactionSettings,
    )
    from satisfaction.services import rating_link
    from satisfaction.tests.conftest import conversation_on

    SatisfactionSettings.objects.create(business=business, enabled=True)
    conversation = conversation_on(business, "telegram")
    with django_capture_on_commit_callbacks() as callbacks:
        conversation_update(
            conversation=conversation, by=admin_member.user, status="resolved"
        )
    for callback in callbacks:  # the status events, and asking the customer
        callback()
    path = urlsplit(
        rating_link(SatisfactionRequest.objects.get(conversation=conversation))
    ).path
    customer = Client()

    with django_capture_on_commit_callbacks(execute=True):
        refused = customer.post(path, {"score": "9", "comment": "Quick, thanks"})
    with django_capture_on_commit_callbacks(execute=True):
        rated = customer.post(path, {"score": "4", "comment": "Quick, thanks"})
    with django_capture_on_commit_callbacks(execute=True):
        again = customer.post(path, {"score": "1", "comment": "Changed my mind"})

    assert (refused.status_code, rated.status_code, again.status_code) == (
        400,
        303,
        409,
    )
    sent = events(receiver)
    [event] = [e for e in sent if e["type"] == "conversation.rated"]
    rating = SatisfactionRating.objects.get()
    assert event["data"]["id"] == conversation.pk
    assert event["data"]["status"] == "resolved"
    assert event["data"]["contact_id"] == conversation.contact_id
    assert event["data"]["rating"] == {
        "id": rating.pk,
        "score": 4,
        "comment": "Quick, thanks",
        "rated_at": rating.created_at.isoformat().replace("+00:00", "Z"),
    }
    # Numbered with the conversation's other events, after its resolution.
    [resolved] = [e for e in sent if e["type"] == "conversation.status_changed"]
    assert event["sequence"] > resolved["sequence"]

"""Each event carries `sequence`, counted per conversation (conversation and
message events) or per contact: a receiver that gets events out of order
(a retry arrives after newer events) puts them back in commit order with
it, as docs/webhooks.md shows."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from channels_app.platforms.base import DeliveryStatus
from contacts.services.contacts import contact_update
from conversations.models import Conversation
from conversations.services.conversations import conversation_update
from conversations.services.receipts import receipt_apply
from conversations.services.replies import post_reply
from conversations.tests.factories import ConversationFactory
from pingback.testing import wait_for
from pingback.tests.servers import Answer
from webhooks.models import WebhookEvent
from webhooks.services.deliveries import event_deliver
from webhooks.services.endpoints import endpoint_create

DOCS = Path(django_settings.BASE_DIR) / "docs" / "webhooks.md"


def documented_is_newer():
    """`is_newer` exactly as docs/webhooks.md prints it."""
    text = DOCS.read_text()
    block = re.search(r"```python\n(last_applied.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(block, scope)
    return scope["is_newer"]


def lock_waiters() -> int:
    """How many sessions wait for a row lock (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        return cursor.fetchone()[0]


def bodies(endpoint) -> list[dict]:
    return [
        json.loads(body)
        for body in WebhookEvent.objects.filter(endpoint=endpoint)
        .order_by("pk")
        .values_list("body", flat=True)
    ]


@pytest.mark.django_db
def test_events_of_a_conversation_are_numbered_in_order_and_apart_from_others(
    business, endpoint, admin_member, receiver
):
    first = ConversationFactory(business=business)
    other = ConversationFactory(business=business)

    conversation_update(conversation=first, by=admin_member.user, status="pending")
    conversation_update(conversation=other, by=admin_member.user, status="pending")
    reply = post_reply(conversation=first, author=admin_member.user, text="Hi")
    conversation_update(conversation=first, by=admin_member.user, status="resolved")
    contact_update(first.contact, name="Ada")

    sent = bodies(endpoint)
    of_first = [
        e
        for e in sent
        if e["data"].get("conversation_id", e["data"]["id"]) == first.pk
        and not e["type"].startswith("contact.")
    ]
    numbers = [e["sequence"] for e in of_first]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert [e["type"] for e in of_first][:2] == [
        "conversation.status_changed",
        "conversation.updated",
    ]
    assert any(
        e["type"] == "message.created" and e["data"]["id"] == reply.pk for e in of_first
    )
    # Another conversation and the contact are counted on their own.
    of_other = [e for e in sent if e["data"].get("id") == other.pk]
    assert [e["sequence"] for e in of_other] == [1, 2]
    [contact_event] = [e for e in sent if e["type"] == "contact.updated"]
    assert contact_event["sequence"] == 1


@pytest.mark.django_db
def test_every_endpoint_gets_the_same_sequence_for_a_change(
    business, endpoint, admin_member
):
    second, _ = endpoint_create(
        business=business,
        url="https://example.com/hook",
        events=["conversation.updated"],
    )
    conversation = ConversationFactory(business=business)
    conversation_update(
        conversation=conversation, by=admin_member.user, status="pending"
    )

    [at_second] = bodies(second)
    [at_first] = [e for e in bodies(endpoint) if e["type"] == "conversation.updated"]
    assert at_first == at_second


@pytest.mark.django_db
def test_a_retried_event_arriving_after_a_newer_one_is_put_back_in_order(
    business, endpoint, admin_member, receiver
):
    conversation = ConversationFactory(business=business)
    endpoint.events = ["conversation.updated"]
    endpoint.save()
    receiver.answer_in_turn("/hook", [Answer(503), Answer(200)])
    conversation_update(
        conversation=conversation, by=admin_member.user, status="pending"
    )
    conversation_update(
        conversation=conversation, by=admin_member.user, status="resolved"
    )
    older, newer = WebhookEvent.objects.filter(endpoint=endpoint).order_by("pk")

    assert event_deliver(older.pk) == "retry"  # the receiver is down
    assert event_deliver(newer.pk) == "delivered"
    older.refresh_from_db()
    assert event_deliver(older.pk, now=older.next_attempt_at) == "delivered"

    posts = [json.loads(r.body) for r in receiver.received]
    arrived = [(p["sequence"], p["data"]["status"]) for p in posts[1:]]
    assert arrived[0][1] == "resolved" and arrived[1][1] == "pending"
    assert arrived[0][0] > arrived[1][0]
    # The documented receiver keeps the newer state and skips the late one.
    is_newer = documented_is_newer()
    assert [is_newer(p) for p in posts[1:]] == [True, False]


@pytest.mark.django_db
def test_message_status_changes_are_numbered_with_their_conversation(
    business, endpoint, admin_member
):
    conversation = ConversationFactory(business=business)
    reply = post_reply(conversation=conversation, author=admin_member.user, text="x")
    type(reply).objects.filter(pk=reply.pk).update(
        status="sent", platform_message_id="p-9"
    )
    receipt_apply(
        channel=reply.channel,
        receipt=DeliveryStatus("p-9", "read", timezone.now()),
    )

    numbered = [
        (e["type"], e["sequence"])
        for e in bodies(endpoint)
        if e["type"].startswith("message.")
    ]
    assert [kind for kind, _ in numbered][-1] == "message.status_changed"
    assert numbered[-1][1] > numbered[0][1]


@pytest.mark.django_db(transaction=True)
def test_concurrent_changes_of_one_conversation_are_numbered_in_commit_order(
    business, endpoint, admin_member
):
    """A change made while another transaction holding a change of the same
    conversation is still open waits for it, and gets the larger number:
    the numbers follow the commit order."""
    conversation = ConversationFactory(business=business)
    endpoint.events = ["conversation.updated"]
    endpoint.save()
    first_in = threading.Event()
    let_go = threading.Event()
    errors = []

    def slow_change():
        try:
            with transaction.atomic():
                conversation_update(
                    conversation=Conversation.objects.get(pk=conversation.pk),
                    by=admin_member.user,
                    status="pending",
                )
                first_in.set()
                let_go.wait(10)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_change)
    thread.start()
    assert first_in.wait(10)

    def fast_change():
        try:
            conversation_update(
                conversation=Conversation.objects.get(pk=conversation.pk),
                by=admin_member.user,
                status="resolved",
            )
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    # The second change waits for the first one's lock, then commits after it.
    second = threading.Thread(target=fast_change)
    second.start()
    if connection.vendor == "postgresql":
        wait_for(lock_waiters)
    let_go.set()
    thread.join(20)
    second.join(20)

    assert errors == []
    events = sorted(bodies(endpoint), key=lambda e: e["sequence"])
    assert [e["data"]["status"] for e in events] == ["pending", "resolved"]

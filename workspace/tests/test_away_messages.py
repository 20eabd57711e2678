"""Away messages (`workspace.services.away_messages_send`): a customer who
writes outside business hours gets the channel's away message once per
closed period, through the outbox, marked as automatic."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from conversations.models import Message
from conversations.tests.factories import ConversationFactory, MessageFactory
from workspace.models import AwayMessage
from workspace.services import (
    away_messages_queue,
    away_messages_send,
    business_hours_set,
)

pytestmark = pytest.mark.django_db

LISBON = ZoneInfo("Europe/Lisbon")
WEEKDAYS_9_TO_6 = {day: [(540, 1080)] for day in range(5)}
# 2026-03-02 is a Monday.
MONDAY_10AM = datetime(2026, 3, 2, 10, 0, tzinfo=LISBON)
MONDAY_8PM = datetime(2026, 3, 2, 20, 0, tzinfo=LISBON)
TUESDAY_7AM = datetime(2026, 3, 3, 7, 0, tzinfo=LISBON)
TUESDAY_8PM = datetime(2026, 3, 3, 20, 0, tzinfo=LISBON)
AWAY = "We are closed until 9:00 (Lisbon). We will answer you then."


@pytest.fixture
def conversation(business):
    business.time_zone = "Europe/Lisbon"
    business.save()
    business_hours_set(business=business, week=WEEKDAYS_9_TO_6)
    conversation = ConversationFactory(business=business)
    AwayMessage.objects.create(channel=conversation.channel, enabled=True, body=AWAY)
    return conversation


def customer_writes(conversation, at: datetime, **fields) -> Message:
    message = MessageFactory(conversation=conversation, sent_at=at, **fields)
    # received as it was written (not a backlog fetched late)
    Message.objects.filter(pk=message.pk).update(created_at=at)
    return message


def away_messages(conversation) -> list[Message]:
    return list(
        Message.objects.filter(
            conversation=conversation, details__automatic="away_message"
        )
    )


def test_a_message_outside_hours_gets_the_away_message_once(conversation):
    first = customer_writes(conversation, MONDAY_8PM)

    [queued] = away_messages_send(message_ids=[first.pk])
    # the same message again (a redelivered task), and a second message in
    # the same night, send nothing more
    again = customer_writes(conversation, TUESDAY_7AM)
    assert away_messages_send(message_ids=[first.pk]) == []
    assert away_messages_send(message_ids=[again.pk]) == []

    [away] = away_messages(conversation)
    assert away.pk == queued
    assert (away.direction, away.status, away.text) == ("outbound", "queued", AWAY)
    assert away.author is None
    conversation.refresh_from_db()
    assert conversation.last_message_preview != AWAY  # the customer's stays


def test_after_a_day_in_hours_the_next_night_gets_it_again(conversation):
    away_messages_send(message_ids=[customer_writes(conversation, MONDAY_8PM).pk])
    # Tuesday 09:00-18:00 was open in between
    away_messages_send(message_ids=[customer_writes(conversation, TUESDAY_8PM).pk])

    assert len(away_messages(conversation)) == 2


def test_nothing_is_sent_in_hours(conversation):
    message = customer_writes(conversation, MONDAY_10AM)

    assert away_messages_send(message_ids=[message.pk]) == []
    assert away_messages(conversation) == []


@pytest.mark.parametrize(
    "change",
    [
        "note",
        "outbound",
        "channel_inactive",
        "away_disabled",
        "opted_out",
        "no_hours",
        "late",
    ],
)
def test_nothing_is_sent_when(conversation, change):
    fields = {}
    if change == "note":
        fields = {"kind": "note", "direction": "outbound"}
    if change == "outbound":
        fields = {"direction": "outbound", "status": "sent"}
    message = customer_writes(conversation, MONDAY_8PM, **fields)
    channel = conversation.channel
    if change == "channel_inactive":
        channel.is_active = False
        channel.save()
    if change == "away_disabled":
        AwayMessage.objects.filter(channel=channel).update(enabled=False)
    if change == "opted_out":
        identity = conversation.contact_identity
        identity.opted_out_at = MONDAY_8PM
        identity.save()
    if change == "no_hours":
        business_hours_set(business=conversation.business, week=None)
    if change == "late":
        Message.objects.filter(pk=message.pk).update(
            created_at=MONDAY_8PM + timedelta(hours=2)
        )

    assert away_messages_send(message_ids=[message.pk]) == []
    assert away_messages(conversation) == []


def test_agents_see_it_was_sent_automatically(conversation, admin_member):
    away_messages_send(message_ids=[customer_writes(conversation, MONDAY_8PM).pk])
    client = Client()
    client.force_login(admin_member.user)

    page = client.get(f"/conversations/{conversation.pk}/").content.decode()

    assert "Away message" in page
    assert "sent automatically outside business hours" in page


def test_only_a_channel_with_its_away_message_on_queues_the_task(
    conversation, monkeypatch, django_capture_on_commit_callbacks
):
    from workspace import tasks

    queued = []
    monkeypatch.setattr(tasks.send_away_messages, "delay", queued.append)
    channel = conversation.channel
    quiet = ConversationFactory(business=conversation.business).channel

    with django_capture_on_commit_callbacks(execute=True):
        away_messages_queue(channel_id=quiet.pk, message_ids=[1, 2])
        away_messages_queue(channel_id=channel.pk, message_ids=[])
        away_messages_queue(channel_id=channel.pk, message_ids=[3, 4])

    assert queued == [[3, 4]]

"""Asking for a rating when a conversation is resolved: once per
resolution, only when the business turned it on, and only where the
platform allows the message."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels_app.widget.selectors import message_payload
from conversations.models import Message
from satisfaction.models import SatisfactionRequest
from satisfaction.services import satisfaction_ask
from satisfaction.tests.conftest import QUESTION, questions

pytestmark = pytest.mark.django_db


def activity_texts(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, kind="activity")
        .order_by("pk")
        .values_list("text", flat=True)
    )


def test_off_by_default_nothing_is_asked(make_conversation, resolve):
    conversation = make_conversation("telegram")

    resolve(conversation)

    assert questions(conversation) == []
    assert not SatisfactionRequest.objects.exists()


def test_resolving_asks_once_with_a_link_on_a_messaging_channel(
    csat_on, make_conversation, resolve, settings
):
    settings.PINGBACK_PUBLIC_BASE_URL = "https://pingback.example.com"
    conversation = make_conversation("telegram")

    resolve(conversation)

    [question] = questions(conversation)
    assert question.status == "queued"  # through the outbox, like a reply
    assert question.direction == "outbound" and question.author_id is None
    first_line, link = question.text.split("\n")
    assert first_line == QUESTION
    assert link.startswith("https://pingback.example.com/rate/")
    assert activity_texts(conversation)[-1] == (
        "PingBack asked the customer to rate this conversation"
    )

    # resolving a resolved conversation again is no new resolution
    resolve(conversation)
    assert len(questions(conversation)) == 1


def test_a_retried_task_asks_once(csat_on, make_conversation, resolve):
    conversation = make_conversation("sms")
    resolve(conversation)
    request = SatisfactionRequest.objects.get()

    again = satisfaction_ask(resolution_id=request.resolution_id)

    assert again is None
    assert len(questions(conversation)) == 1
    assert SatisfactionRequest.objects.count() == 1


def test_reopened_then_resolved_asks_again(csat_on, make_conversation, resolve):
    conversation = make_conversation("telegram")
    resolve(conversation)

    resolve(conversation, "open")
    resolve(conversation)

    assert len(questions(conversation)) == 2
    assert SatisfactionRequest.objects.filter(status="asked").count() == 2


def test_whatsapp_inside_the_24_hour_window_is_asked(
    csat_on, make_conversation, resolve
):
    conversation = make_conversation("whatsapp", wrote_ago=timedelta(hours=23))

    resolve(conversation)

    assert len(questions(conversation)) == 1


@pytest.mark.parametrize("channel_type", ["whatsapp", "instagram"])
def test_outside_the_24_hour_window_nothing_is_sent_and_why_is_recorded(
    csat_on, make_conversation, resolve, channel_type
):
    conversation = make_conversation(channel_type, wrote_ago=timedelta(hours=25))

    resolve(conversation)

    assert questions(conversation) == []
    request = SatisfactionRequest.objects.get()
    assert request.status == "skipped"
    assert "more than 24 hours ago" in request.skip_reason
    assert activity_texts(conversation)[-1].startswith(
        "PingBack did not ask the customer for a rating: the customer last wrote "
        "more than 24 hours ago"
    )


def test_a_deactivated_channel_gets_nothing(csat_on, make_conversation, resolve):
    conversation = make_conversation("telegram")
    conversation.channel.is_active = False
    conversation.channel.save(update_fields=["is_active"])

    resolve(conversation)

    assert questions(conversation) == []
    request = SatisfactionRequest.objects.get()
    assert request.skip_reason == "the channel is deactivated or deleted"


def test_an_opted_out_customer_and_a_public_post_get_nothing(
    csat_on, make_conversation, resolve
):
    from django.utils import timezone

    opted = make_conversation("sms")
    identity = opted.contact_identity
    identity.opted_out_at = timezone.now()
    identity.save(update_fields=["opted_out_at"])
    public = make_conversation("x", thread_key="tweet:1800000000000000001")

    resolve(opted)
    resolve(public)

    assert questions(opted) == [] and questions(public) == []
    reasons = set(SatisfactionRequest.objects.values_list("skip_reason", flat=True))
    assert reasons == {
        "the customer opted out of messages on this channel",
        "a public post: the link would be public",
    }


def test_the_widget_gets_the_question_with_an_inline_rating(
    csat_on, make_conversation, resolve
):
    conversation = make_conversation("webchat")

    resolve(conversation)

    [question] = questions(conversation)
    assert question.text == QUESTION  # no link: the widget rates inline
    payload = message_payload(question)
    assert payload["rating"]["score"] is None
    assert payload["rating"]["token"]


def test_turning_it_off_stops_asking(csat_on, make_conversation, resolve):
    csat_on.enabled = False
    csat_on.save()
    conversation = make_conversation("telegram")

    resolve(conversation)

    assert questions(conversation) == []

"""The admins' Delivery problems page: failed, uncertain and stuck replies of
the business, and a bulk Retry."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations.models import Message
from conversations.tests.factories import ConversationFactory, ReplyFactory

pytestmark = pytest.mark.django_db

URL = "/settings/deliveries/"


@pytest.fixture
def admin_client(admin_member) -> Client:
    client = Client()
    client.force_login(admin_member.user)
    return client


def reply(conversation, status: str, text: str, *, age_minutes: int = 0) -> Message:
    message = ReplyFactory(
        conversation=conversation,
        status=status,
        text=text,
        error="X rate limit reached (gave up after retrying)"
        if status == "failed"
        else "",
    )
    if age_minutes:
        Message.objects.filter(pk=message.pk).update(
            created_at=timezone.now() - timedelta(minutes=age_minutes)
        )
    return message


def test_the_page_is_reached_from_the_inbox_and_lists_only_problems(
    admin_client, business
):
    conversation = ConversationFactory(business=business)
    reply(conversation, "failed", "Failed reply")
    reply(conversation, "uncertain", "Uncertain reply")
    reply(conversation, "queued", "Queued for an hour", age_minutes=60)
    reply(conversation, "queued", "Just queued")
    reply(conversation, "sent", "Sent reply")
    reply(ConversationFactory(), "failed", "Another business's reply")

    assert URL in admin_client.get(reverse("inbox")).content.decode()
    html = admin_client.get(URL).content.decode()

    assert "Failed reply" in html
    assert "X rate limit reached (gave up after retrying)" in html
    assert "Uncertain reply" in html
    assert "Queued for an hour" in html
    for absent in ["Just queued", "Sent reply", "Another business&#x27;s reply"]:
        assert absent not in html
    assert html.count('name="message_ids"') == 2  # only failed and uncertain


def test_retry_selected_sends_the_selected_replies_once(
    admin_client, business, sandbox, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(business=business)
    failed = reply(conversation, "failed", "Failed reply")
    uncertain = reply(conversation, "uncertain", "Uncertain reply")
    reply(conversation, "failed", "Left alone")
    foreign = reply(ConversationFactory(), "failed", "Another business's reply")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            URL,
            {"message_ids": [failed.pk, uncertain.pk, foreign.pk]},
            follow=True,
        )

    assert "2 replies sent again." in response.content.decode()
    assert sorted(dm["text"] for dm in sandbox.x.sent_dms) == [
        "Failed reply",
        "Uncertain reply",
    ]
    statuses = dict(Message.objects.values_list("text", "status"))
    assert statuses["Left alone"] == "failed"
    assert statuses["Another business's reply"] == "failed"


def test_agents_cannot_see_it(agent_member, business):
    client = Client()
    client.force_login(agent_member.user)

    assert client.get(URL).status_code == 403
    assert client.post(URL, {"message_ids": ["1"]}).status_code == 403

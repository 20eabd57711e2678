"""What an agent sees of a reply's delivery on the conversation page, and the
Retry and Mark as sent buttons."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels_app.models import Channel
from conversations.models import DeliveryAttempt, Message
from conversations.tests.factories import ConversationFactory, ReplyFactory

pytestmark = pytest.mark.django_db

UNCERTAIN_REASON = (
    "The worker stopped while sending this message: it may not have been "
    "delivered. Retry to send it again, or mark it as sent."
)


@pytest.fixture
def agent_client(agent_member) -> Client:
    client = Client()
    client.force_login(agent_member.user)
    return client


@pytest.fixture
def conversation(business):
    return ConversationFactory(business=business)


def reply(conversation, status: str, error: str = "") -> Message:
    return ReplyFactory(
        conversation=conversation,
        status=status,
        text="It ships today.",
        error=error,
    )


def page(client: Client, conversation) -> str:
    url = reverse("conversation", kwargs={"conversation_id": conversation.pk})
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def action_url(message: Message, action: str) -> str:
    return reverse(
        f"message-{action}",
        kwargs={"conversation_id": message.conversation_id, "message_id": message.pk},
    )


def test_an_uncertain_reply_says_so_with_the_reason_and_both_actions(
    agent_client, conversation
):
    message = reply(conversation, "uncertain", UNCERTAIN_REASON)
    DeliveryAttempt.objects.create(
        message=message, outcome="uncertain", reason=UNCERTAIN_REASON
    )

    html = page(agent_client, conversation)

    assert "May not have been delivered" in html
    assert UNCERTAIN_REASON in html
    assert f'action="{action_url(message, "retry")}"' in html
    assert f'action="{action_url(message, "mark-sent")}"' in html
    assert "1 attempt</summary>" in html


def test_a_failed_reply_offers_retry_only_and_lists_its_attempts(
    agent_client, conversation
):
    message = reply(conversation, "failed", "X rate limit reached (gave up)")
    for outcome, code in [("retry", 429), ("failed", 429)]:
        DeliveryAttempt.objects.create(
            message=message, outcome=outcome, status_code=code, reason="X rate limit"
        )

    html = page(agent_client, conversation)

    assert "X rate limit reached (gave up)" in html
    assert f'action="{action_url(message, "retry")}"' in html
    assert action_url(message, "mark-sent") not in html
    assert "2 attempts</summary>" in html
    assert 'Will retry (429): <span dir="auto">X rate limit</span>' in html


def test_a_sent_reply_offers_no_action(agent_client, conversation):
    message = reply(conversation, "sent")

    html = page(agent_client, conversation)

    assert action_url(message, "retry") not in html


def test_retry_from_the_page_sends_the_reply_once(
    agent_client, conversation, sandbox, django_capture_on_commit_callbacks
):
    message = reply(conversation, "uncertain", UNCERTAIN_REASON)

    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(action_url(message, "retry"))

    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == "sent"
    assert [dm["text"] for dm in sandbox.x.sent_dms] == ["It ships today."]
    assert "May not have been delivered" not in page(agent_client, conversation)


def test_mark_as_sent_from_the_page_sends_nothing(agent_client, conversation, sandbox):
    message = reply(conversation, "uncertain", UNCERTAIN_REASON)

    agent_client.post(action_url(message, "mark-sent"))

    message.refresh_from_db()
    assert message.status == "sent"
    assert sandbox.x.sent_dms == []


def test_an_action_that_does_not_fit_is_refused_with_a_message(
    agent_client, conversation, sandbox
):
    message = reply(conversation, "sent")

    response = agent_client.post(action_url(message, "retry"), follow=True)

    assert "only failed or uncertain replies can be retried" in (
        response.content.decode()
    )
    message.refresh_from_db()
    assert message.status == "sent"
    assert sandbox.x.sent_dms == []


def test_another_businesss_reply_is_not_found(agent_client, sandbox):
    other = reply(ConversationFactory(), "uncertain", UNCERTAIN_REASON)

    response = agent_client.post(action_url(other, "mark-sent"))

    assert response.status_code == 404
    other.refresh_from_db()
    assert other.status == "uncertain"


def test_a_paused_channel_and_a_channel_alert_are_shown_above_the_thread(
    agent_client, conversation
):
    until = timezone.now() + timezone.timedelta(seconds=90)
    Channel.objects.filter(pk=conversation.channel_id).update(
        paused_until=until, alert="X says the account has no API credits left."
    )

    html = page(agent_client, conversation)

    assert "X (Twitter) is rate-limiting this channel" in html
    assert f'datetime="{until.isoformat(timespec="microseconds")}' in html or (
        until.strftime("%H:%M:%S") in html
    )
    assert "X says the account has no API credits left." in html


def test_a_pause_that_has_ended_is_not_shown(agent_client, conversation):
    Channel.objects.filter(pk=conversation.channel_id).update(
        paused_until=timezone.now() - timezone.timedelta(seconds=1)
    )

    assert "rate-limiting" not in page(agent_client, conversation)

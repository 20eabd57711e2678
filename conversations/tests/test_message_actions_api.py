"""An agent's Retry and "Mark as sent" on a reply that failed or whose
delivery is uncertain (the worker died mid-send)."""

import pytest

from conversations.models import DeliveryAttempt, Message
from conversations.tests.factories import ConversationFactory, ReplyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(business):
    return ConversationFactory(business=business)


def _reply(conversation, status: str) -> Message:
    return ReplyFactory(
        conversation=conversation,
        status=status,
        text="It ships today.",
        error="The worker stopped while sending this message." if status else "",
    )


def _url(message: Message, action: str) -> str:
    return (
        f"/api/v1/conversations/{message.conversation_id}"
        f"/messages/{message.pk}/{action}"
    )


@pytest.mark.parametrize(
    "_case, status", [("uncertain", "uncertain"), ("failed", "failed")]
)
def test_retry_sends_the_reply_again_once(
    admin_api, sandbox, conversation, django_capture_on_commit_callbacks, _case, status
):
    # Given a reply the agent judges did not arrive.
    message = _reply(conversation, status)

    # When the agent retries it.
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(_url(message, "retry"))

    # Then it is accepted and sent (tasks run inline here), exactly once.
    assert response.status_code == 202, response.data
    assert response.data["status"] == "queued"
    message.refresh_from_db()
    assert (message.status, message.error) == ("sent", "")
    assert [dm["text"] for dm in sandbox.x.sent_dms] == ["It ships today."]
    assert list(message.delivery_attempts.values_list("outcome", flat=True)) == [
        "retried",
        "sent",
    ]


def test_mark_sent_records_an_uncertain_reply_as_sent_without_sending(
    admin_api, sandbox, conversation
):
    message = _reply(conversation, "uncertain")

    response = admin_api.post(_url(message, "mark-sent"))

    assert response.status_code == 200, response.data
    assert response.data["status"] == "sent"
    message.refresh_from_db()
    assert message.status == "sent"
    assert sandbox.x.sent_dms == []
    assert DeliveryAttempt.objects.get(message=message).outcome == "marked_sent"


@pytest.mark.parametrize(
    "_case, status, action",
    [
        ("retry a sent reply", "sent", "retry"),
        ("retry a reply being sent", "sending", "retry"),
        ("mark a failed reply as sent", "failed", "mark-sent"),
        ("mark a queued reply as sent", "queued", "mark-sent"),
    ],
)
def test_an_action_that_does_not_fit_the_status_is_refused(
    admin_api, sandbox, conversation, _case, status, action
):
    message = _reply(conversation, status)

    response = admin_api.post(_url(message, action))

    assert response.status_code == 409
    message.refresh_from_db()
    assert message.status == status
    assert sandbox.x.sent_dms == []


def test_retry_on_a_deactivated_channel_is_refused(admin_api, sandbox, conversation):
    message = _reply(conversation, "failed")
    conversation.channel.is_active = False
    conversation.channel.save()

    response = admin_api.post(_url(message, "retry"))

    assert response.status_code == 409
    message.refresh_from_db()
    assert message.status == "failed"


def test_another_businesss_message_is_not_found(admin_api, sandbox):
    # Given a reply in another business's conversation.
    other = _reply(ConversationFactory(), "uncertain")

    # When an admin of this business acts on it.
    response = admin_api.post(_url(other, "mark-sent"))

    # Then it is not found, and unchanged.
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.status == "uncertain"

"""Threading by Message-ID / In-Reply-To / References: the customer's answer
to our reply (sent through a real SMTP server) continues the conversation;
the same subject without those headers does not."""

import pytest

from channels_app.services.inbound import inbound_event_record
from channels_app.tests.email.conftest import eml
from conversations.models import Conversation, Message
from conversations.services import post_reply

pytestmark = pytest.mark.django_db

FIRST_MAIL_ID = "CAF7q1-order-4411@mail.customer.test"


def customer_mail(message_id: str, subject: str, text: str, **headers: str) -> bytes:
    lines = [
        "From: Casey Customer <casey@customer.test>",
        "To: Acme Support <support@acme.test>",
        f"Subject: {subject}",
        "Date: Tue, 18 Nov 2025 08:30:00 +0000",
        f"Message-ID: <{message_id}>",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
        "Content-Type: text/plain; charset=utf-8",
        "",
        text,
    ]
    return "\r\n".join(lines).encode()


@pytest.fixture
def receive(email_channel, django_capture_on_commit_callbacks):
    """Deliver raw mail to one e-mail channel as a poll or webhook would."""
    channel = email_channel()

    def deliver(raw: bytes):
        with django_capture_on_commit_callbacks(execute=True):
            return inbound_event_record(
                channel=channel, body=raw, content_type="message/rfc822"
            )

    return deliver


@pytest.fixture
def replied(receive, admin_member, django_capture_on_commit_callbacks):
    """The customer wrote, and an agent's reply went out by SMTP."""
    receive(eml("message__plain"))
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = post_reply(
            conversation=conversation, author=admin_member.user, text="Sorry!"
        )
    reply.refresh_from_db()
    assert reply.status == "sent"
    return reply


def test_the_customers_answer_to_our_reply_continues_the_conversation(
    receive, replied, smtp_server
):
    our_id = replied.platform_message_id
    assert f"<{our_id}>".encode() in smtp_server.received[0].content

    receive(
        customer_mail(
            "CAF7q1-answer-3@mail.customer.test",
            "Re: My order #4411 never arrived",
            "It is JD0144.",
            In_Reply_To=f"<{our_id}>",
            References=f"<{FIRST_MAIL_ID}> <{our_id}>",
        )
    )

    conversation = Conversation.objects.get()
    texts = conversation.messages.order_by("id").values_list("text", flat=True)
    assert list(texts) == [
        "Hello,\n\nI ordered a kettle two weeks ago (order #4411) and it never "
        "arrived.\nCan you check?\n\nCasey",
        "Sorry!",
        "It is JD0144.",
    ]


def test_in_reply_to_alone_threads_even_with_a_new_subject(receive, replied):
    receive(
        customer_mail(
            "outlook-answer@corp.test",
            "RE: different words",
            "Thanks.",
            In_Reply_To=f"<{replied.platform_message_id}>",
        )
    )

    assert Conversation.objects.count() == 1
    assert Message.objects.filter(direction="inbound").count() == 2


def test_the_same_subject_without_threading_headers_opens_a_new_conversation(
    receive, replied
):
    receive(
        customer_mail(
            "new-mail@mail.customer.test",
            "My order #4411 never arrived",
            "Another order, same problem.",
        )
    )

    assert Conversation.objects.count() == 2

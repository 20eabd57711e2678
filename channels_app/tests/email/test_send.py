"""Sending replies by SMTP to a real (aiosmtpd) server: the headers that make
the reply thread in the customer's client, the same Message-ID on a retry,
attachments, and which server answers are permanent or transient."""

import email
import email.policy

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    OutboundAttachment,
    OutboundMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from channels_app.services.delivery import message_deliver
from channels_app.services.inbound import inbound_event_record
from channels_app.tests.email.conftest import eml, free_port
from conversations.models import Conversation, Message
from conversations.services import post_reply

pytestmark = pytest.mark.django_db

CUSTOMER_MAIL_ID = "CAF7q1-order-4411@mail.customer.test"


def received_mail(smtp_server, index: int = -1):
    return email.message_from_bytes(
        smtp_server.received[index].content, policy=email.policy.default
    )


def outbound(channel, **fields) -> OutboundMessage:
    values = {
        "message_id": 41,
        "text": "Sorry! A replacement ships today.",
        "recipient_external_id": "casey@customer.test",
        "thread_key": CUSTOMER_MAIL_ID,
        "reply_to_platform_message_id": CUSTOMER_MAIL_ID,
        "subject": "My order #4411 never arrived",
    }
    return OutboundMessage(**{**values, **fields})


@pytest.fixture
def conversation(email_channel, django_capture_on_commit_callbacks):
    """A conversation opened by the customer's mail (`message__plain`)."""
    channel = email_channel()
    with django_capture_on_commit_callbacks(execute=True):
        inbound_event_record(
            channel=channel, body=eml("message__plain"), content_type="message/rfc822"
        )
    return Conversation.objects.get()


def test_a_reply_carries_the_threading_headers_and_is_recorded_as_sent(
    conversation, smtp_server, admin_member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reply = post_reply(
            conversation=conversation,
            author=admin_member.user,
            text="Sorry! A replacement ships today.",
        )

    reply.refresh_from_db()
    [received] = smtp_server.received
    mail = received_mail(smtp_server)
    our_id = f"pingback.{reply.pk}.{conversation.channel.id.hex}@acme.test"
    assert received.mail_from == "support@acme.test"
    assert received.rcpt_tos == ["casey@customer.test"]
    assert mail["From"] == "Acme Support <support@acme.test>"
    assert mail["To"] == "casey@customer.test"
    assert mail["Subject"] == "Re: My order #4411 never arrived"
    assert mail["Message-ID"] == f"<{our_id}>"
    assert mail["In-Reply-To"] == f"<{CUSTOMER_MAIL_ID}>"
    assert mail["References"] == f"<{CUSTOMER_MAIL_ID}>"
    assert mail["Date"].datetime is not None
    assert mail.get_content().strip() == "Sorry! A replacement ships today."
    assert reply.status == "sent"
    assert reply.platform_message_id == our_id


def test_a_retried_send_repeats_the_same_message_id(email_channel, smtp_server):
    channel = email_channel()
    platform = get_platform("email")

    first = platform.send(channel, outbound(channel))
    second = platform.send(channel, outbound(channel))

    ids = [received_mail(smtp_server, i)["Message-ID"] for i in (0, 1)]
    assert ids[0] == ids[1] == f"<pingback.41.{channel.id.hex}@acme.test>"
    assert first == second
    assert first.platform_message_id == f"pingback.41.{channel.id.hex}@acme.test"


def test_references_name_the_thread_root_and_the_mail_answered(
    email_channel, smtp_server
):
    channel = email_channel()

    get_platform("email").send(
        channel,
        outbound(
            channel,
            thread_key="root@mail.customer.test",
            reply_to_platform_message_id="CAF7q1-reply-2@mail.customer.test",
            subject="Re: My order #4411 never arrived",
        ),
    )

    mail = received_mail(smtp_server)
    assert mail["In-Reply-To"] == "<CAF7q1-reply-2@mail.customer.test>"
    assert mail["References"] == (
        "<root@mail.customer.test> <CAF7q1-reply-2@mail.customer.test>"
    )
    assert mail["Subject"] == "Re: My order #4411 never arrived"


def test_a_thread_without_message_ids_gets_no_threading_headers(
    email_channel, smtp_server
):
    channel = email_channel()
    hashed = "sha256:" + "ab" * 32

    get_platform("email").send(
        channel,
        outbound(
            channel, thread_key=hashed, reply_to_platform_message_id=hashed, subject=""
        ),
    )

    mail = received_mail(smtp_server)
    assert "In-Reply-To" not in mail
    assert "References" not in mail
    assert mail["Subject"] == "Re: (no subject)"


def test_the_agents_files_go_as_attachments(email_channel, smtp_server):
    channel = email_channel()
    stored = default_storage.save("attachments/label.pdf", ContentFile(b"%PDF-1.4 x"))
    attachment = OutboundAttachment(
        kind="document",
        filename="label.pdf",
        content_type="application/pdf",
        size=10,
        storage_name=stored,
        public_url="https://pingback.test/a/1",
    )

    get_platform("email").send(channel, outbound(channel, attachments=(attachment,)))

    [part] = received_mail(smtp_server).iter_attachments()
    assert part.get_filename() == "label.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_content() == b"%PDF-1.4 x"


@pytest.mark.parametrize(
    ("_case", "where", "reply", "error", "code"),
    [
        (
            "unknown recipient",
            "rcpt_reply",
            "550 5.1.1 <casey@customer.test>: Recipient address rejected",
            PermanentDeliveryError,
            550,
        ),
        (
            "greylisted",
            "rcpt_reply",
            "450 4.2.0 <casey@customer.test>: Recipient address rejected: Greylisted",
            TransientDeliveryError,
            450,
        ),
        (
            "message refused",
            "data_reply",
            "554 5.7.1 Message rejected as spam",
            PermanentDeliveryError,
            554,
        ),
        (
            "server busy",
            "data_reply",
            "451 4.3.0 Try again later",
            TransientDeliveryError,
            451,
        ),
    ],
)
def test_5xx_answers_are_permanent_and_4xx_transient_with_the_servers_words(
    email_channel, smtp_server, _case, where, reply, error, code
):
    channel = email_channel()
    setattr(smtp_server.handler, where, reply)

    with pytest.raises(error) as raised:
        get_platform("email").send(channel, outbound(channel))

    assert type(raised.value) is error
    assert raised.value.status_code == code
    assert reply.split(" ", 1)[1] in raised.value.reason
    assert smtp_server.received == []


def test_a_refused_login_fails_the_reply_and_alerts_the_channel(
    conversation, smtp_server, admin_member, django_capture_on_commit_callbacks
):
    channel = conversation.channel
    channel.secrets = {"smtp_password": "wrong-password"}
    channel.save()
    reply = post_reply(
        conversation=conversation, author=admin_member.user, text="Hello?"
    )

    outcome = message_deliver(message_id=reply.pk)

    reply.refresh_from_db()
    channel.refresh_from_db()
    assert outcome.status == "failed"
    assert reply.status == "failed"
    assert reply.error.startswith("The SMTP server refused the login: 535")
    assert channel.alert == reply.error
    assert "wrong-password" not in reply.error
    assert smtp_server.received == []


def test_a_refused_sender_fails_the_reply_and_alerts_the_channel(
    conversation, smtp_server, admin_member
):
    smtp_server.handler.mail_reply = "553 5.7.1 Sender address not owned by user"
    reply = post_reply(
        conversation=conversation, author=admin_member.user, text="Hello?"
    )

    outcome = message_deliver(message_id=reply.pk)

    reply.refresh_from_db()
    conversation.channel.refresh_from_db()
    assert outcome.status == "failed"
    assert reply.error == (
        "The SMTP server refused the sender support@acme.test: 553 5.7.1 Sender "
        "address not owned by user"
    )
    assert conversation.channel.alert == reply.error


def test_an_unreachable_server_is_transient(email_channel):
    channel = email_channel(smtp_port=free_port())

    with pytest.raises(TransientDeliveryError) as raised:
        get_platform("email").send(channel, outbound(channel))

    assert raised.value.reason.startswith("Could not reach the SMTP server")


def test_a_transient_failure_requeues_the_reply(
    conversation, smtp_server, admin_member
):
    smtp_server.handler.data_reply = "421 4.7.0 Too many connections"
    reply = post_reply(
        conversation=conversation, author=admin_member.user, text="Hello?"
    )

    outcome = message_deliver(message_id=reply.pk)

    reply.refresh_from_db()
    assert outcome.status == "retry"
    assert reply.status == "queued"
    assert reply.error == "The SMTP server answered: 421 4.7.0 Too many connections"
    assert Message.objects.filter(direction="outbound").count() == 1

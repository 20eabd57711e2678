"""End to end through real parts: the live server, a real Celery worker on the
broker (Redis in CI), a real IMAP server (Dovecot) and a real SMTP server
(aiosmtpd).

An admin connects the e-mail channel through the API; the customer's mail
lands in the mailbox and the beat task's poll brings it in; an agent replies
through the API and the worker sends it by SMTP, threaded on the customer's
mail; the customer's answer to that reply continues the conversation.
"""

import email
import email.policy
from collections.abc import Callable

import pytest

from channels_app.tasks import poll_mailboxes
from channels_app.tests import e2e
from channels_app.tests.email.conftest import SUPPORT_ADDRESS, eml
from conversations.models import Conversation, Message
from pingback.testing import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CUSTOMER_MAIL_ID = "CAF7q1-order-4411@mail.customer.test"


@pytest.fixture
def live(live_server, settings, celery_worker, admin_member, smtp_server, mailbox):
    """The running stack and an API session for the business's admin, with
    the e-mail channel connected through the API."""
    config = {
        "address": SUPPORT_ADDRESS,
        "from_name": "Acme Support",
        **smtp_server.config(),
        **mailbox.config(),
        "imap_password": mailbox.password,
    }
    stack = e2e.live_stack(live_server, settings, admin_member, None, "email", config)
    assert stack["channel"]["setup"]["state"] == "ready", stack["channel"]["setup"]
    return stack


def poll_until(predicate: Callable[[], object]) -> object:
    """Run the beat task (as `celery beat` would) until `predicate` holds."""
    poll_mailboxes.delay()
    return wait_for(predicate, timeout=30.0)


def test_mail_in_by_imap_reply_out_by_smtp_and_the_answer_threads(
    live, mailbox, smtp_server
):
    mailbox.deliver(eml("message__plain"))
    conversation = poll_until(lambda: Conversation.objects.first())
    assert [(c["id"], c["channel_type"]) for c in e2e.conversations(live)] == [
        (conversation.pk, "email")
    ]

    queued = e2e.reply(
        live, conversation.pk, json={"text": "Sorry! A replacement ships today."}
    )
    reply_id = queued["id"]
    reply = wait_for(
        lambda: Message.objects.filter(pk=reply_id, status="sent").first(), timeout=30.0
    )

    [received] = smtp_server.received
    sent = email.message_from_bytes(received.content, policy=email.policy.default)
    assert received.rcpt_tos == ["casey@customer.test"]
    assert sent["Subject"] == "Re: My order #4411 never arrived"
    assert sent["In-Reply-To"] == f"<{CUSTOMER_MAIL_ID}>"
    assert sent["References"] == f"<{CUSTOMER_MAIL_ID}>"
    assert sent["Message-ID"] == f"<{reply.platform_message_id}>"

    answer = (
        "From: Casey Customer <casey@customer.test>\r\n"
        "To: Acme Support <support@acme.test>\r\n"
        "Subject: Re: My order #4411 never arrived\r\n"
        "Date: Tue, 18 Nov 2025 08:30:00 +0000\r\n"
        "Message-ID: <CAF7q1-answer-3@mail.customer.test>\r\n"
        f"In-Reply-To: {sent['Message-ID']}\r\n"
        f"References: <{CUSTOMER_MAIL_ID}> {sent['Message-ID']}\r\n"
        "\r\n"
        "Great, thanks!\r\n\r\n"
        "On Mon, Nov 17, 2025 at 10:00 AM Acme Support <support@acme.test> wrote:\r\n"
        "> Sorry! A replacement ships today.\r\n"
    ).encode()
    mailbox.deliver(answer)
    poll_until(lambda: Message.objects.filter(direction="inbound").count() == 2)

    assert Conversation.objects.count() == 1
    shown = e2e.thread(live, conversation.pk)
    assert [(m["direction"], m["text"]) for m in shown] == [
        (
            "inbound",
            "Hello,\n\nI ordered a kettle two weeks ago (order #4411) and it never "
            "arrived.\nCan you check?\n\nCasey",
        ),
        ("outbound", "Sorry! A replacement ships today."),
        ("inbound", "Great, thanks!"),
    ]

"""SMS opt-out and opt-in keywords (Twilio): a STOP is the customer's visible
message and a `ContactOptOut`; replies then fail at once, without reaching
Twilio; START lifts it; HELP changes nothing. Twilio's own 21610 refusal
marks the customer opted out as well.

Sources for the fixtures and keywords: Twilio's incoming message webhook
parameters (https://www.twilio.com/docs/messaging/guides/webhook-request),
"Twilio support for opt-out keywords (SMS STOP filtering)", the Advanced
Opt-Out tutorial (https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out:
default keywords STOP, UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT,
CANCEL) and "How to Track Opt-Out, Opt-In and Help Messages Using the
OptOutType Parameter" (whole body, any case; `OptOutType` STOP, START or
HELP with Advanced Opt-Out). What each fixture parses to is in its expectation
file, checked by the contract suite (`contract/`).
"""

from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse

from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    ContactOptOut,
    InboundMessage,
)
from channels_app.services.delivery import message_deliver
from channels_app.tests.platforms.contract.kits.sms import KIT
from channels_app.tests.platforms.test_sms import form, post_signed
from conversations.models import ContactIdentity, Conversation, Message
from conversations.tests.factories import ConversationFactory, ReplyFactory
from sandbox.platforms.sms.payloads import DEMO_CUSTOMER_NUMBER

CUSTOMER = DEMO_CUSTOMER_NUMBER
UNTIMED = datetime(2000, 1, 1, tzinfo=UTC)
SENT_SID = "SM9d8c7b6a5f4e3d2c1b0a99887766554f"  # the status__* fixtures
STOPPED = "The customer opted out of messages on this channel: they replied STOP."


def opt(opted_out: bool, reason: str) -> ContactOptOut:
    return ContactOptOut(
        external_id=CUSTOMER, opted_out=opted_out, reason=reason, occurred_at=UNTIMED
    )


def untimed(item):
    """`item` with the time of receipt Twilio leaves PingBack replaced by
    UNTIMED."""
    if isinstance(item, InboundMessage):
        return replace(item, sent_at=UNTIMED)
    return replace(item, occurred_at=UNTIMED)


def parse(fields: dict[str, str]):
    parsed = get_platform("sms").parse(KIT.build(), urlencode(fields).encode())
    return [untimed(item) for item in parsed.items]


@pytest.mark.parametrize(
    ("keyword", "opted_out"),
    [
        ("STOP", True),
        ("stopall", True),
        ("Unsubscribe", True),
        ("cancel", True),
        ("END", True),
        ("quit", True),
        ("  STOP\n", True),
        ("start", False),
        ("Yes", False),
        ("UNSTOP", False),
    ],
)
def test_twilio_default_keywords_in_any_case_opt_out_or_in(keyword, opted_out):
    items = parse(form("message__stop_default", Body=keyword))

    assert items[0].text == keyword  # the agents see what they sent
    assert items[1] == opt(opted_out, f"they replied {keyword.strip().upper()}")


@pytest.mark.parametrize("body", ["HELP", "info", "Stop it", "STOP!", ""])
def test_help_info_and_anything_else_change_nothing(body):
    items = parse(form("message__stop_default", Body=body))

    assert [type(item) for item in items] == [InboundMessage]


def test_opt_out_type_help_changes_nothing_even_for_a_stop_body():
    """Twilio's word wins over the body when it gives one."""
    items = parse(form("message__stop", OptOutType="HELP"))

    assert [type(item) for item in items] == [InboundMessage]


# ------------------------------------------------------------------ end to end


@pytest.fixture
def channel(business):
    return KIT.create(business=business)


def reply_through_the_api(admin_api, conversation, capture, text: str) -> Message:
    """An agent's reply through the API; delivery runs eagerly on commit."""
    with capture(execute=True):
        response = admin_api.post(
            f"/api/v1/conversations/{conversation.pk}/messages",
            {"text": text},
            format="json",
        )
    assert response.status_code == 202, response.content
    return Message.objects.get(pk=response.json()["id"])


def panel_html(member, conversation: Conversation) -> str:
    client = Client()
    client.force_login(member.user)
    url = reverse("conversation", kwargs={"conversation_id": conversation.pk})
    return client.get(url).content.decode()


@pytest.mark.django_db
def test_after_stop_a_reply_fails_at_once_and_twilio_receives_nothing(
    client,
    sandbox,
    channel,
    admin_api,
    admin_member,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, channel, form("message__stop"))
    assert response.status_code == 200
    conversation = Conversation.objects.get()

    reply = reply_through_the_api(
        admin_api, conversation, django_capture_on_commit_callbacks, "Sorry!"
    )

    assert (reply.status, reply.error) == ("failed", STOPPED)
    assert sandbox.sms.sends == []
    inbound = conversation.messages.get(direction="inbound")
    assert inbound.text == "STOP"
    html = panel_html(admin_member, conversation)
    assert "STOP" in html
    assert "Opted out of SMS (<bdi>they replied STOP</bdi>)" in html
    assert STOPPED in html


@pytest.mark.django_db
def test_start_lifts_the_opt_out_and_replies_go_out_again(
    client,
    sandbox,
    channel,
    admin_api,
    django_capture_on_commit_callbacks,
):
    for name in ("message__stop", "message__start"):
        with django_capture_on_commit_callbacks(execute=True):
            post_signed(client, channel, form(name))
    conversation = Conversation.objects.get()

    reply = reply_through_the_api(
        admin_api, conversation, django_capture_on_commit_callbacks, "Welcome back"
    )

    assert reply.status == "sent"
    assert [send["body"] for send in sandbox.sms.sends] == ["Welcome back"]
    assert ContactIdentity.objects.get().opted_out_at is None


@pytest.mark.django_db
def test_twilios_21610_refusal_marks_the_customer_opted_out(sandbox, channel):
    """The customer texted STOP where PingBack did not see it (before the
    channel was connected, say): Twilio refuses with 21610, and the next
    reply fails at once without asking Twilio again."""
    sandbox.sms.set_modes({"unsubscribed": True})
    conversation = ConversationFactory(
        business=channel.business,
        channel=channel,
        thread_key=f"sms:{CUSTOMER}",
        contact_identity__external_id=CUSTOMER,
    )

    first = ReplyFactory(conversation=conversation, text="Your parcel shipped")
    message_deliver(message_id=first.pk)
    second = ReplyFactory(conversation=conversation, text="Tracking: 1Z999")
    message_deliver(message_id=second.pk)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.error.startswith("The customer unsubscribed (STOP)")
    assert second.error == (
        "The customer opted out of messages on this channel: Twilio refused a "
        "reply: they had texted STOP (error 21610)."
    )
    asked = [r for r in sandbox.requests() if r["path"].endswith("/Messages.json")]
    assert len(asked) == 1  # the second reply never reached Twilio
    assert sandbox.sms.sends == []


@pytest.mark.django_db
def test_a_21610_status_callback_marks_the_customer_opted_out(
    client, channel, admin_member, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(
        business=channel.business,
        channel=channel,
        thread_key=f"sms:{CUSTOMER}",
        contact_identity__external_id=CUSTOMER,
    )
    ours = ReplyFactory(
        conversation=conversation, status="sent", platform_message_id=SENT_SID
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, channel, form("status__failed_21610"))

    assert response.status_code == 200
    ours.refresh_from_db()
    assert ours.status == "failed"
    identity = ContactIdentity.objects.get()
    assert identity.opted_out_reason == (
        "Twilio refused a reply: they had texted STOP (error 21610)"
    )
    assert "Opted out of SMS" in panel_html(admin_member, conversation)

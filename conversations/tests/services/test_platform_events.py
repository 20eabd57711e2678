"""What platforms tell beyond new messages, as agents then see it:
deletions, reactions, opt-outs, a customer's new id and channel alerts
(`conversations.services.platform_events`, through `ingest`)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from channels_app.models import Channel
from channels_app.platforms.base import (
    ChannelAlert,
    ContactOptOut,
    IdentityMoved,
    InboundContact,
    InboundMessage,
    MessageDeletion,
    Reaction,
)
from channels_app.services.delivery import message_deliver
from channels_app.tests.factories import ChannelFactory
from conversations.models import ContactIdentity, Conversation, Message
from conversations.services import ingest
from conversations.tests.factories import ReplyFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CAROL = InboundContact(external_id="+14155550100", name="Carol")


def said(
    platform_message_id: str, text: str = "Hello", *, contact=CAROL, **extra
) -> InboundMessage:
    return InboundMessage(
        platform_message_id=platform_message_id,
        contact=contact,
        text=text,
        sent_at=T0,
        thread_key=contact.external_id,
        **extra,
    )


@pytest.fixture
def channel(business) -> Channel:
    return ChannelFactory(business=business, type="whatsapp")


def thread_html(member, conversation: Conversation) -> str:
    client = Client()
    client.force_login(member.user)
    url = reverse("conversation", kwargs={"conversation_id": conversation.pk})
    return client.get(url).content.decode()


def test_a_deleted_message_is_kept_and_shown_as_deleted(channel, agent_member):
    ingest(channel=channel, items=[said("m1", "my card number is 4242")])

    result = ingest(
        channel=channel,
        items=[MessageDeletion(platform_message_id="m1", deleted_at=T0)],
    )
    again = ingest(
        channel=channel,
        items=[MessageDeletion(platform_message_id="m1", deleted_at=T0)],
    )

    message = Message.objects.get(platform_message_id="m1")
    assert (result.changes_applied, again.changes_applied) == (1, 0)
    assert message.deleted_at == T0
    assert message.text == "my card number is 4242"
    html = thread_html(agent_member, message.conversation)
    assert "Deleted by the customer" in html
    assert "my card number is 4242" in html


def test_a_reaction_shows_on_the_message_and_a_new_one_replaces_it(
    channel, agent_member
):
    ingest(channel=channel, items=[said("m1", "Thanks!")])

    ingest(
        channel=channel,
        items=[Reaction(platform_message_id="m1", emoji="👍", reacted_at=T0)],
    )
    ingest(
        channel=channel,
        items=[
            Reaction(
                platform_message_id="m1",
                emoji="❤️",
                reacted_at=T0 + timedelta(minutes=1),
            )
        ],
    )

    message = Message.objects.get(platform_message_id="m1")
    assert [(r["by"], r["emoji"]) for r in message.reactions] == [("contact", "❤️")]
    assert '<ul class="reactions"' in thread_html(agent_member, message.conversation)

    ingest(
        channel=channel,
        items=[Reaction(platform_message_id="m1", emoji="", reacted_at=T0)],
    )
    message.refresh_from_db()
    assert message.reactions == []


def test_a_reaction_to_a_message_pingback_never_stored_changes_nothing(channel):
    result = ingest(
        channel=channel,
        items=[Reaction(platform_message_id="nope", emoji="👍", reacted_at=T0)],
    )

    assert result.changes_applied == 0


def test_a_reply_to_an_opted_out_customer_fails_at_once_with_the_reason(channel):
    ingest(channel=channel, items=[said("m1", "STOP")])
    ingest(
        channel=channel,
        items=[
            ContactOptOut(
                external_id=CAROL.external_id,
                opted_out=True,
                reason="they replied STOP",
                occurred_at=T0,
            )
        ],
    )
    conversation = Conversation.objects.get()
    reply = ReplyFactory(conversation=conversation, text="Sorry to see you go")

    outcome = message_deliver(message_id=reply.pk)

    reply.refresh_from_db()
    assert outcome.status == "failed"
    assert reply.status == "failed"
    assert "opted out" in reply.error
    assert "they replied STOP" in reply.error
    assert reply.platform_message_id is None


def test_opting_back_in_clears_the_opt_out(channel):
    ingest(channel=channel, items=[said("m1")])
    stop = ContactOptOut(
        external_id=CAROL.external_id, opted_out=True, reason="STOP", occurred_at=T0
    )
    start = ContactOptOut(
        external_id=CAROL.external_id, opted_out=False, reason="START", occurred_at=T0
    )

    ingest(channel=channel, items=[stop, start])

    identity = ContactIdentity.objects.get()
    assert identity.opted_out_at is None
    assert identity.opted_out_reason == ""


def test_a_customer_with_a_new_number_keeps_their_contact_and_thread(channel):
    ingest(channel=channel, items=[said("m1", "old number")])
    new = InboundContact(external_id="+14155550199", name="Carol")

    ingest(
        channel=channel,
        items=[
            IdentityMoved(
                old_external_id=CAROL.external_id,
                new_external_id=new.external_id,
                occurred_at=T0,
            ),
            said("m2", "new number", contact=new),
        ],
    )

    assert Conversation.objects.count() == 1
    identity = ContactIdentity.objects.get()
    assert identity.external_id == new.external_id
    messages = Conversation.objects.get().messages.order_by("pk")
    assert list(messages.values_list("text", flat=True)) == [
        "old number",
        "new number",
    ]


def test_a_channel_alert_from_the_platform_reaches_the_admins(channel):
    ingest(
        channel=channel,
        items=[ChannelAlert(alert="Access revoked on X: reconnect", occurred_at=T0)],
    )

    channel.refresh_from_db()
    assert channel.alert == "Access revoked on X: reconnect"


def test_an_unsupported_message_is_shown_with_its_raw_event(channel, agent_member):
    raw = {"type": "unsupported", "errors": [{"code": 131051}]}
    ingest(
        channel=channel,
        items=[
            said(
                "m1",
                "Unsupported message: sticker pack",
                kind="unsupported",
                details={"raw": raw},
            )
        ],
    )

    message = Message.objects.get()
    html = thread_html(agent_member, message.conversation)
    assert "Unsupported message: sticker pack" in html
    assert "Show the event as received" in html
    assert "131051" in html


def test_a_group_message_names_its_writer_and_context_shows_above(
    channel, agent_member
):
    ingest(
        channel=channel,
        items=[
            said(
                "m1",
                "Is this still on sale?",
                details={
                    "sender": {"external_id": "77", "name": "Dave <b>"},
                    "context": [
                        {
                            "label": "From an ad",
                            "text": "Spring sale",
                            "url": "javascript:alert(1)",
                        }
                    ],
                },
            )
        ],
    )

    html = thread_html(agent_member, Message.objects.get().conversation)
    assert "Dave &lt;b&gt;" in html
    assert "From an ad" in html
    assert "Spring sale" in html
    assert "javascript:alert(1)" not in html

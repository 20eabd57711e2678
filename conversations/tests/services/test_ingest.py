"""`conversations.services.ingest`: inbound messages and delivery receipts."""

from datetime import UTC, datetime, timedelta

import pytest

from channels_app.platforms.base import DeliveryStatus, InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from conversations.models import Contact, ContactIdentity, Conversation, Message
from conversations.services import ingest
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ADA = InboundContact(
    external_id="4001",
    handle="ada",
    name="Ada Lovelace",
    avatar_url="https://pbs.example.test/ada.png",
)


def dm(
    platform_message_id: str,
    text: str = "Where is my order?",
    *,
    contact: InboundContact = ADA,
    minutes: int = 0,
    **extra,
) -> InboundMessage:
    return InboundMessage(
        platform_message_id=platform_message_id,
        contact=contact,
        text=text,
        sent_at=T0 + timedelta(minutes=minutes),
        thread_key=f"dm:{contact.external_id}",
        **extra,
    )


def receipt(platform_message_id: str, status: str, error: str = "") -> DeliveryStatus:
    return DeliveryStatus(
        platform_message_id=platform_message_id,
        status=status,
        occurred_at=T0,
        error=error,
    )


@pytest.fixture
def channel(business):
    return ChannelFactory(business=business)


# -------------------------------------------------------------------------- DMs


def test_first_dm_opens_a_conversation_with_contact_and_identity(business, channel):
    # when
    result = ingest(channel=channel, items=[dm("1001", "Hi, where is my order?")])

    # then
    message = Message.objects.get()
    assert result.created == (message.pk,)
    assert result.duplicates == 0
    assert result.statuses_applied == 0
    conversation = Conversation.objects.get()
    assert conversation.business_id == business.pk
    assert conversation.channel_id == channel.pk
    assert conversation.channel_type == "x"
    assert conversation.thread_key == "dm:4001"
    assert conversation.status == "open"
    assert conversation.unread_count == 1
    assert conversation.last_message_preview == "Hi, where is my order?"
    assert conversation.last_message_at == T0
    identity = ContactIdentity.objects.get()
    assert conversation.contact_identity_id == identity.pk
    assert conversation.contact_id == identity.contact_id
    assert (identity.channel_id, identity.external_id, identity.handle) == (
        channel.pk,
        "4001",
        "ada",
    )
    contact = identity.contact
    assert contact.business_id == business.pk
    assert contact.name == "Ada Lovelace"
    assert contact.avatar_url == "https://pbs.example.test/ada.png"
    assert message.conversation_id == conversation.pk
    assert message.channel_id == channel.pk
    assert message.direction == "inbound"
    assert message.status == "received"
    assert message.kind == "message"
    assert message.text == "Hi, where is my order?"
    assert message.platform_message_id == "1001"
    assert message.reply_to_platform_message_id == ""
    assert message.sender_contact_id == contact.pk
    assert message.sent_at == T0


def test_a_contact_without_a_name_is_named_by_handle(channel):
    # given
    nameless = InboundContact(external_id="4002", handle="grace")

    # when
    ingest(channel=channel, items=[dm("1001", contact=nameless)])

    # then
    assert Contact.objects.get().name == "grace"


def test_preview_keeps_the_first_200_characters(channel):
    # given
    text = "a" * 150 + "b" * 100

    # when
    ingest(channel=channel, items=[dm("1001", text)])

    # then
    message = Message.objects.get()
    conversation = Conversation.objects.get()
    assert message.text == text
    assert conversation.last_message_preview == "a" * 150 + "b" * 50


def test_second_dm_from_the_customer_continues_the_conversation(channel):
    # given
    ingest(channel=channel, items=[dm("1001", "Hello?")])

    # when
    result = ingest(channel=channel, items=[dm("1002", "Anyone there?", minutes=5)])

    # then
    assert len(result.created) == 1
    conversation = Conversation.objects.get()
    assert conversation.unread_count == 2
    assert conversation.last_message_preview == "Anyone there?"
    assert conversation.last_message_at == T0 + timedelta(minutes=5)
    assert list(
        conversation.messages.order_by("id").values_list("text", flat=True)
    ) == [
        "Hello?",
        "Anyone there?",
    ]
    assert Contact.objects.count() == 1
    assert ContactIdentity.objects.count() == 1


def test_dms_from_two_customers_open_two_conversations(channel):
    # given
    grace = InboundContact(external_id="4002", handle="grace", name="Grace Hopper")

    # when
    ingest(channel=channel, items=[dm("1001"), dm("1002", contact=grace)])

    # then
    assert sorted(Conversation.objects.values_list("thread_key", flat=True)) == [
        "dm:4001",
        "dm:4002",
    ]
    assert Contact.objects.count() == 2


def test_dm_to_a_resolved_conversation_reopens_it(channel):
    # given
    ingest(channel=channel, items=[dm("1001")])
    Conversation.objects.update(status="resolved", unread_count=0)

    # when
    ingest(channel=channel, items=[dm("1002", "It broke again", minutes=60)])

    # then
    conversation = Conversation.objects.get()
    assert conversation.status == "open"
    assert conversation.unread_count == 1
    assert conversation.last_message_preview == "It broke again"
    assert conversation.messages.count() == 2


def test_an_older_message_arriving_late_does_not_move_last_activity_back(channel):
    # given
    ingest(channel=channel, items=[dm("1002", "second", minutes=10)])

    # when
    ingest(channel=channel, items=[dm("1001", "first", minutes=0)])

    # then
    conversation = Conversation.objects.get()
    assert conversation.last_message_at == T0 + timedelta(minutes=10)
    assert conversation.unread_count == 2


def test_an_older_message_arriving_late_keeps_the_newest_preview(channel):
    # given
    ingest(channel=channel, items=[dm("1002", "second", minutes=10)])

    # when
    ingest(channel=channel, items=[dm("1001", "first", minutes=0)])

    # then
    conversation = Conversation.objects.get()
    assert conversation.last_message_at == T0 + timedelta(minutes=10)
    assert conversation.last_message_preview == "second"


@pytest.mark.parametrize(
    ("_case", "batches"),
    [
        ("twice in one batch", [["1001", "1001"]]),
        ("in two batches", [["1001"], ["1001"]]),
    ],
)
def test_same_platform_message_id_is_stored_once(channel, _case, batches):
    # when
    results = [
        ingest(channel=channel, items=[dm(pid) for pid in batch]) for batch in batches
    ]

    # then
    assert sum(len(r.created) for r in results) == 1
    assert sum(r.duplicates for r in results) == 1
    assert Message.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1


def test_same_platform_message_id_on_another_channel_is_a_new_message(
    business, channel
):
    # given
    other_channel = ChannelFactory(business=business)
    ingest(channel=channel, items=[dm("1001")])

    # when
    result = ingest(channel=other_channel, items=[dm("1001")])

    # then
    assert len(result.created) == 1
    assert result.duplicates == 0
    assert Conversation.objects.count() == 2


# ---------------------------------------------------------------------- mentions


def test_mention_opens_a_tweet_conversation(channel):
    # given
    mention = InboundMessage(
        platform_message_id="5001",
        contact=ADA,
        text="@pingback_demo my order?",
        sent_at=T0,
        thread_key="tweet:5001",
        kind="mention",
    )

    # when
    ingest(channel=channel, items=[mention])

    # then
    conversation = Conversation.objects.get()
    assert conversation.thread_key == "tweet:5001"
    assert conversation.channel_type == "x"
    assert conversation.messages.get().kind == "mention"


def test_reply_to_our_outbound_post_continues_its_conversation(channel):
    # given: a mention thread in which the business answered with post 6001
    mention = InboundMessage(
        platform_message_id="5001",
        contact=ADA,
        text="@pingback_demo my order?",
        sent_at=T0,
        thread_key="tweet:5001",
        kind="mention",
    )
    ingest(channel=channel, items=[mention])
    conversation = Conversation.objects.get()
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="sent",
        platform_message_id="6001",
    )
    Conversation.objects.update(status="resolved")
    answer = InboundMessage(
        platform_message_id="7001",
        contact=ADA,
        text="@pingback_demo still nothing",
        sent_at=T0 + timedelta(hours=1),
        thread_key="tweet:7001",
        reply_to_platform_message_id="6001",
        kind="mention",
    )

    # when
    result = ingest(channel=channel, items=[answer])

    # then
    assert Conversation.objects.count() == 1
    message = Message.objects.get(pk=result.created[0])
    assert message.conversation_id == conversation.pk
    assert message.reply_to_platform_message_id == "6001"
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert conversation.unread_count == 2
    assert conversation.last_message_preview == "@pingback_demo still nothing"


def test_reply_to_an_unknown_post_opens_a_conversation_by_thread(channel):
    # given
    item = InboundMessage(
        platform_message_id="7001",
        contact=ADA,
        text="@pingback_demo hi",
        sent_at=T0,
        thread_key="tweet:6999",
        reply_to_platform_message_id="6999",
        kind="mention",
    )

    # when
    ingest(channel=channel, items=[item])

    # then
    assert Conversation.objects.get().thread_key == "tweet:6999"


# ----------------------------------------------------------------------- contact


def test_later_message_updates_handle_name_and_avatar(channel):
    # given
    ingest(channel=channel, items=[dm("1001")])
    renamed = InboundContact(
        external_id="4001",
        handle="ada_l",
        name="Ada, Countess of Lovelace",
        avatar_url="https://pbs.example.test/ada2.png",
    )

    # when
    ingest(channel=channel, items=[dm("1002", contact=renamed, minutes=1)])

    # then
    identity = ContactIdentity.objects.get()
    assert identity.handle == "ada_l"
    assert identity.contact.name == "Ada, Countess of Lovelace"
    assert identity.contact.avatar_url == "https://pbs.example.test/ada2.png"
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_later_message_without_profile_keeps_the_known_one(channel):
    # given
    ingest(channel=channel, items=[dm("1001")])
    bare = InboundContact(external_id="4001")

    # when
    ingest(channel=channel, items=[dm("1002", contact=bare, minutes=1)])

    # then
    identity = ContactIdentity.objects.get()
    assert identity.handle == "ada"
    assert identity.contact.name == "Ada Lovelace"
    assert identity.contact.avatar_url == "https://pbs.example.test/ada.png"


# ---------------------------------------------------------------------- receipts


@pytest.mark.parametrize(
    ("_case", "start", "receipts", "status", "applied"),
    [
        ("sent to delivered", "sent", ["delivered"], "delivered", 1),
        ("sent to read", "sent", ["read"], "read", 1),
        ("delivered then read", "sent", ["delivered", "read"], "read", 2),
        ("read then delivered stays read", "sent", ["read", "delivered"], "read", 1),
        ("delivered twice", "sent", ["delivered", "delivered"], "delivered", 1),
        ("read stays read", "read", ["delivered"], "read", 0),
        ("failed stays failed", "failed", ["delivered"], "failed", 0),
    ],
)
def test_receipts_move_an_outbound_message_only_forward(
    channel, _case, start, receipts, status, applied
):
    # given
    conversation = ConversationFactory(business=channel.business, channel=channel)
    message = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status=start,
        platform_message_id="9001",
    )

    # when
    result = ingest(
        channel=channel, items=[receipt("9001", value) for value in receipts]
    )

    # then
    assert result.statuses_applied == applied
    assert result.created == ()
    message.refresh_from_db()
    assert message.status == status


@pytest.mark.parametrize(
    ("_case", "start", "status", "error", "applied"),
    [
        ("sent fails", "sent", "failed", "Recipient blocked the account", 1),
        ("delivered stays delivered", "delivered", "delivered", "", 0),
        ("read stays read", "read", "read", "", 0),
    ],
)
def test_failed_receipt_sets_the_error(channel, _case, start, status, error, applied):
    # given
    conversation = ConversationFactory(business=channel.business, channel=channel)
    message = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status=start,
        platform_message_id="9001",
    )

    # when
    result = ingest(
        channel=channel,
        items=[receipt("9001", "failed", "Recipient blocked the account")],
    )

    # then
    assert result.statuses_applied == applied
    message.refresh_from_db()
    assert message.status == status
    assert message.error == error


@pytest.mark.parametrize(
    ("_case", "direction", "on_channel", "platform_message_id"),
    [
        ("unknown id", "outbound", True, "9999"),
        ("inbound message", "inbound", True, "9001"),
        ("another channel's message", "outbound", False, "9001"),
    ],
)
def test_receipt_for_no_outbound_message_of_the_channel_is_ignored(
    business, channel, _case, direction, on_channel, platform_message_id
):
    # given
    owner = channel if on_channel else ChannelFactory(business=business)
    conversation = ConversationFactory(business=business, channel=owner)
    message = MessageFactory(
        conversation=conversation,
        direction=direction,
        status="sent" if direction == "outbound" else "received",
        platform_message_id="9001",
    )
    before = message.status

    # when
    result = ingest(channel=channel, items=[receipt(platform_message_id, "read")])

    # then
    assert result.statuses_applied == 0
    message.refresh_from_db()
    assert message.status == before

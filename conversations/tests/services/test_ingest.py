"""`conversations.services.ingest`: inbound messages and delivery receipts."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from channels_app.platforms.base import (
    DeliveryStatus,
    InboundContact,
    InboundMessage,
    MessageEdit,
)
from channels_app.tests.factories import ChannelFactory
from conversations.models import Contact, ContactIdentity, Conversation, Message
from conversations.services import IngestResult, ingest
from conversations.tests.factories import ConversationFactory, MessageFactory
from pingback.testing import wait_for

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
    assert conversation.messages.filter(kind="message").count() == 2
    assert list(
        conversation.messages.filter(kind="activity").values_list("text", flat=True)
    ) == ["Reopened by the customer"]


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


# ----------------------------------------------------------------------- batches

CUSTOMERS = [
    InboundContact(
        external_id=f"70{i:02}",
        handle=f"customer{i}",
        # The last one gives no name: named by handle.
        name=f"Customer {i}" if i < 9 else "",
        avatar_url=f"https://pbs.example.test/{i}.png",
    )
    for i in range(10)
]
RENAMED = InboundContact(
    external_id=CUSTOMERS[2].external_id,
    handle="customer2_new",
    name="Customer Two",
    avatar_url="https://pbs.example.test/2b.png",
)


def given_earlier_conversations(channel) -> None:
    """Customers 0 to 3 wrote before, at T0 + 30 min; customer 0's conversation
    was resolved and read since."""
    ingest(
        channel=channel,
        items=[
            dm(f"60{i:02}", f"earlier {i}", contact=CUSTOMERS[i], minutes=30)
            for i in range(4)
        ],
    )
    Conversation.objects.filter(channel=channel, thread_key="dm:7000").update(
        status="resolved", unread_count=0
    )


def fifty_dms() -> list[InboundMessage]:
    """Message n comes from customer n % 10 at T0 + (7n mod 40) min: out of
    order, some older than the earlier conversations' last message, and
    messages n and n + 40 of a customer sent at the same minute. Customer 2's
    last message comes with a new handle, name and avatar."""
    return [
        dm(
            f"80{n:02}",
            f"message {n}",
            contact=RENAMED if n == 42 else CUSTOMERS[n % 10],
            minutes=(n * 7) % 40,
        )
        for n in range(50)
    ]


def inbox_state(channel) -> list[tuple]:
    """The channel's conversations as an agent sees them, by thread, with their
    contact and messages in order."""
    conversations = (
        Conversation.objects.filter(channel=channel)
        .select_related("contact", "contact_identity")
        .order_by("thread_key")
    )
    return [
        (
            c.thread_key,
            c.status,
            c.unread_count,
            c.last_message_preview,
            c.last_message_at,
            c.contact_identity.external_id,
            c.contact_identity.handle,
            c.contact.name,
            c.contact.avatar_url,
            list(
                c.messages.exclude(kind="activity")
                .order_by("id")
                .values_list(
                    "platform_message_id", "text", "sender_contact__name", "sent_at"
                )
            ),
            # Activity entries are stamped when written: their texts only.
            sorted(c.messages.filter(kind="activity").values_list("text", flat=True)),
        )
        for c in conversations
    ]


def test_a_batch_leaves_the_inbox_as_one_call_per_message_would(business):
    # given: the same earlier conversations on two channels
    batched = ChannelFactory(business=business)
    one_by_one = ChannelFactory(business=business)
    for channel in (batched, one_by_one):
        given_earlier_conversations(channel)
    items = fifty_dms()

    # when
    result = ingest(channel=batched, items=items)
    for item in items:
        ingest(channel=one_by_one, items=[item])

    # then
    assert len(result.created) == 50
    assert result.duplicates == 0
    assert inbox_state(batched) == inbox_state(one_by_one)
    assert Contact.objects.filter(identities__channel=batched).count() == 10
    assert ContactIdentity.objects.filter(channel=batched).count() == 10
    conversations = {
        c.thread_key: c for c in Conversation.objects.filter(channel=batched)
    }
    reopened = conversations["dm:7000"]
    assert (reopened.status, reopened.unread_count) == ("open", 5)
    assert reopened.messages.filter(
        kind="activity", text="Reopened by the customer"
    ).exists()
    # Its newest message (n=10) was sent when the earlier one was: it shows.
    assert reopened.last_message_at == T0 + timedelta(minutes=30)
    assert reopened.last_message_preview == "message 10"
    continued = conversations["dm:7001"]
    assert continued.unread_count == 6
    assert continued.last_message_at == T0 + timedelta(minutes=37)
    assert continued.last_message_preview == "message 11"
    # Messages 5 and 45 were sent at the same minute: the later one shows.
    assert conversations["dm:7005"].last_message_preview == "message 45"
    renamed = conversations["dm:7002"]
    assert renamed.contact_identity.handle == "customer2_new"
    assert renamed.contact.name == "Customer Two"
    assert conversations["dm:7009"].contact.name == "customer9"


def _message_inserts(queries: CaptureQueriesContext) -> int:
    return sum(
        query["sql"].startswith('INSERT INTO "conversations_message"')
        for query in queries.captured_queries
    )


def test_a_batch_costs_the_same_queries_whatever_its_messages_and_contacts(
    business,
):
    # given: new customers, one writing 5 messages, then 20 writing 60
    few = [dm(f"1{n}", contact=CUSTOMERS[0], minutes=n) for n in range(5)]
    many = [
        dm(
            f"2{n:02}",
            contact=InboundContact(external_id=f"90{n % 20:02}", name="Someone"),
            minutes=n,
        )
        for n in range(60)
    ]
    few_channel = ChannelFactory(business=business)
    many_channel = ChannelFactory(business=business)

    # when
    with CaptureQueriesContext(connection) as few_queries:
        ingest(channel=few_channel, items=few)
    with CaptureQueriesContext(connection) as many_queries:
        result = ingest(channel=many_channel, items=many)

    # then: at most 16: read the identities; insert contacts and identities
    # (in a savepoint); read the stored messages; lock the conversations,
    # insert the new ones, insert the messages, update the counters and the
    # label links' copy of the last activity (in a savepoint); read the
    # business's webhook endpoints (none: no event to insert); read the
    # business's time zone and add to the report's messages per day. SQLite takes
    # at most 999 parameters a statement, so Django splits the insert of 60
    # messages there; PostgreSQL takes them at once. The last activity's copy
    # is one statement on PostgreSQL and two elsewhere (`last_message_at_copy`).
    assert len(result.created) == 60
    assert _message_inserts(few_queries) == 1
    extra_chunks = _message_inserts(many_queries) - 1
    most = 16 if connection.vendor == "postgresql" else 17
    assert len(many_queries) - extra_chunks == len(few_queries) <= most


def test_duplicates_in_a_batch_and_of_stored_messages_are_counted(channel):
    # given
    ingest(channel=channel, items=[dm("1001", "first")])

    # when
    result = ingest(
        channel=channel,
        items=[
            dm("1001", "first, again", minutes=1),
            dm("1002", "second", minutes=2),
            dm("1002", "second, again", minutes=3),
            dm("1003", "third", minutes=4),
        ],
    )

    # then
    assert len(result.created) == 2
    assert result.duplicates == 2
    assert list(
        Message.objects.order_by("id").values_list("platform_message_id", "text")
    ) == [("1001", "first"), ("1002", "second"), ("1003", "third")]
    conversation = Conversation.objects.get()
    assert conversation.unread_count == 3
    assert conversation.last_message_preview == "third"


def test_an_edit_and_a_receipt_in_a_batch_see_the_messages_before_them(channel):
    # given: an outbound message stored before the batch
    conversation = ConversationFactory(business=channel.business, channel=channel)
    outbound = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="sent",
        platform_message_id="9001",
    )

    # when: the customer's message, its edit, a receipt, another message
    result = ingest(
        channel=channel,
        items=[
            dm("1001", "Wher is my order?"),
            MessageEdit(
                platform_message_id="1001",
                text="Where is my order?",
                edited_at=T0 + timedelta(minutes=1),
            ),
            receipt("9001", "read"),
            dm("1002", "Hello?", minutes=2),
        ],
    )

    # then
    assert len(result.created) == 2
    assert result.edits_applied == 1
    assert result.statuses_applied == 1
    edited = Message.objects.get(platform_message_id="1001")
    assert edited.text == "Where is my order?"
    assert edited.edited_at == T0 + timedelta(minutes=1)
    outbound.refresh_from_db()
    assert outbound.status == "read"


def test_a_reply_to_a_message_earlier_in_the_batch_joins_its_conversation(channel):
    # given: a mention, a reply to it and a reply to the reply, each its own
    # thread on the platform
    def post(platform_message_id, minutes, reply_to=None):
        return InboundMessage(
            platform_message_id=platform_message_id,
            contact=ADA,
            text=f"post {platform_message_id}",
            sent_at=T0 + timedelta(minutes=minutes),
            thread_key=f"tweet:{platform_message_id}",
            reply_to_platform_message_id=reply_to,
            kind="mention",
        )

    # when
    result = ingest(
        channel=channel,
        items=[post("5001", 0), post("5002", 1, "5001"), post("5003", 2, "5002")],
    )

    # then
    conversation = Conversation.objects.get()
    assert conversation.thread_key == "tweet:5001"
    assert list(
        conversation.messages.order_by("id").values_list("pk", flat=True)
    ) == list(result.created)
    assert conversation.unread_count == 3
    assert conversation.last_message_preview == "post 5003"


# ---------------------------------------------------------- concurrent ingests


class HeldIngest:
    """Another worker's ingest, in a thread, in a transaction that stays open
    (its rows locked, its inserts uncommitted) until `commit()`."""

    def __init__(self, channel, items) -> None:
        self._stored = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(channel, items))
        self._thread.start()
        assert self._stored.wait(10), "the held ingest did not finish"

    def _run(self, channel, items) -> None:
        try:
            with transaction.atomic():
                ingest(channel=channel, items=items)
                self._stored.set()
                self._release.wait(10)
        finally:
            connection.close()

    def commit(self) -> None:
        self._release.set()
        self._thread.join(10)


def ingest_in_thread(**arguments) -> IngestResult:
    try:
        return ingest(**arguments)
    finally:
        connection.close()


def a_transaction_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="two open write transactions need PostgreSQL",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("_case", "is_contact_known", "unread_count"),
    [
        # The batch waits on the conversation's lock, then its bulk insert
        # hits the message the other ingest stored.
        ("contact and conversation known", True, 3),
        # The batch waits on the identity the other ingest created.
        ("first message of the contact", False, 2),
    ],
)
def test_a_message_a_concurrent_ingest_stores_first_is_a_duplicate(
    _case, is_contact_known, unread_count
):
    # given: another worker stored message 1001 and has not committed yet
    channel = ChannelFactory()
    if is_contact_known:
        ingest(channel=channel, items=[dm("1000", "earlier", minutes=-1)])
    held = HeldIngest(channel, [dm("1001")])

    # when: a batch with 1001 and 1002 runs until it waits on the other
    # worker, which then commits
    with ThreadPoolExecutor(max_workers=1) as pool:
        batch = pool.submit(
            ingest_in_thread,
            channel=channel,
            items=[dm("1001"), dm("1002", "Still there?", minutes=1)],
        )
        wait_for(a_transaction_waits_on_a_lock)
        held.commit()
        result = batch.result(timeout=20)

    # then
    assert len(result.created) == 1
    assert result.duplicates == 1
    assert Message.objects.get(pk=result.created[0]).platform_message_id == "1002"
    assert Message.objects.filter(platform_message_id="1001").count() == 1
    conversation = Conversation.objects.get()
    assert conversation.unread_count == unread_count
    assert conversation.last_message_preview == "Still there?"
    assert Contact.objects.count() == 1
    assert ContactIdentity.objects.count() == 1

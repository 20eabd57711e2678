"""Auto-assignment: new conversations of a channel with `auto_assign` go to
its online agents round-robin, skipping those at capacity; off by default (and
then free); race-safe; a customer reopening a conversation keeps its assignee
if still a member, else it is auto-assigned again."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from billing.models import Member
from billing.tests.factories import MemberFactory, UserFactory
from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from conversations import presence
from conversations.models import Conversation, Message
from conversations.services import ingest
from conversations.services.assignment import conversation_auto_assign
from conversations.tests.factories import ConversationFactory
from conversations.tests.presence_helpers import presence_reset
from workspace.tests.factories import TeamFactory

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clean_presence():
    presence_reset()
    yield
    presence_reset()


def agent(business, name: str, *, online: bool = True, **fields) -> Member:
    first, last = name.split()
    member = MemberFactory(
        business=business,
        user=UserFactory(first_name=first, last_name=last),
        **fields,
    )
    if online:
        presence.page_seen(
            business_id=business.pk,
            user_id=member.user_id,
            name=name,
            connection=f"page-{member.pk}",
            conversation_id=None,
        )
    return member


def messages(prefix: str, customers: int, minute: int = 0) -> list[InboundMessage]:
    return [
        InboundMessage(
            platform_message_id=f"{prefix}-{c}-{minute}",
            thread_key=f"dm:{prefix}{c}",
            contact=InboundContact(external_id=f"{prefix}{c}", name=f"C{c}"),
            text="hello",
            sent_at=T0 + timedelta(minutes=minute, seconds=c),
        )
        for c in range(customers)
    ]


def assignees(channel) -> list[str | None]:
    return [
        c.assignee.first_name if c.assignee else None
        for c in Conversation.objects.filter(channel=channel)
        .select_related("assignee")
        .order_by("last_message_at")
    ]


@pytest.mark.django_db
def test_new_conversations_go_round_robin_to_online_agents_with_room(business):
    ana = agent(business, "Ana Silva")
    ben = agent(business, "Ben Okoro")
    full = agent(business, "Cleo Full", max_open_conversations=1)
    ConversationFactory(business=business, assignee=full.user, status="open")
    agent(business, "Dan Away", online=False)
    channel = ChannelFactory(business=business, auto_assign=True)

    ingest(channel=channel, items=messages("a", 5))

    assert assignees(channel) == ["Ana", "Ben", "Ana", "Ben", "Ana"]
    ana.refresh_from_db()
    ben.refresh_from_db()
    assert ana.last_assigned_at > ben.last_assigned_at
    entries = Message.objects.filter(channel=channel, kind="activity")
    assert (
        sorted(entries.values_list("text", flat=True)).count(
            "PingBack assigned this conversation to Ana Silva (auto-assignment)"
        )
        == 3
    )
    assert all(entry.author_id is None for entry in entries)


@pytest.mark.django_db
def test_the_agent_assigned_longest_ago_goes_first_and_capacity_counts_pending(
    business,
):
    ana = agent(business, "Ana Silva", max_open_conversations=2)
    ben = agent(business, "Ben Okoro")
    Member.objects.filter(pk=ben.pk).update(last_assigned_at=T0)
    Member.objects.filter(pk=ana.pk).update(last_assigned_at=T0 + timedelta(hours=1))
    ConversationFactory(business=business, assignee=ana.user, status="pending")
    ConversationFactory(business=business, assignee=ana.user, status="resolved")
    channel = ChannelFactory(business=business, auto_assign=True)

    ingest(channel=channel, items=messages("b", 3))

    # Ben was assigned longest ago; Ana has room for one more (pending counts,
    # resolved does not).
    assert assignees(channel) == ["Ben", "Ana", "Ben"]


@pytest.mark.django_db
def test_a_channel_team_limits_who_gets_them_and_is_set_even_when_nobody_is_free(
    business,
):
    ana = agent(business, "Ana Silva")
    agent(business, "Ben Okoro")
    team = TeamFactory(business=business)
    team.members.add(ana)
    channel = ChannelFactory(business=business, auto_assign=True, team=team)
    busy = agent(business, "Cleo Busy", max_open_conversations=0)
    lonely_team = TeamFactory(business=business)
    lonely_team.members.add(busy)
    lonely = ChannelFactory(business=business, auto_assign=True, team=lonely_team)

    ingest(channel=channel, items=messages("t", 2))
    ingest(channel=lonely, items=messages("l", 2))

    assert assignees(channel) == ["Ana", "Ana"]
    assert set(
        Conversation.objects.filter(channel=channel).values_list("team", flat=True)
    ) == {team.pk}
    assert assignees(lonely) == [None, None]
    assert set(
        Conversation.objects.filter(channel=lonely).values_list("team", flat=True)
    ) == {lonely_team.pk}
    assert not Message.objects.filter(channel=lonely, kind="activity").exists()


@pytest.mark.django_db
def test_off_by_default_it_assigns_nothing_and_costs_no_query(business):
    agent(business, "Ana Silva")
    channel = ChannelFactory(business=business)
    assert channel.auto_assign is False

    with CaptureQueriesContext(connection) as queries:
        ingest(channel=channel, items=messages("o", 3))

    assert assignees(channel) == [None, None, None]
    sql = " ".join(q["sql"] for q in queries)
    assert "billing_member" not in sql
    assert '"assignee_id" =' not in sql
    # The same batch on an auto-assigning channel costs a few queries more.
    on = ChannelFactory(business=business, auto_assign=True)
    with CaptureQueriesContext(connection) as on_queries:
        ingest(channel=on, items=messages("o", 3))
    assert len(on_queries) > len(queries)


@pytest.mark.django_db
def test_assigning_a_batch_costs_the_same_queries_for_2_or_20(business):
    for name in ("Ana Silva", "Ben Okoro", "Cleo Lima"):
        agent(business, name)
    counts = []
    for size in (2, 20):
        channel = ChannelFactory(business=business, auto_assign=True)
        with CaptureQueriesContext(connection) as queries:
            ingest(channel=channel, items=messages(f"q{size}", size))
        assert None not in assignees(channel)
        counts.append(len(queries))

    assert counts[0] == counts[1]


@pytest.mark.django_db(transaction=True)
def test_assignments_at_the_same_time_do_not_overfill_an_agent(business):
    ana = agent(business, "Ana Silva", max_open_conversations=1)
    ben = agent(business, "Ben Okoro", max_open_conversations=1)
    channel = ChannelFactory(business=business, auto_assign=True)
    conversations = [
        ConversationFactory(business=business, channel=channel) for _ in range(6)
    ]
    barrier = threading.Barrier(len(conversations))
    results = {}

    def assign(conversation):
        try:
            barrier.wait(timeout=5)
            results[conversation.pk] = conversation_auto_assign(conversation)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=assign, args=(c,)) for c in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert len(results) == 6
    assert sorted(user.pk for user in results.values() if user) == sorted(
        [ana.user_id, ben.user_id]
    )
    assert Conversation.objects.filter(assignee__isnull=False).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["resolved", "pending"])
def test_a_customer_reopening_keeps_an_assignee_who_is_still_a_member(business, status):
    ben = agent(business, "Ben Okoro", online=False)
    agent(business, "Ana Silva")
    channel = ChannelFactory(business=business, auto_assign=True)
    ingest(channel=channel, items=messages("k", 1))
    Conversation.objects.filter(channel=channel).update(
        status=status, assignee=ben.user
    )

    ingest(channel=channel, items=messages("k", 1, minute=5))

    conversation = Conversation.objects.get(channel=channel)
    assert conversation.status == "open"
    assert conversation.assignee == ben.user
    assert (
        Message.objects.filter(
            conversation=conversation, kind="activity", text="Reopened by the customer"
        ).count()
        == 1
    )


@pytest.mark.django_db
@pytest.mark.parametrize("before", ["left the business", "nobody"])
def test_a_customer_reopening_reassigns_when_the_assignee_is_gone(business, before):
    gone = agent(business, "Gus Gone", online=False)
    agent(business, "Ana Silva")
    channel = ChannelFactory(business=business, auto_assign=True)
    ingest(channel=channel, items=messages("g", 1))
    conversation = Conversation.objects.get(channel=channel)
    conversation.status = "resolved"
    conversation.assignee = gone.user if before == "left the business" else None
    conversation.save()
    gone.delete()

    ingest(channel=channel, items=messages("g", 1, minute=5))

    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert conversation.assignee.first_name == "Ana"
    texts = list(
        Message.objects.filter(conversation=conversation, kind="activity")
        .order_by("pk")
        .values_list("text", flat=True)
    )
    assert texts[-2:] == [
        "Reopened by the customer",
        "PingBack assigned this conversation to Ana Silva (auto-assignment)",
    ]


@pytest.mark.django_db
def test_with_presence_unreachable_messages_are_still_stored_unassigned(
    business, settings
):
    agent(business, "Ana Silva")
    channel = ChannelFactory(business=business, auto_assign=True)
    # Nothing listens on port 1: presence cannot be read.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    result = ingest(channel=channel, items=messages("d", 2))

    assert len(result.created) == 2
    assert assignees(channel) == [None, None]

"""The workspace's pages and partials, server side: what each renders, who
may see it, and a number of queries that does not grow with the rows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.tests.factories import BusinessFactory, MemberFactory
from conversations.models import Conversation, Mention, UnreadMention
from conversations.services.replies import post_note
from conversations.tests.factories import ConversationFactory, MessageFactory
from workspace.models import Label, SavedFilter, Team


def _mention(*, message, conversation, user) -> Mention:
    """A mention stored as `mentions_create` stores it (with the agent's
    `UnreadMention` row), for tests that write the note directly."""
    UnreadMention.objects.get_or_create(
        conversation=conversation,
        user=user,
        defaults={"last_message_at": conversation.last_message_at},
    )
    return Mention.objects.create(message=message, conversation=conversation, user=user)


pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(agent_member) -> Client:
    client = Client()
    client.force_login(agent_member.user)
    return client


def queries_of(client: Client, url: str) -> int:
    client.get(url)  # one-off writes (session, read state) happen once
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_page_and_its_partials_make_the_same_queries_for_3_or_30_rows(
    agent_client, agent_member
):
    business = agent_member.business
    team = Team.objects.create(business=business, name="Support")
    vip = Label.objects.create(business=business, name="vip")

    def add(count: int) -> Conversation:
        for _ in range(count):
            conversation = ConversationFactory(business=business, team=team)
            conversation.labels.add(vip)
            MessageFactory(conversation=conversation)
        return conversation

    open_one = add(3)
    urls = [
        reverse("inbox"),
        reverse("inbox-list") + "?label=vip",
        reverse("conversation", args=[open_one.pk]),
        reverse("conversation-pane", args=[open_one.pk]),
        reverse("conversation-panel", args=[open_one.pk]),
    ]
    few = [queries_of(agent_client, url) for url in urls]
    add(27)
    many = [queries_of(agent_client, url) for url in urls]

    assert many == few
    # The whole page with a conversation open, in numbers.
    assert few[2] <= 20


def test_views_count_open_conversations_for_the_agent(agent_client, agent_member):
    business = agent_member.business
    ben = MemberFactory(business=business)
    ConversationFactory(business=business, assignee=agent_member.user)
    ConversationFactory(business=business, assignee=ben.user)
    ConversationFactory(business=business)
    ConversationFactory(business=business, status="resolved")
    noted = ConversationFactory(business=business, assignee=ben.user)
    note = post_note(conversation=noted, author=ben.user, text="have a look")
    _mention(message=note, conversation=noted, user=agent_member.user)
    ConversationFactory(business=BusinessFactory())

    counts = json.loads(agent_client.get(reverse("inbox-counts")).content)

    assert counts == {"all": 4, "mine": 1, "unassigned": 1, "mentions": 1}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["mine open", "ben open", "nobody open"]),
        ("view=mine", ["mine open"]),
        ("view=unassigned", ["nobody open"]),
        ("status=resolved", ["ben resolved"]),
        ("status=&assignee=none", ["nobody open"]),
        ("team=none", ["ben open", "nobody open"]),
        ("label=VIP", ["mine open"]),
        ("label=nope", ["mine open", "ben open", "nobody open"]),
        ("view=mentions", ["ben open"]),
    ],
)
def test_views_and_filters_combine(agent_client, agent_member, query, expected):
    business = agent_member.business
    ben = MemberFactory(business=business)
    team = Team.objects.create(business=business, name="Support")
    now = timezone.now()

    def make(name: str, minutes: int, **fields) -> Conversation:
        return ConversationFactory(
            business=business,
            contact__name=name,
            last_message_at=now - timedelta(minutes=minutes),
            **fields,
        )

    mine = make("mine open", 1, assignee=agent_member.user, team=team)
    mine.labels.add(Label.objects.create(business=business, name="vip"))
    bens = make("ben open", 2, assignee=ben.user)
    make("nobody open", 3)
    make("ben resolved", 4, assignee=ben.user, status="resolved")
    note = post_note(conversation=bens, author=ben.user, text="look")
    _mention(message=note, conversation=bens, user=agent_member.user)

    html = agent_client.get(reverse("inbox-list") + "?" + query).content.decode()

    names = ["mine open", "ben open", "nobody open", "ben resolved"]
    assert sorted((n for n in names if n in html), key=html.index) == expected


def test_opening_a_conversation_reads_its_mentions(agent_client, agent_member):
    business = agent_member.business
    conversation = ConversationFactory(business=business, unread_count=2)
    note = post_note(conversation=conversation, author=agent_member.user, text="x")
    _mention(message=note, conversation=conversation, user=agent_member.user)

    agent_client.get(reverse("conversation-pane", args=[conversation.pk]))

    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert not Mention.objects.filter(read_at__isnull=True).exists()


def test_saved_filters_are_the_agents_own(agent_client, agent_member):
    business = agent_member.business
    SavedFilter.objects.create(member=agent_member, name="My VIPs", query="label=vip")
    other = MemberFactory(business=business)
    SavedFilter.objects.create(member=other, name="Ben's list", query="view=mine")

    html = agent_client.get(reverse("inbox")).content.decode()

    assert "My VIPs" in html
    assert "Ben&#x27;s list" not in html and "Ben's list" not in html


@pytest.mark.parametrize(
    "name", ["inbox-list", "inbox-counts", "conversation-pane", "conversation-panel"]
)
def test_partials_need_a_member_and_hide_other_businesses(agent_client, name):
    stranger = ConversationFactory(business=BusinessFactory())
    args = [] if name.startswith("inbox") else [stranger.pk]

    assert Client().get(reverse(name, args=args)).status_code == 302
    expected = 200 if name.startswith("inbox") else 404
    assert agent_client.get(reverse(name, args=args)).status_code == expected


def test_snooze_from_the_page_uses_the_business_time_zone(agent_client, agent_member):
    business = agent_member.business
    business.time_zone = "America/New_York"
    business.save()
    conversation = ConversationFactory(business=business)

    response = agent_client.post(
        reverse("conversation-snooze", args=[conversation.pk]),
        {"until": "2099-01-02T09:30"},
    )

    assert response.status_code == 204
    conversation.refresh_from_db()
    assert conversation.status == "snoozed"
    # 09:30 in New York in winter is 14:30 UTC.
    assert conversation.snoozed_until.isoformat() == "2099-01-02T14:30:00+00:00"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"until": "2001-01-01T09:00"}, "A time in the future."),
        ({"until": "tomorrow"}, "Give a date and a time."),
        ({"preset": "someday"}, "No such snooze choice."),
    ],
)
def test_a_refused_snooze_says_why_and_changes_nothing(
    agent_client, agent_member, data, reason
):
    conversation = ConversationFactory(business=agent_member.business)

    response = agent_client.post(
        reverse("conversation-snooze", args=[conversation.pk]), data
    )

    assert response.status_code == 400
    assert response.content.decode() == reason
    conversation.refresh_from_db()
    assert conversation.status == "open"

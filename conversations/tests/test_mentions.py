"""Mentions in private notes: who `@name` names, the Mention rows, the
notification on the mentioned agent's own pages, the Mentions view and the
view counts."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.tests.factories import BusinessFactory, MemberFactory, UserFactory
from conversations.models import Conversation, Mention
from conversations.selectors import inbox_conversation_list, inbox_view_counts
from conversations.services import mentions_mark_read, post_note
from conversations.services.mentions import mentioned_members
from conversations.tests.api_helpers import listed_ids
from conversations.tests.factories import ConversationFactory
from conversations.tests.test_live_inbox_consumer import (
    TIMEOUT,
    inbox_socket,
    session_cookie,
)

LIST_URL = "/api/v1/conversations/"


def member(business, username: str, first: str = "", last: str = "", **kwargs):
    user = UserFactory(
        username=username,
        email=f"{username}@example.test",
        first_name=first,
        last_name=last,
    )
    return MemberFactory(business=business, user=user, **kwargs)


@pytest.fixture
def team(business):
    """Ana Silva (ana.silva), Bruno Costa (bruno), Ana Lima (alima) and the
    author, Carla (carla)."""
    return {
        "ana": member(business, "ana.silva", "Ana", "Silva"),
        "bruno": member(business, "bruno", "Bruno", "Costa"),
        "ana2": member(business, "alima", "Ana", "Lima"),
        "carla": member(business, "carla", "Carla", "Reis"),
    }


def named(business, text: str, team, author="carla") -> set[str]:
    found = mentioned_members(business.pk, text, author=team[author].user)
    return {m.user.username for m in found}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@ana.silva can you look?", {"ana.silva"}),
        ("ask @Bruno.", {"bruno"}),
        ("@ana please", {"ana.silva", "alima"}),
        ('@"ana  LIMA" please', {"alima"}),
        ("@bruno, @bruno and @BRUNO", {"bruno"}),
        ("mail bruno@example.test or @nobody", set()),
        ("@carla note to self", set()),
        ("no mention here", set()),
    ],
)
def test_who_a_mention_names(business, team, text, expected):
    MemberFactory(business=BusinessFactory(), user=UserFactory(username="nobody"))

    assert named(business, text, team) == expected


@pytest.mark.django_db
def test_a_note_stores_one_mention_per_agent(business, team, api_client_for):
    conversation = ConversationFactory(business=business)
    api = api_client_for(team["carla"])

    response = api.post(
        f"{LIST_URL}{conversation.pk}/messages",
        {"text": "@bruno and @Bruno.Costa? no: @bruno and @ana.silva", "private": True},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["mentions"] == sorted(
        [team["ana"].user_id, team["bruno"].user_id]
    )
    assert sorted(
        Mention.objects.filter(conversation=conversation).values_list(
            "user_id", flat=True
        )
    ) == sorted([team["ana"].user_id, team["bruno"].user_id])


@pytest.mark.django_db(transaction=True)
def test_the_mentioned_agent_alone_is_notified(business, team, settings):
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
    conversation = ConversationFactory(business=business)
    team["ana2"].notify_mention = False
    team["ana2"].save()
    text = "@bruno @alima the customer wants a refund " + "x" * 200

    cookies = {
        name: session_cookie(team[name].user) for name in ("bruno", "ana", "ana2")
    }

    async def scenario():
        sockets = {name: inbox_socket(cookie) for name, cookie in cookies.items()}
        for socket in sockets.values():
            await socket.connect(timeout=TIMEOUT)
        await database_sync_to_async(post_note)(
            conversation=conversation, author=team["carla"].user, text=text
        )
        received = {}
        for name, socket in sockets.items():
            events = []
            while not await socket.receive_nothing(timeout=0.5):
                events.append(await socket.receive_json_from(timeout=TIMEOUT))
            received[name] = events
            await socket.disconnect()
        return received

    received = async_to_sync(scenario)()

    def notifications(name):
        return [e for e in received[name] if e["type"] == "notification"]

    assert notifications("bruno") == [
        {
            "type": "notification",
            "kind": "mention",
            "conversation_id": conversation.pk,
            "title": "Carla Reis mentioned you",
            "body": text[:140],
            "params": {"actor": "Carla Reis"},
        }
    ]
    # Not mentioned; mentioned but notifications switched off.
    assert notifications("ana") == []
    assert notifications("ana2") == []
    # Everyone still hears of the note itself.
    assert {e["type"] for e in received["ana"]} >= {"message"}


@pytest.mark.django_db
def test_mentions_view_and_counts(business, team, api_client_for):
    bruno = team["bruno"].user
    mentioned = ConversationFactory(business=business, status="resolved")
    other = ConversationFactory(business=business, assignee=bruno)
    ConversationFactory(business=business)
    ConversationFactory(business=business, status="pending", assignee=bruno)
    ConversationFactory(business=BusinessFactory(), assignee=None)
    post_note(conversation=mentioned, author=team["carla"].user, text="@bruno look")
    post_note(conversation=mentioned, author=team["carla"].user, text="@bruno again")
    post_note(conversation=other, author=team["carla"].user, text="@ana.silva")
    api = api_client_for(team["bruno"])

    rows = api.get(LIST_URL + "?mentioned=me").json()["results"]
    counts = api.get(LIST_URL + "counts").json()

    assert [row["id"] for row in rows] == [mentioned.pk]
    assert counts == {"mine": 1, "unassigned": 1, "all": 2, "mentions": 1}
    assert list(inbox_conversation_list(business, mentioned_user_id=bruno.pk)) == [
        mentioned
    ]

    # Bruno opens the conversation: it leaves his Mentions view.
    assert mentions_mark_read(mentioned, bruno) == 2
    assert api.get(LIST_URL + "?mentioned=me").json()["results"] == []
    assert api.get(LIST_URL + "counts").json()["mentions"] == 0
    assert inbox_view_counts(business, team["ana"].user)["mentions"] == 1


@pytest.mark.django_db
def test_counts_take_two_queries(business, team):
    for index in range(30):
        conversation = ConversationFactory(
            business=business,
            status=["open", "pending"][index % 2],
            assignee=team["bruno"].user if index % 3 else None,
        )
        post_note(conversation=conversation, author=team["carla"].user, text="@bruno")

    with CaptureQueriesContext(connection) as queries:
        counts = inbox_view_counts(business, team["bruno"].user)

    assert len(queries) <= 2
    open_ = Conversation.objects.filter(business=business, status="open")
    assert counts == {
        "mine": open_.filter(assignee=team["bruno"].user).count(),
        "unassigned": open_.filter(assignee=None).count(),
        "all": open_.count(),
        "mentions": 30,
    }


@pytest.mark.django_db
def test_the_mentions_view_follows_new_messages_and_lists_each_conversation_once(
    business, team, api_client_for
):
    from datetime import UTC, datetime, timedelta

    from channels_app.platforms.base import InboundContact, InboundMessage
    from channels_app.tests.factories import ChannelFactory
    from conversations.models import UnreadMention
    from conversations.services.ingest import ingest
    from conversations.services.replies import post_reply

    bruno = team["bruno"].user
    channel = ChannelFactory(business=business)
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    mentioned = []
    for n in range(5):
        conversation = ConversationFactory(
            business=business,
            channel=channel,
            last_message_at=t0 + timedelta(minutes=n),
        )
        post_note(conversation=conversation, author=team["carla"].user, text="@bruno")
        mentioned.append(conversation)
    # Twice in one conversation: still one row of the view.
    post_note(conversation=mentioned[2], author=team["carla"].user, text="@bruno too")
    ConversationFactory(business=business, last_message_at=t0 + timedelta(hours=1))
    api = api_client_for(team["bruno"])
    assert listed_ids(api, "mentioned=me") == [c.pk for c in reversed(mentioned)]

    # when: the oldest gets a customer's message, then the second oldest a reply
    oldest, second = mentioned[0], mentioned[1]
    ingest(
        channel=channel,
        items=[
            InboundMessage(
                platform_message_id="mention-order-1",
                contact=InboundContact(external_id=oldest.contact_identity.external_id),
                text="Any news?",
                sent_at=t0 + timedelta(minutes=30),
                thread_key=oldest.thread_key,
            )
        ],
    )
    post_reply(conversation=second, text="On its way", author=None)

    # then: each moves to the top, as in the inbox
    expected = [second.pk, oldest.pk] + [c.pk for c in reversed(mentioned[2:])]
    assert listed_ids(api, "mentioned=me") == expected
    assert api.get(LIST_URL + "counts").json()["mentions"] == 5

    # Opening one takes it out of the view; its mentions are marked read.
    assert mentions_mark_read(mentioned[2], bruno) == 2
    assert mentions_mark_read(mentioned[2], bruno) == 0
    expected.remove(mentioned[2].pk)
    assert listed_ids(api, "mentioned=me") == expected
    assert not UnreadMention.objects.filter(conversation=mentioned[2]).exists()
    assert Mention.objects.filter(conversation=mentioned[2], read_at=None).count() == 0

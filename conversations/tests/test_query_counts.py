"""SQL queries per inbox request do not grow with the rows shown (no N+1).

Each request is counted once the caller's first request has happened (the API
token's `last_used_at` and the session are written once, not per request), with
3 and then 30 conversations or messages: assignees, contacts and identities,
channels of several types, authors and attachments, so that a relation read
without its join shows up as a difference.
"""

from datetime import UTC, datetime, timedelta
from itertools import cycle

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.tests.factories import MemberFactory
from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LIST_URL = "/api/v1/conversations/"
# The budget for the conversations list and the messages endpoint.
MAX_API_QUERIES = 6
STATUSES = ("open", "pending", "resolved", "snoozed")


@pytest.fixture
def inbox(business):
    """Add conversations to the business: on X, Telegram and SMS channels, in
    every status, assigned in turn to two agents or to nobody."""
    channels = cycle(
        [
            ChannelFactory(business=business, type=kind)
            for kind in ("x", "telegram", "sms")
        ]
    )
    agents = cycle([MemberFactory(business=business).user for _ in range(2)] + [None])
    statuses = cycle(STATUSES)
    added = 0

    def add(count: int) -> None:
        nonlocal added
        for _ in range(count):
            added += 1
            ConversationFactory(
                business=business,
                channel=next(channels),
                status=next(statuses),
                assignee=next(agents),
                last_message_at=T0 + timedelta(minutes=added),
            )

    return add


def queries_of(client: Client, url: str, **headers: str) -> int:
    """SQL queries of one GET of `url` (answered 200), after a first one."""
    assert client.get(url, headers=headers).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers)
    assert response.status_code == 200
    return len(captured)


def second_page(client: Client, url: str) -> str:
    """The `next` cursor URL of `url` listed two per page."""
    separator = "&" if "?" in url else "?"
    following = client.get(f"{url}{separator}page_size=2").json()["next"]
    assert following is not None
    return following


@pytest.fixture
def api(admin_member, api_client_for):
    return api_client_for(admin_member)


@pytest.mark.parametrize(
    ("_case", "query"),
    [
        ("_default", ""),
        ("_by_channel_type", "?channel_type=telegram"),
        ("_by_status", "?status=open"),
        ("_by_assignee", "?assignee={agent}"),
        ("_second_page_by_cursor", "cursor"),
    ],
)
def test_conversation_list_queries_do_not_grow_with_conversations(
    _case, query, api, inbox, business
):
    # given
    inbox(3)
    agent = Conversation.objects.filter(assignee__isnull=False).first().assignee_id

    def url() -> str:
        if query == "cursor":
            return second_page(api, LIST_URL)
        return LIST_URL + query.format(agent=agent)

    with_3 = queries_of(api, url())
    inbox(27)

    # when
    with_30 = queries_of(api, url())

    # then
    assert with_30 == with_3
    assert with_30 <= MAX_API_QUERIES


@pytest.mark.parametrize(
    ("_case", "query"),
    [
        ("_assigned_to_me", "?assignee=me"),
        ("_unassigned", "?assignee=none"),
        ("_snoozed", "?status=snoozed"),
        ("_by_channel", "?channel={channel}"),
        ("_by_channel_and_status", "?channel={channel}&status=open"),
    ],
)
def test_workspace_filter_queries_do_not_grow_with_conversations(
    _case, query, api, inbox, business, admin_member
):
    # given: some conversations are the caller's
    def add(count: int) -> None:
        inbox(count)
        Conversation.objects.filter(business=business, status="pending").update(
            assignee=admin_member.user
        )

    add(3)
    url = LIST_URL + query.format(
        channel=Conversation.objects.filter(business=business).first().channel_id
    )
    with_3 = queries_of(api, url)
    add(27)

    # when
    with_30 = queries_of(api, url)

    # then
    assert with_30 == with_3
    assert with_30 <= MAX_API_QUERIES
    assert api.get(url).json()["results"]


def test_message_list_queries_do_not_grow_with_messages(api, business, admin_member):
    # given
    conversation = ConversationFactory(business=business)
    url = f"/api/v1/conversations/{conversation.pk}/messages"

    def add(count: int) -> None:
        for index in range(count):
            if index % 2:
                MessageFactory(
                    conversation=conversation,
                    sender_contact=conversation.contact,
                    attachments=[{"kind": "image", "url": "https://x.test/a.png"}],
                )
            else:
                MessageFactory(
                    conversation=conversation,
                    direction="outbound",
                    status="sent",
                    author=MemberFactory(business=business).user,
                )

    add(3)
    with_3 = queries_of(api, url)
    add(27)

    # when
    with_30 = queries_of(api, url)

    # then
    assert with_30 == with_3
    assert with_30 <= MAX_API_QUERIES


@pytest.fixture
def page_client(admin_member) -> Client:
    client = Client()
    client.force_login(admin_member.user)
    return client


@pytest.mark.parametrize(
    ("_case", "query"),
    [("_open", ""), ("_all_statuses", "?status="), ("_x_channels", "?channel_type=x")],
)
def test_inbox_page_queries_do_not_grow_with_conversations(
    _case, query, page_client, inbox
):
    # given
    inbox(3)
    with_3 = queries_of(page_client, reverse("inbox") + query)
    inbox(27)

    # when
    with_30 = queries_of(page_client, reverse("inbox") + query)

    # then
    assert with_30 == with_3


def test_conversation_page_queries_do_not_grow_with_messages(page_client, business):
    # given
    conversation = ConversationFactory(business=business)
    url = reverse("conversation", kwargs={"conversation_id": conversation.pk})

    def add(count: int) -> None:
        for index in range(count):
            MessageFactory(
                conversation=conversation,
                direction="outbound" if index % 2 else "inbound",
                status="sent" if index % 2 else "received",
                author=MemberFactory(business=business).user if index % 2 else None,
            )

    add(3)
    with_3 = queries_of(page_client, url)
    add(27)

    # when
    with_30 = queries_of(page_client, url)

    # then
    assert with_30 == with_3

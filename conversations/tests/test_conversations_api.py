"""The conversations API (`/api/v1/conversations/`), case by case."""

from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.fields import DateTimeField
from rest_framework.test import APIClient

from billing.tests.factories import BusinessFactory, MemberFactory, UserFactory
from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation, Message
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LIST_URL = "/api/v1/conversations/"
MAX_QUERIES_PER_REQUEST = 6
NO_SUCH_AGENT = {"assignee_id": ["No such agent in this business."]}


def iso(value: datetime) -> str:
    """A datetime as the API writes it."""
    return DateTimeField().to_representation(value)


def detail_url(conversation: Conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}"


def messages_url(conversation: Conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages"


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def set_x_mode(sandbox, **modes) -> None:
    response = requests.post(sandbox.url + "/_sandbox/x/mode", json=modes, timeout=5)
    assert response.status_code == 200, response.text


# -------------------------------------------------------------------------- list


def test_list_is_newest_activity_first_with_id_breaking_ties(admin_api, business):
    # given
    oldest = ConversationFactory(business=business, last_message_at=T0)
    newest = ConversationFactory(
        business=business, last_message_at=T0 + timedelta(hours=2)
    )
    tied_low = ConversationFactory(
        business=business, last_message_at=T0 + timedelta(hours=1)
    )
    tied_high = ConversationFactory(
        business=business, last_message_at=T0 + timedelta(hours=1)
    )

    # when
    response = admin_api.get(LIST_URL)

    # then
    assert response.status_code == 200
    assert ids(response) == [newest.pk, tied_high.pk, tied_low.pk, oldest.pk]


def test_list_never_shows_another_business_conversations(admin_api, business):
    # given
    own = ConversationFactory(business=business)
    ConversationFactory(business=BusinessFactory(), last_message_at=T0)

    # when
    response = admin_api.get(LIST_URL)

    # then
    assert response.status_code == 200
    assert ids(response) == [own.pk]


def test_list_row_has_the_documented_shape(admin_api, business, agent_member):
    # given
    conversation = ConversationFactory(
        business=business,
        contact__name="Ada Lovelace",
        contact__avatar_url="https://pbs.example.test/ada.png",
        contact_identity__external_id="4001",
        contact_identity__handle="ada",
        assignee=agent_member.user,
        last_message_at=T0,
        last_message_preview="Where is my order?",
        unread_count=3,
    )

    # when
    response = admin_api.get(LIST_URL)

    # then
    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "id": conversation.pk,
            "channel_id": str(conversation.channel_id),
            "channel_type": "x",
            "subject": "",
            "status": "open",
            "snoozed_until": None,
            "contact": {
                "id": conversation.contact_id,
                "name": "Ada Lovelace",
                "avatar_url": "https://pbs.example.test/ada.png",
                "external_id": "4001",
                "handle": "ada",
            },
            "assignee": {
                "id": agent_member.user.pk,
                "name": agent_member.user.username,
                "email": agent_member.user.email,
            },
            "team": None,
            "labels": [],
            "last_message_at": "2025-03-01T12:00:00Z",
            "last_message_preview": "Where is my order?",
            "unread_count": 3,
            "created_at": iso(conversation.created_at),
        }
    ]


def test_list_row_of_a_conversation_without_identity_or_channel(admin_api, business):
    # given: the channel was deleted and the identity with it
    conversation = ConversationFactory(business=business, assignee=None)
    Channel.objects.filter(pk=conversation.channel_id).delete()

    # when
    response = admin_api.get(LIST_URL)

    # then
    assert response.status_code == 200
    row = response.json()["results"][0]
    assert row["channel_id"] is None
    assert row["assignee"] is None
    assert row["contact"]["external_id"] == ""
    assert row["contact"]["handle"] == ""


# ----------------------------------------------------------------------- filters


def test_channel_type_filter_narrows_the_list(admin_api, business):
    # given
    x_conversation = ConversationFactory(business=business)
    telegram = ChannelFactory(business=business, type="telegram", secrets={})
    telegram_conversation = ConversationFactory(business=business, channel=telegram)

    # when
    x_only = admin_api.get(LIST_URL, {"channel_type": "x"})
    telegram_only = admin_api.get(LIST_URL, {"channel_type": "telegram"})
    sms_only = admin_api.get(LIST_URL, {"channel_type": "sms"})

    # then
    assert ids(x_only) == [x_conversation.pk]
    assert ids(telegram_only) == [telegram_conversation.pk]
    assert telegram_only.json()["results"][0]["channel_type"] == "telegram"
    assert ids(sms_only) == []


@pytest.mark.parametrize(
    ("_case", "status", "expected"),
    [
        ("open", "open", ["open"]),
        ("pending", "pending", ["pending"]),
        ("resolved", "resolved", ["resolved"]),
    ],
)
def test_status_filter_narrows_the_list(admin_api, business, _case, status, expected):
    # given
    by_status = {
        value: ConversationFactory(business=business, status=value)
        for value in ("open", "pending", "resolved")
    }

    # when
    response = admin_api.get(LIST_URL, {"status": status})

    # then
    assert response.status_code == 200
    assert ids(response) == [by_status[value].pk for value in expected]


def test_assignee_filter_narrows_the_list(admin_api, business, admin_member):
    # given
    agent = MemberFactory(business=business, role="agent").user
    mine = ConversationFactory(business=business, assignee=admin_member.user)
    theirs = ConversationFactory(business=business, assignee=agent)
    ConversationFactory(business=business, assignee=None)

    # when
    for_admin = admin_api.get(LIST_URL, {"assignee": admin_member.user.pk})
    for_agent = admin_api.get(LIST_URL, {"assignee": agent.pk})

    # then
    assert ids(for_admin) == [mine.pk]
    assert ids(for_agent) == [theirs.pk]


@pytest.mark.parametrize(
    ("_case", "params", "field"),
    [
        ("unknown channel type", {"channel_type": "fax"}, "channel_type"),
        ("unknown status", {"status": "closed"}, "status"),
    ],
)
def test_invalid_filter_value_is_400_naming_the_field(
    admin_api, business, _case, params, field
):
    # given
    ConversationFactory(business=business)

    # when
    response = admin_api.get(LIST_URL, params)

    # then
    assert response.status_code == 400
    assert list(response.json()) == [field]
    value = params[field]
    assert response.json()[field] == [
        f"Select a valid choice. {value} is not one of the available choices."
    ]


# -------------------------------------------------------------------- pagination


def test_cursor_pagination_visits_every_conversation_once_in_order(admin_api, business):
    # given: five conversations, two pairs tied on last activity
    times = [T0, T0, T0 - timedelta(minutes=1), T0 - timedelta(minutes=1), T0]
    created = [ConversationFactory(business=business, last_message_at=t) for t in times]
    expected = [
        c.pk for c in sorted(created, key=lambda c: (c.last_message_at, c.pk))[::-1]
    ]

    # when
    seen, pages = [], []
    response = admin_api.get(LIST_URL, {"page_size": 2})
    while True:
        assert response.status_code == 200
        pages.append(ids(response))
        seen.extend(ids(response))
        if response.json()["next"] is None:
            break
        response = admin_api.get(response.json()["next"])

    # then
    assert [len(page) for page in pages] == [2, 2, 1]
    assert seen == expected


# ------------------------------------------------------------------------ detail


def test_detail_answers_200_with_the_conversation(admin_api, business):
    # given
    conversation = ConversationFactory(business=business, last_message_at=T0)

    # when
    response = admin_api.get(detail_url(conversation))

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == conversation.pk
    assert body["channel_id"] == str(conversation.channel_id)
    assert body["last_message_at"] == "2025-03-01T12:00:00Z"
    assert body["contact"]["handle"] == conversation.contact_identity.handle


@pytest.mark.parametrize("method", ["get", "patch"])
@pytest.mark.parametrize(
    ("_case", "url"),
    [
        ("other business", "other"),
        ("unknown id", "/api/v1/conversations/999999"),
        ("not a number", "/api/v1/conversations/abc"),
    ],
)
def test_detail_of_other_business_or_unknown_id_is_404(
    admin_api, business, method, _case, url
):
    # given
    other = ConversationFactory(business=BusinessFactory(), status="open")
    if url == "other":
        url = detail_url(other)

    # when
    if method == "get":
        response = admin_api.get(url)
    else:
        response = admin_api.patch(url, {"status": "resolved"}, format="json")

    # then
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.status == "open"


@pytest.mark.parametrize(
    ("_case", "headers"),
    [
        ("no token", {}),
        ("unknown token", {"HTTP_AUTHORIZATION": "Bearer not-a-real-token"}),
    ],
)
def test_detail_without_a_valid_token_is_401(business, _case, headers):
    # given
    conversation = ConversationFactory(business=business)
    client = APIClient()
    client.credentials(**headers)

    # when
    response = client.get(detail_url(conversation))

    # then
    assert response.status_code == 401


# ------------------------------------------------------------------------- patch


@pytest.mark.parametrize("status", ["pending", "resolved", "open"])
def test_patch_status_is_stored(admin_api, business, status):
    # given
    conversation = ConversationFactory(business=business, status="pending")

    # when
    response = admin_api.patch(detail_url(conversation), {"status": status})

    # then
    assert response.status_code == 200
    assert response.json()["status"] == status
    conversation.refresh_from_db()
    assert conversation.status == status


def test_patch_bad_status_is_400_naming_status(admin_api, business):
    # given
    conversation = ConversationFactory(business=business, status="open")

    # when
    response = admin_api.patch(
        detail_url(conversation), {"status": "closed"}, format="json"
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"status": ['"closed" is not a valid choice.']}
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_patch_assignee_assigns_a_member_of_the_business(
    admin_api, business, agent_member
):
    # given
    conversation = ConversationFactory(business=business, assignee=None)

    # when
    response = admin_api.patch(
        detail_url(conversation), {"assignee_id": agent_member.user.pk}, format="json"
    )

    # then
    assert response.status_code == 200
    assert response.json()["assignee"] == {
        "id": agent_member.user.pk,
        "name": agent_member.user.username,
        "email": agent_member.user.email,
    }
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent_member.user.pk


@pytest.mark.parametrize(
    ("_case", "assignee", "body"),
    [
        # One answer for all three: the API never tells another business's
        # member from an unknown id.
        ("member of another business", "outsider", NO_SUCH_AGENT),
        ("user of no business", "loner", NO_SUCH_AGENT),
        ("unknown user", "unknown", NO_SUCH_AGENT),
    ],
)
def test_patch_assignee_outside_the_business_is_400(
    admin_api, business, agent_member, _case, assignee, body
):
    # given
    conversation = ConversationFactory(business=business, assignee=agent_member.user)
    user_ids = {
        "outsider": lambda: MemberFactory(business=BusinessFactory()).user.pk,
        "loner": lambda: UserFactory().pk,
        "unknown": lambda: 999_999,
    }

    # when
    response = admin_api.patch(
        detail_url(conversation), {"assignee_id": user_ids[assignee]()}, format="json"
    )

    # then
    assert response.status_code == 400
    assert response.json() == body
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent_member.user.pk


def test_patch_null_assignee_unassigns(admin_api, business, agent_member):
    # given
    conversation = ConversationFactory(
        business=business, assignee=agent_member.user, status="pending"
    )

    # when
    response = admin_api.patch(
        detail_url(conversation), {"assignee_id": None}, format="json"
    )

    # then
    assert response.status_code == 200
    assert response.json()["assignee"] is None
    conversation.refresh_from_db()
    assert conversation.assignee_id is None
    assert conversation.status == "pending"


# ---------------------------------------------------------------- messages: read


def test_messages_are_oldest_first_with_the_documented_shape(
    admin_api, business, admin_member
):
    # given
    conversation = ConversationFactory(business=business)
    inbound = MessageFactory(
        conversation=conversation,
        text="Hi, my parcel is late",
        attachments=[{"kind": "image", "url": "https://pbs.example.test/p.jpg"}],
        sender_contact=conversation.contact,
        platform_message_id="1700000000000000001",
        sent_at=T0,
    )
    outbound = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="failed",
        error="X API credits exhausted",
        text="Sorry about that",
        author=admin_member.user,
        platform_message_id=None,
        sent_at=T0 + timedelta(minutes=5),
    )
    MessageFactory(conversation=ConversationFactory(business=business))

    # when
    response = admin_api.get(messages_url(conversation))

    # then
    assert response.status_code == 200
    assert response.json()["next"] is None
    assert response.json()["results"] == [
        {
            "id": inbound.pk,
            "conversation_id": conversation.pk,
            "direction": "inbound",
            "kind": "message",
            "private": False,
            "text": "Hi, my parcel is late",
            "attachments": [
                {
                    "kind": "image",
                    "url": "https://pbs.example.test/p.jpg",
                    "link": None,
                }
            ],
            "template": None,
            "status": "received",
            "error": "",
            "platform_message_id": "1700000000000000001",
            "sender_contact_id": conversation.contact_id,
            "author": None,
            "sent_at": "2025-03-01T12:00:00Z",
            "edited_at": None,
            "deleted_at": None,
            "details": {},
            "reactions": [],
            "created_at": iso(inbound.created_at),
            "updated_at": iso(inbound.updated_at),
        },
        {
            "id": outbound.pk,
            "conversation_id": conversation.pk,
            "direction": "outbound",
            "kind": "message",
            "private": False,
            "text": "Sorry about that",
            "attachments": [],
            "template": None,
            "status": "failed",
            "error": "X API credits exhausted",
            "platform_message_id": None,
            "sender_contact_id": None,
            "author": {
                "id": admin_member.user.pk,
                "name": admin_member.user.username,
                "email": admin_member.user.email,
            },
            "sent_at": "2025-03-01T12:05:00Z",
            "edited_at": None,
            "deleted_at": None,
            "details": {},
            "reactions": [],
            "created_at": iso(outbound.created_at),
            "updated_at": iso(outbound.updated_at),
        },
    ]


def test_messages_of_another_business_conversation_is_404(admin_api):
    # given
    other = MessageFactory().conversation

    # when
    response = admin_api.get(messages_url(other))

    # then
    assert response.status_code == 404


# --------------------------------------------------------------- messages: reply


def test_reply_is_queued_then_sent_as_a_dm_to_the_contact(
    admin_api, business, admin_member, sandbox, django_capture_on_commit_callbacks
):
    # given
    conversation = ConversationFactory(
        business=business, contact_identity__external_id="4001", unread_count=2
    )
    MessageFactory(conversation=conversation, platform_message_id="1700000000000000001")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            messages_url(conversation), {"text": "  On its way!  "}, format="json"
        )

    # then
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["direction"] == "outbound"
    assert body["text"] == "On its way!"
    assert body["author"]["id"] == admin_member.user.pk
    message = Message.objects.get(pk=body["id"])
    assert message.status == "sent"
    assert message.error == ""
    assert len(sandbox.x.sent_dms) == 1
    dm = sandbox.x.sent_dms[0]
    assert message.platform_message_id == dm["dm_event_id"]
    assert dm["participant_id"] == "4001"
    assert dm["text"] == "On its way!"
    assert list(message.delivery_attempts.values_list("outcome", flat=True)) == ["sent"]
    conversation.refresh_from_db()
    assert conversation.last_message_preview == "On its way!"
    assert conversation.unread_count == 0


def test_reply_without_x_credits_fails_and_alerts_the_channel(
    admin_api, business, sandbox, django_capture_on_commit_callbacks
):
    # given
    conversation = ConversationFactory(business=business)
    set_x_mode(sandbox, credits_depleted=True)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            messages_url(conversation), {"text": "Hello?"}, format="json"
        )

    # then
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == "failed"
    assert message.error.startswith("X API credits exhausted")
    assert message.platform_message_id is None
    channel = Channel.objects.get(pk=conversation.channel_id)
    assert channel.alert.startswith("X API credits exhausted")
    assert channel.alert_at is not None
    assert sandbox.x.sent_dms == []


@pytest.mark.parametrize(
    ("_case", "payload", "error"),
    [
        ("empty", {"text": ""}, "A reply needs text, files or a template."),
        ("only spaces", {"text": "   "}, "A reply needs text, files or a template."),
        ("missing", {}, "A reply needs text, files or a template."),
    ],
)
def test_reply_without_text_is_400_and_stores_nothing(
    admin_api,
    business,
    sandbox,
    django_capture_on_commit_callbacks,
    _case,
    payload,
    error,
):
    # given
    conversation = ConversationFactory(business=business)

    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_api.post(messages_url(conversation), payload, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {"text": [error]}
    assert callbacks == []
    assert Message.objects.count() == 0
    assert sandbox.x.sent_dms == []


@pytest.mark.parametrize(
    ("_case", "detail"),
    [
        (
            "deactivated",
            "The X (Twitter) channel is deactivated; reactivate it to send replies.",
        ),
        ("deleted", "This conversation's channel was deleted; it cannot send replies."),
    ],
)
def test_reply_on_an_inactive_channel_is_409_and_stores_nothing(
    admin_api, business, sandbox, django_capture_on_commit_callbacks, _case, detail
):
    # given
    conversation = ConversationFactory(business=business)
    if _case == "deactivated":
        Channel.objects.filter(pk=conversation.channel_id).update(is_active=False)
    else:
        Channel.objects.filter(pk=conversation.channel_id).delete()

    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_api.post(
            messages_url(conversation), {"text": "Anyone there?"}, format="json"
        )

    # then
    assert response.status_code == 409
    assert response.json() == {"detail": detail, "code": "channel_inactive"}
    assert callbacks == []
    assert Message.objects.count() == 0
    assert sandbox.x.sent_dms == []


# ------------------------------------------------------------------ query counts


def count_queries(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_conversations(
    business, admin_member, agent_member, api_client_for
):
    # given
    def add(count: int) -> None:
        for _ in range(count):
            ConversationFactory(business=business, assignee=agent_member.user)

    add(3)
    with_3 = count_queries(api_client_for(admin_member), LIST_URL)
    add(27)

    # when
    with_30 = count_queries(api_client_for(admin_member), LIST_URL)

    # then
    assert with_30 == with_3
    assert with_30 <= MAX_QUERIES_PER_REQUEST


def test_messages_query_count_does_not_grow_with_messages(
    business, admin_member, api_client_for
):
    # given
    conversation = ConversationFactory(business=business)

    def add(count: int) -> None:
        for i in range(count):
            if i % 2:
                MessageFactory(conversation=conversation)
            else:
                MessageFactory(
                    conversation=conversation,
                    direction="outbound",
                    status="sent",
                    author=admin_member.user,
                )

    add(3)
    with_3 = count_queries(api_client_for(admin_member), messages_url(conversation))
    add(27)

    # when
    with_30 = count_queries(api_client_for(admin_member), messages_url(conversation))

    # then
    assert with_30 == with_3
    assert with_30 <= MAX_QUERIES_PER_REQUEST

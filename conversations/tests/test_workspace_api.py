"""The support team's workspace over REST: private notes, activity entries,
snooze, the assignee and channel filters, and bulk changes."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.tests.factories import MemberFactory, UserFactory
from channels_app.platforms.web_widget import visitor_thread_key
from channels_app.services.outbox import outbox_sweep
from channels_app.tests.factories import ChannelFactory
from channels_app.widget.selectors import visitor_message_list
from conversations.models import Conversation, DeliveryAttempt, Message
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/conversations/"
BULK_URL = "/api/v1/conversations/bulk"


def named(member, first: str, last: str):
    member.user.first_name, member.user.last_name = first, last
    member.user.save()
    return member


@pytest.fixture
def ana(admin_member):
    return named(admin_member, "Ana", "Admin")


@pytest.fixture
def ben(business):
    return named(MemberFactory(business=business), "Ben", "Agent")


@pytest.fixture
def api(ana, api_client_for):
    return api_client_for(ana)


def activity_texts(conversation: Conversation) -> list[str]:
    return list(
        conversation.messages.filter(kind="activity")
        .order_by("id")
        .values_list("text", flat=True)
    )


# ------------------------------------------------------------------ private notes


def test_a_private_note_is_stored_for_the_agents_and_never_sent(
    api, ana, business, sandbox
):
    # given
    conversation = ConversationFactory(
        business=business, last_message_preview="Where is my order?", unread_count=2
    )
    before = conversation.last_message_at

    # when
    response = api.post(
        f"{LIST_URL}{conversation.pk}/messages",
        {"text": "  Customer is a VIP, refund quickly  ", "private": True},
        format="json",
    )
    outbox_sweep()

    # then
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "note"
    assert body["private"] is True
    assert body["status"] == "received"
    assert body["direction"] == "outbound"
    assert body["text"] == "Customer is a VIP, refund quickly"
    assert body["author"]["name"] == "Ana Admin"
    note = Message.objects.get(pk=body["id"])
    assert (note.kind, note.status, note.author_id) == ("note", "received", ana.user_id)
    assert note.next_attempt_at is None
    assert sandbox.requests() == []
    assert not DeliveryAttempt.objects.exists()
    conversation.refresh_from_db()
    assert conversation.last_message_preview == "Where is my order?"
    assert conversation.last_message_at == before
    assert conversation.unread_count == 2


def test_a_note_can_be_written_on_a_deactivated_channels_conversation(
    api, business, sandbox
):
    # given
    channel = ChannelFactory(business=business, is_active=False)
    conversation = ConversationFactory(business=business, channel=channel)

    # when
    response = api.post(
        f"{LIST_URL}{conversation.pk}/messages",
        {"text": "Channel is off; call them", "private": True},
        format="json",
    )

    # then
    assert response.status_code == 201
    assert conversation.messages.get().kind == "note"
    assert sandbox.requests() == []


@pytest.mark.parametrize(
    "extra",
    [
        {"template": {"name": "order_update", "language": "en_US"}},
    ],
    ids=["template"],
)
def test_a_note_with_a_template_is_400_naming_private_and_stores_nothing(
    api, business, extra
):
    # given
    conversation = ConversationFactory(business=business)

    # when
    response = api.post(
        f"{LIST_URL}{conversation.pk}/messages",
        {"private": True, **extra},
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {
        "private": ["A private note is text only: no files or template."]
    }
    assert not conversation.messages.exists()


def test_notes_and_activity_show_in_the_thread_as_private(api, ana, business):
    # given
    conversation = ConversationFactory(business=business)
    inbound = MessageFactory(conversation=conversation)
    api.post(
        f"{LIST_URL}{conversation.pk}/messages",
        {"text": "Checking stock", "private": True},
        format="json",
    )
    api.patch(f"{LIST_URL}{conversation.pk}", {"status": "pending"}, format="json")

    # when
    thread = api.get(f"{LIST_URL}{conversation.pk}/messages").json()["results"]

    # then
    assert [(m["id"] == inbound.pk, m["kind"], m["private"]) for m in thread] == [
        (True, "message", False),
        (False, "note", True),
        (False, "activity", True),
    ]
    assert thread[2]["text"] == "Ana Admin marked this conversation as pending"
    assert thread[2]["author"]["name"] == "Ana Admin"


def test_the_widget_never_shows_notes_or_activity_to_the_visitor(business, ana):
    # given
    channel = ChannelFactory(business=business, type="webchat", secrets={}, config={})
    conversation = ConversationFactory(
        business=business, channel=channel, thread_key=visitor_thread_key("v-1")
    )
    inbound = MessageFactory(conversation=conversation)
    for kind in ("note", "activity"):
        MessageFactory(
            conversation=conversation,
            direction="outbound",
            kind=kind,
            status="received",
            author=ana.user,
        )

    # when
    shown = visitor_message_list(channel=channel, visitor_id="v-1")

    # then
    assert [m.pk for m in shown] == [inbound.pk]


# ------------------------------------------------------------- activity entries


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("resolved", "Ana Admin resolved this conversation"),
        ("pending", "Ana Admin marked this conversation as pending"),
    ],
    ids=["resolved", "pending"],
)
def test_a_status_change_is_recorded_in_the_thread_with_its_actor(
    api, ana, business, status, text
):
    # given
    conversation = ConversationFactory(business=business, status="open")

    # when
    response = api.patch(
        f"{LIST_URL}{conversation.pk}", {"status": status}, format="json"
    )

    # then
    assert response.status_code == 200
    [activity] = conversation.messages.filter(kind="activity")
    assert (activity.text, activity.author_id) == (text, ana.user_id)
    assert (activity.direction, activity.status) == ("outbound", "received")


def test_assigning_and_unassigning_are_recorded_and_a_repeat_is_not(
    api, ana, ben, business
):
    # given
    conversation = ConversationFactory(business=business)
    url = f"{LIST_URL}{conversation.pk}"

    # when
    api.patch(url, {"assignee_id": ben.user_id}, format="json")
    api.patch(url, {"assignee_id": ben.user_id}, format="json")
    api.patch(url, {"assignee_id": ana.user_id}, format="json")
    api.patch(url, {"assignee_id": None}, format="json")

    # then
    assert activity_texts(conversation) == [
        "Ana Admin assigned this conversation to Ben Agent",
        "Ana Admin assigned this conversation to themselves",
        "Ana Admin unassigned Ana Admin",
    ]


def test_a_foreign_assignee_is_refused_and_records_nothing(api, business):
    # given
    conversation = ConversationFactory(business=business)
    outsider = MemberFactory()

    # when
    response = api.patch(
        f"{LIST_URL}{conversation.pk}",
        {"assignee_id": outsider.user_id},
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"assignee_id": ["No such agent in this business."]}
    assert not conversation.messages.exists()


def test_the_inbox_pages_status_change_records_the_logged_in_agent(
    client, ana, business
):
    # given
    conversation = ConversationFactory(business=business, status="open")
    client.force_login(ana.user)

    # when: as the page's Resolve button does (session, JSON PATCH)
    response = client.patch(
        f"{LIST_URL}{conversation.pk}",
        {"status": "resolved"},
        content_type="application/json",
    )

    # then
    assert response.status_code == 200
    assert activity_texts(conversation) == ["Ana Admin resolved this conversation"]


# ------------------------------------------------------------------------ snooze


def test_snoozing_until_a_time_stores_it_and_records_it(api, business):
    # given
    conversation = ConversationFactory(business=business, status="open")
    until = timezone.now().replace(microsecond=0) + timedelta(days=1)

    # when
    response = api.patch(
        f"{LIST_URL}{conversation.pk}",
        {"status": "snoozed", "snoozed_until": until.isoformat()},
        format="json",
    )

    # then
    assert response.status_code == 200
    assert response.json()["status"] == "snoozed"
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("snoozed", until)
    [text] = activity_texts(conversation)
    assert text.startswith(f"Snoozed until {until:%a} {until.day} {until:%b %H:%M}")
    assert text.endswith(" by Ana Admin")


def test_snoozing_without_a_time_waits_for_the_customer_and_reopening_clears_it(
    api, business
):
    # given
    conversation = ConversationFactory(business=business, status="open")
    url = f"{LIST_URL}{conversation.pk}"

    # when
    snoozed = api.patch(url, {"status": "snoozed"}, format="json").json()
    reopened = api.patch(url, {"status": "open"}, format="json").json()

    # then
    assert (snoozed["status"], snoozed["snoozed_until"]) == ("snoozed", None)
    assert (reopened["status"], reopened["snoozed_until"]) == ("open", None)
    assert activity_texts(conversation) == [
        "Snoozed until the customer answers by Ana Admin",
        "Ana Admin reopened this conversation",
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"status": "snoozed", "snoozed_until": "2020-01-01T09:00:00Z"},
            "A time in the future.",
        ),
        (
            {"status": "resolved", "snoozed_until": "2999-01-01T09:00:00Z"},
            'Give status "snoozed" with snoozed_until.',
        ),
        (
            {"snoozed_until": "2999-01-01T09:00:00Z"},
            'Give status "snoozed" with snoozed_until.',
        ),
    ],
    ids=["past", "other-status", "no-status"],
)
def test_a_bad_snoozed_until_is_400_naming_it_and_changes_nothing(
    api, business, body, error
):
    # given
    conversation = ConversationFactory(business=business, status="open")

    # when
    response = api.patch(f"{LIST_URL}{conversation.pk}", body, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {"snoozed_until": [error]}
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    assert not conversation.messages.exists()


def test_the_status_filter_lists_snoozed_conversations(api, business):
    # given
    snoozed = ConversationFactory(business=business, status="snoozed")
    ConversationFactory(business=business, status="open")

    # when
    response = api.get(LIST_URL, {"status": "snoozed"})

    # then
    assert [c["id"] for c in response.json()["results"]] == [snoozed.pk]


# --------------------------------------------------------------------- filters


def test_the_assignee_filter_takes_me_none_or_an_id(api, ana, ben, business):
    # given
    mine = ConversationFactory(business=business, assignee=ana.user)
    bens = ConversationFactory(business=business, assignee=ben.user)
    nobodys = ConversationFactory(business=business, assignee=None)

    def listed(assignee: str) -> list[int]:
        response = api.get(LIST_URL, {"assignee": assignee})
        assert response.status_code == 200
        return [c["id"] for c in response.json()["results"]]

    # when / then
    assert listed("me") == [mine.pk]
    assert listed("none") == [nobodys.pk]
    assert listed(str(ben.user_id)) == [bens.pk]


def test_the_channel_filter_lists_that_channels_conversations(api, business):
    # given
    channel, other_channel = ChannelFactory.create_batch(2, business=business)
    on_channel = ConversationFactory(business=business, channel=channel)
    ConversationFactory(business=business, channel=other_channel)

    # when
    response = api.get(LIST_URL, {"channel": str(channel.pk)})

    # then
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [on_channel.pk]


@pytest.mark.parametrize("whose", ["another-business", "unknown"])
def test_a_channel_filter_not_of_the_business_is_400_naming_channel(
    api, business, whose
):
    # given
    ConversationFactory(business=business)
    foreign = ConversationFactory()  # another business's, with its channel
    channel_id = (
        str(foreign.channel_id)
        if whose == "another-business"
        else "00000000-0000-4000-8000-000000000000"
    )

    # when
    response = api.get(LIST_URL, {"channel": channel_id})

    # then
    assert response.status_code == 400
    assert response.json() == {"channel": ["No such channel in this business."]}


# ------------------------------------------------------------------------- bulk


def test_bulk_resolves_each_conversation_and_records_each(api, business):
    # given
    conversations = ConversationFactory.create_batch(3, business=business)
    untouched = ConversationFactory(business=business, status="open")

    # when
    response = api.post(
        BULK_URL,
        {"ids": [c.pk for c in conversations], "status": "resolved"},
        format="json",
    )

    # then
    assert response.status_code == 200
    assert response.json() == {"updated": 3}
    for conversation in conversations:
        conversation.refresh_from_db()
        assert conversation.status == "resolved"
        assert activity_texts(conversation) == ["Ana Admin resolved this conversation"]
    untouched.refresh_from_db()
    assert untouched.status == "open"
    assert not untouched.messages.exists()


def test_bulk_snoozes_and_assigns_in_one_change(api, ben, business):
    # given
    conversations = ConversationFactory.create_batch(2, business=business)
    until = timezone.now().replace(microsecond=0) + timedelta(hours=3)

    # when
    response = api.post(
        BULK_URL,
        {
            "ids": [c.pk for c in conversations],
            "status": "snoozed",
            "snoozed_until": until.isoformat(),
            "assignee_id": ben.user_id,
        },
        format="json",
    )

    # then
    assert response.json() == {"updated": 2}
    assert (
        list(
            Conversation.objects.filter(
                pk__in=[c.pk for c in conversations]
            ).values_list("status", "snoozed_until", "assignee_id")
        )
        == [("snoozed", until, ben.user_id)] * 2
    )


@pytest.mark.parametrize("bad", ["another-business", "missing"])
def test_bulk_with_a_foreign_or_missing_id_is_400_naming_ids_and_changes_nothing(
    api, business, bad
):
    # given
    ours = ConversationFactory.create_batch(2, business=business, status="open")
    foreign = ConversationFactory(status="open")
    bad_id = foreign.pk if bad == "another-business" else foreign.pk + 1000

    # when
    response = api.post(
        BULK_URL,
        {"ids": [ours[0].pk, bad_id, ours[1].pk], "status": "resolved"},
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {
        "ids": ["Each id must name a conversation of this business."]
    }
    assert set(Conversation.objects.values_list("status", flat=True)) == {"open"}
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": [], "status": "resolved"}, "ids"),
        ({"ids": list(range(1, 102)), "status": "resolved"}, "ids"),
        ({"ids": [1]}, "status"),
    ],
    ids=["empty", "over-100", "no-change"],
)
def test_a_bulk_body_out_of_bounds_is_400_naming_the_field(api, business, body, field):
    # given
    conversation = ConversationFactory(business=business, status="open")
    body = {**body, "ids": [conversation.pk if i == 1 else i for i in body["ids"]]}

    # when
    response = api.post(BULK_URL, body, format="json")

    # then
    assert response.status_code == 400
    assert list(response.json()) == [field]
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_bulk_queries_do_not_grow_with_the_conversations_named(api, business):
    # given
    agent = MemberFactory(business=business, user=UserFactory())

    def queries(count: int) -> int:
        ids = [c.pk for c in ConversationFactory.create_batch(count, business=business)]
        body = {"ids": ids, "status": "pending", "assignee_id": agent.user_id}
        with CaptureQueriesContext(connection) as captured:
            response = api.post(BULK_URL, body, format="json")
        assert response.json() == {"updated": count}
        return len(captured)

    api.post(
        BULK_URL,
        {"ids": [ConversationFactory(business=business).pk], "status": "open"},
        format="json",
    )

    # when
    # (20: SQLite takes at most 999 parameters a statement; Django splits
    # bigger INSERTs, which PostgreSQL never needs.)
    with_3, with_30 = queries(3), queries(20)

    # then
    assert with_30 == with_3

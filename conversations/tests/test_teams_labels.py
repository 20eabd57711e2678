"""Teams and labels on conversations: the services' activity entries and
all-or-nothing bulk changes, the API's fields, refusals and filters."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.tests.factories import BusinessFactory, MemberFactory, UserFactory
from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation, ConversationLabel, Message
from conversations.services import conversation_update, conversations_bulk_update
from conversations.services.conversations import NoSuchLabel, NoSuchTeam
from conversations.tests.api_helpers import listed_ids
from conversations.tests.factories import ConversationFactory
from workspace.tests.factories import LabelFactory, TeamFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LIST_URL = "/api/v1/conversations/"
BULK_URL = "/api/v1/conversations/bulk"


@pytest.fixture
def ana(business):
    user = UserFactory(username="ana", first_name="Ana", last_name="Silva")
    return MemberFactory(business=business, user=user, role="agent")


@pytest.fixture
def billing_team(business):
    return TeamFactory(business=business, name="Billing")


@pytest.fixture
def vip(business):
    return LabelFactory(business=business, name="vip", color="#ff0000")


@pytest.fixture
def refund(business):
    return LabelFactory(business=business, name="Refund", color="#00ff00")


def activity(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, kind=Message.ACTIVITY)
        .order_by("id")
        .values_list("text", flat=True)
    )


def labels_of(conversation) -> list[str]:
    return sorted(
        ConversationLabel.objects.filter(conversation=conversation).values_list(
            "label__name", flat=True
        )
    )


# ------------------------------------------------------------------ services


def test_team_changes_are_recorded_as_activity(business, ana, billing_team):
    conversation = ConversationFactory(business=business)

    conversation_update(conversation=conversation, by=ana.user, team=billing_team)
    conversation_update(conversation=conversation, by=ana.user, team=billing_team)
    conversation_update(conversation=conversation, by=ana.user, unteam=True)

    conversation.refresh_from_db()
    assert conversation.team is None
    assert activity(conversation) == [
        "Ana Silva assigned this conversation to team Billing",
        "Ana Silva removed this conversation from team Billing",
    ]


def test_label_changes_are_recorded_as_activity(business, ana, vip, refund):
    conversation = ConversationFactory(business=business)

    conversation_update(conversation=conversation, by=ana.user, labels_add=[vip])
    conversation_update(conversation=conversation, by=ana.user, labels_add=[vip])
    conversation_update(conversation=conversation, by=ana.user, labels=[refund])
    conversation_update(conversation=conversation, by=ana.user, labels_remove=[vip])

    assert labels_of(conversation) == ["Refund"]
    assert activity(conversation) == [
        "Ana Silva added label vip",
        "Ana Silva added label Refund",
        "Ana Silva removed label vip",
    ]


def test_another_business_team_or_label_is_refused(business, ana):
    conversation = ConversationFactory(business=business)
    other = BusinessFactory()

    with pytest.raises(NoSuchTeam):
        conversation_update(
            conversation=conversation, by=ana.user, team=TeamFactory(business=other)
        )
    with pytest.raises(NoSuchLabel):
        conversation_update(
            conversation=conversation,
            by=ana.user,
            status="resolved",
            labels_add=[LabelFactory(business=other)],
        )

    conversation.refresh_from_db()
    assert (conversation.team, conversation.status) == (None, "open")
    assert labels_of(conversation) == []
    assert activity(conversation) == []


def test_bulk_label_change_takes_constant_queries(
    business, ana, vip, refund, billing_team
):
    def run(count: int) -> int:
        conversations = [ConversationFactory(business=business) for _ in range(count)]
        for conversation in conversations[::2]:
            ConversationLabel.objects.create(conversation=conversation, label=refund)
        with CaptureQueriesContext(connection) as queries:
            conversations_bulk_update(
                business_id=business.pk,
                ids=[c.pk for c in conversations],
                by=ana.user,
                team=billing_team,
                labels_add=[vip],
                labels_remove=[refund],
            )
        for conversation in conversations:
            assert labels_of(conversation) == ["vip"]
            assert Conversation.objects.get(pk=conversation.pk).team == billing_team
        assert activity(conversations[0]) == [
            "Ana Silva assigned this conversation to team Billing",
            "Ana Silva added label vip",
            "Ana Silva removed label Refund",
        ]
        assert activity(conversations[1]) == [
            "Ana Silva assigned this conversation to team Billing",
            "Ana Silva added label vip",
        ]
        return len(queries)

    # 12, not more: SQLite splits an INSERT past 999 parameters, and the
    # activity entries of 20 conversations (50 rows of 22 columns) pass it.
    assert run(2) == run(12)


def test_bulk_is_all_or_nothing(business, ana, vip):
    ours = ConversationFactory(business=business)
    theirs = ConversationFactory(business=BusinessFactory())

    with pytest.raises(Exception, match="conversation of this business"):
        conversations_bulk_update(
            business_id=business.pk,
            ids=[ours.pk, theirs.pk],
            by=ana.user,
            labels_add=[vip],
        )

    assert labels_of(ours) == []
    assert activity(ours) == []


# ------------------------------------------------------------------ API


def test_patch_sets_team_and_labels(admin_api, business, billing_team, vip, refund):
    conversation = ConversationFactory(business=business)

    response = admin_api.patch(
        f"{LIST_URL}{conversation.pk}",
        {"team_id": billing_team.pk, "labels": ["VIP", "refund"]},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["team"] == {"id": billing_team.pk, "name": "Billing"}
    assert body["labels"] == [
        {"id": refund.pk, "name": "Refund", "color": "#00ff00"},
        {"id": vip.pk, "name": "vip", "color": "#ff0000"},
    ]

    response = admin_api.patch(
        f"{LIST_URL}{conversation.pk}", {"team_id": None, "labels": []}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["team"], response.json()["labels"]) == (None, [])
    assert len(activity(conversation)) == 6


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("team_id", "foreign_team"),
        ("team_id", 10**9),
        ("labels", ["vip", "foreign"]),
        ("labels", ["no-such-label"]),
    ],
)
def test_patch_refuses_foreign_or_unknown_team_and_labels(
    admin_api, business, vip, field, value
):
    other = BusinessFactory()
    foreign_team = TeamFactory(business=other, name="Their team")
    LabelFactory(business=other, name="foreign")
    conversation = ConversationFactory(business=business)
    if value == "foreign_team":
        value = foreign_team.pk

    response = admin_api.patch(
        f"{LIST_URL}{conversation.pk}",
        {field: value, "status": "resolved"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert "Their team" not in response.text
    conversation.refresh_from_db()
    assert (conversation.status, conversation.team_id) == ("open", None)
    assert labels_of(conversation) == []


@pytest.mark.parametrize("field", ["labels_add", "labels_remove"])
def test_bulk_refuses_an_unknown_label_and_changes_nothing(
    admin_api, business, vip, field
):
    LabelFactory(business=BusinessFactory(), name="theirs")
    conversations = [ConversationFactory(business=business) for _ in range(2)]

    response = admin_api.post(
        BULK_URL,
        {
            "ids": [c.pk for c in conversations],
            "status": "resolved",
            "labels_add": ["vip"],
            field: ["vip", "theirs"] if field == "labels_add" else ["theirs"],
        },
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    for conversation in conversations:
        conversation.refresh_from_db()
        assert conversation.status == "open"
        assert labels_of(conversation) == []


def test_bulk_refuses_another_business_team(admin_api, business):
    conversation = ConversationFactory(business=business)
    team = TeamFactory(business=BusinessFactory())

    response = admin_api.post(
        BULK_URL, {"ids": [conversation.pk], "team_id": team.pk}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["team_id"]
    conversation.refresh_from_db()
    assert conversation.team_id is None


def test_bulk_adds_and_removes_labels_and_sets_team(
    admin_api, business, billing_team, vip, refund
):
    conversations = [ConversationFactory(business=business) for _ in range(3)]
    ConversationLabel.objects.create(conversation=conversations[0], label=refund)

    response = admin_api.post(
        BULK_URL,
        {
            "ids": [c.pk for c in conversations],
            "team_id": billing_team.pk,
            "labels_add": ["vip"],
            "labels_remove": ["refund"],
        },
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {"updated": 3}
    for conversation in conversations:
        conversation.refresh_from_db()
        assert conversation.team == billing_team
        assert labels_of(conversation) == ["vip"]


def test_label_in_both_add_and_remove_is_refused(admin_api, business, vip):
    conversation = ConversationFactory(business=business)

    response = admin_api.post(
        BULK_URL,
        {"ids": [conversation.pk], "labels_add": ["vip"], "labels_remove": ["VIP"]},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["labels_remove"]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_filters_combine(admin_api, admin_member, business, billing_team, vip):
    x = ChannelFactory(business=business, type="x")
    telegram = ChannelFactory(business=business, type="telegram")
    me = admin_member.user
    minute = iter(range(100))

    def make(**kwargs):
        labelled = kwargs.pop("labelled", True)
        found = ConversationFactory(
            business=business,
            last_message_at=T0 + timedelta(minutes=next(minute)),
            **{"channel": x, "assignee": me, "team": billing_team, **kwargs},
        )
        if labelled:
            ConversationLabel.objects.create(conversation=found, label=vip)
        return found

    match_old = make()
    match_new = make()
    make(labelled=False)
    make(team=None)
    make(assignee=None)
    make(status="resolved")
    make(channel=telegram)
    make(team=TeamFactory(business=business))

    query = f"?assignee=me&team={billing_team.pk}&label=VIP&status=open&channel={x.pk}"
    assert ids(admin_api.get(LIST_URL + query)) == [match_new.pk, match_old.pk]
    no_team = ids(admin_api.get(LIST_URL + "?team=none&label=vip"))
    assert len(no_team) == 1
    assert Conversation.objects.get(pk=no_team[0]).team_id is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?label=nope", "label"),
        ("?label=theirs", "label"),
        ("?team=their_team", "team"),
        ("?team=12345678", "team"),
        ("?team=abc", "team"),
        ("?mentioned=you", "mentioned"),
    ],
)
def test_unknown_team_or_label_filter_answers_400(admin_api, business, query, field):
    other = BusinessFactory()
    LabelFactory(business=other, name="theirs")
    their_team = TeamFactory(business=other)
    ConversationFactory(business=business)

    response = admin_api.get(LIST_URL + query.replace("their_team", str(their_team.pk)))

    assert response.status_code == 400
    assert list(response.json()) == [field]


def queries_of(api, url: str) -> int:
    api.get(url)  # the token's first use is written once
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "query", ["", "?team={team}", "?label=vip", "?team=none", "?mentioned=me"]
)
def test_list_queries_do_not_grow_with_rows(
    admin_api, admin_member, business, billing_team, vip, refund, query
):
    from conversations.models import Mention, UnreadMention

    def add(count: int) -> None:
        for _ in range(count):
            conversation = ConversationFactory(
                business=business,
                team=billing_team if query != "?team=none" else None,
                assignee=MemberFactory(business=business).user,
            )
            ConversationLabel.objects.create(conversation=conversation, label=vip)
            ConversationLabel.objects.create(conversation=conversation, label=refund)
            note = Message.objects.create(
                conversation=conversation,
                channel_id=conversation.channel_id,
                direction="outbound",
                kind=Message.NOTE,
                text="@admin",
                status="received",
                sent_at=T0,
            )
            Mention.objects.create(
                message=note, conversation=conversation, user=admin_member.user
            )
            UnreadMention.objects.create(
                conversation=conversation,
                user=admin_member.user,
                last_message_at=conversation.last_message_at,
            )

    url = LIST_URL + query.format(team=billing_team.pk)
    add(2)
    with_2 = queries_of(admin_api, url)
    add(20)
    with_22 = queries_of(admin_api, url + ("&" if "?" in url else "?") + "page_size=50")

    assert with_22 == with_2 <= 6
    rows = admin_api.get(url).json()["results"]
    assert rows[0]["labels"] == [
        {"id": refund.pk, "name": "Refund", "color": "#00ff00"},
        {"id": vip.pk, "name": "vip", "color": "#ff0000"},
    ]


@pytest.mark.parametrize(
    ("view", "expected"), [("mine", ["mine"]), ("unassigned", ["nobody"])]
)
def test_the_api_reads_the_pages_views(admin_api, admin_member, view, expected):
    business = admin_member.business
    ConversationFactory(
        business=business, contact__name="mine", assignee=admin_member.user
    )
    ConversationFactory(business=business, contact__name="nobody")

    response = admin_api.get("/api/v1/conversations/", {"view": view})

    assert response.status_code == 200
    assert [row["contact"]["name"] for row in response.data["results"]] == expected


# ------------------------------------------- a label's list, newest activity first


def test_a_labels_list_follows_new_messages_and_replies(admin_api, business, vip):
    from channels_app.platforms.base import InboundContact, InboundMessage
    from conversations.services.ingest import ingest
    from conversations.services.replies import post_reply

    channel = ChannelFactory(business=business)
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    labelled = []
    for n in range(5):
        conversation = ConversationFactory(
            business=business,
            channel=channel,
            last_message_at=t0 + timedelta(minutes=n),
        )
        conversation_update(conversation=conversation, by=None, labels_add=[vip])
        labelled.append(conversation)
    ConversationFactory(business=business, last_message_at=t0 + timedelta(hours=1))
    assert listed_ids(admin_api, "label=vip") == [c.pk for c in reversed(labelled)]

    # when: the oldest gets a customer's message, then the second oldest a reply
    oldest, second = labelled[0], labelled[1]
    ingest(
        channel=channel,
        items=[
            InboundMessage(
                platform_message_id="label-order-1",
                contact=InboundContact(external_id=oldest.contact_identity.external_id),
                text="Any news?",
                sent_at=t0 + timedelta(minutes=30),
                thread_key=oldest.thread_key,
            )
        ],
    )
    post_reply(conversation=second, text="On its way", author=None)

    # then: each moves to the top of the label's list, as in the inbox
    expected = [second.pk, oldest.pk] + [c.pk for c in reversed(labelled[2:])]
    assert listed_ids(admin_api, "label=vip") == expected
    assert (
        list(
            ConversationLabel.objects.filter(label=vip)
            .order_by("-last_message_at", "-conversation_id")
            .values_list("conversation_id", flat=True)
        )
        == expected
    )


def test_links_made_any_way_carry_the_conversations_last_activity(business, vip):
    conversation = ConversationFactory(business=business)
    conversation.labels.add(vip)
    link = ConversationLabel.objects.get(conversation=conversation)
    assert link.last_message_at == conversation.last_message_at


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="two open write transactions need PostgreSQL",
)
@pytest.mark.django_db(transaction=True)
def test_two_label_changes_at_once_record_each_label_once():
    # given: an agent's "add vip" is written and not yet committed (a quick
    # second click, or a colleague, changes the labels meanwhile)
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import transaction

    from conversations.tests.services.test_ingest import a_transaction_waits_on_a_lock
    from pingback.testing import wait_for

    conversation = ConversationFactory()
    vip = LabelFactory(business=conversation.business, name="vip")
    billing = LabelFactory(business=conversation.business, name="billing")
    written, release = threading.Event(), threading.Event()

    def first_click() -> None:
        try:
            with transaction.atomic():
                conversation_update(conversation=conversation, by=None, labels=[vip])
                written.set()
                release.wait(10)
        finally:
            connection.close()

    def second_click() -> None:
        try:
            conversation_update(
                conversation=Conversation.objects.get(pk=conversation.pk),
                by=None,
                labels=[vip, billing],
            )
        finally:
            connection.close()

    # when: the second change runs while the first holds the conversation
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(first_click)
        assert written.wait(10)
        second = pool.submit(second_click)
        wait_for(a_transaction_waits_on_a_lock)
        release.set()
        first.result(timeout=20)
        second.result(timeout=20)

    # then: vip was added once, billing once
    texts = sorted(
        Message.objects.filter(kind=Message.ACTIVITY).values_list("text", flat=True)
    )
    assert [text.split()[-1] for text in texts] == ["billing", "vip"]
    assert sorted(conversation.labels.values_list("name", flat=True)) == [
        "billing",
        "vip",
    ]

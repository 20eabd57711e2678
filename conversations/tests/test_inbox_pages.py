"""The server-rendered inbox: the conversation list and one conversation."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from billing.tests.factories import BusinessFactory, UserFactory
from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation, Message
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DEACTIVATED_NOTICE = (
    '<p class="notice">This conversation\'s channel is deactivated or deleted, '
    "so replies cannot be sent."
)
DEACTIVATED_ERROR = (
    "The X (Twitter) channel is deactivated; reactivate it to send replies."
)


@pytest.fixture
def agent_client(agent_member) -> Client:
    client = Client()
    client.force_login(agent_member.user)
    return client


def conversation_url(conversation: Conversation) -> str:
    return reverse("conversation", kwargs={"conversation_id": conversation.pk})


def reply_url(conversation: Conversation) -> str:
    return reverse("conversation-reply", kwargs={"conversation_id": conversation.pk})


def list_rows(html: str) -> list[str]:
    """The markup of each row of the conversation list, in order."""
    rows = html.split('<li class="conversation-row')[1:]
    return [row.split("</li>", 1)[0] for row in rows]


def names_in_order(html: str, names: list[str]) -> list[str]:
    """The given names that appear in `html`, in their order of appearance."""
    found = [name for name in names if name in html]
    return sorted(found, key=html.index)


# ----------------------------------------------------------------------- access


@pytest.mark.parametrize("page", ["inbox", "conversation"])
def test_pages_require_login(business, page):
    # given
    conversation = ConversationFactory(business=business)
    url = reverse("inbox") if page == "inbox" else conversation_url(conversation)

    # when
    response = Client().get(url)

    # then
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("page", ["inbox", "conversation"])
def test_pages_refuse_a_user_of_no_business_with_403(business, page):
    # given
    conversation = ConversationFactory(business=business)
    url = reverse("inbox") if page == "inbox" else conversation_url(conversation)
    client = Client()
    client.force_login(UserFactory())

    # when
    response = client.get(url)

    # then
    assert response.status_code == 403


def test_conversation_of_another_business_is_404(agent_client):
    # given
    other = ConversationFactory(business=BusinessFactory())

    # when
    response = agent_client.get(conversation_url(other))

    # then
    assert response.status_code == 404


# ------------------------------------------------------------------------- list


def test_inbox_lists_open_conversations_newest_first_with_channel_icons(
    agent_client, business
):
    # given
    ConversationFactory(business=business, contact__name="Old Olga", last_message_at=T0)
    ConversationFactory(
        business=business,
        contact__name="New Nadia",
        last_message_at=T0 + timedelta(hours=2),
        last_message_preview="Is it shipped?",
    )
    ConversationFactory(
        business=business,
        contact__name="Mid Mario",
        last_message_at=T0 + timedelta(hours=1),
    )
    ConversationFactory(business=BusinessFactory(), contact__name="Stranger Sam")

    # when
    response = agent_client.get(reverse("inbox"))

    # then
    assert response.status_code == 200
    html = response.content.decode()
    names = ["New Nadia", "Mid Mario", "Old Olga", "Stranger Sam"]
    assert names_in_order(html, names) == ["New Nadia", "Mid Mario", "Old Olga"]
    rows = list_rows(html)
    assert len(rows) == 3
    assert all('data-channel-type="x"' in row and "channel-x" in row for row in rows)
    assert '<span class="preview" dir="auto">Is it shipped?</span>' in html


@pytest.mark.parametrize(
    ("_case", "params", "expected"),
    [
        ("default is open", {}, ["X Open", "Telegram Open"]),
        ("all statuses", {"status": ""}, ["X Open", "Telegram Open", "X Resolved"]),
        ("resolved", {"status": "resolved"}, ["X Resolved"]),
        ("x only", {"channel_type": "x", "status": ""}, ["X Open", "X Resolved"]),
        ("telegram open", {"channel_type": "telegram"}, ["Telegram Open"]),
        (
            "unknown values are dropped: the default list",
            {"channel_type": "fax", "status": "bogus"},
            ["X Open", "Telegram Open"],
        ),
    ],
)
def test_inbox_filters_by_channel_type_and_status(
    agent_client, business, _case, params, expected
):
    # given
    telegram = ChannelFactory(business=business, type="telegram", secrets={})
    ConversationFactory(business=business, contact__name="X Open", last_message_at=T0)
    ConversationFactory(
        business=business,
        channel=telegram,
        contact__name="Telegram Open",
        last_message_at=T0 - timedelta(minutes=1),
    )
    ConversationFactory(
        business=business,
        contact__name="X Resolved",
        status="resolved",
        last_message_at=T0 - timedelta(minutes=2),
    )

    # when
    response = agent_client.get(reverse("inbox"), params)

    # then
    assert response.status_code == 200
    html = response.content.decode()
    names = ["X Open", "Telegram Open", "X Resolved"]
    assert names_in_order(html, names) == expected
    assert len(list_rows(html)) == len(expected)


def test_inbox_row_of_a_telegram_conversation_has_its_icon(agent_client, business):
    # given
    telegram = ChannelFactory(business=business, type="telegram", secrets={})
    ConversationFactory(business=business, channel=telegram)

    # when
    response = agent_client.get(reverse("inbox"), {"channel_type": "telegram"})

    # then
    (row,) = list_rows(response.content.decode())
    assert 'data-channel-type="telegram"' in row
    assert "channel-telegram" in row


# ------------------------------------------------------------------ conversation


def test_conversation_page_shows_the_thread_and_each_reply_status(
    agent_client, business, admin_member
):
    # given
    conversation = ConversationFactory(
        business=business,
        contact__name="Ada Lovelace",
        contact_identity__handle="ada",
        unread_count=2,
    )
    inbound = MessageFactory(conversation=conversation, text="Where is my order?")
    outbound = {
        status: MessageFactory(
            conversation=conversation,
            direction="outbound",
            status=status,
            author=admin_member.user,
            text=f"Reply that is {status}",
            error=error,
        )
        for status, error in [
            ("queued", ""),
            ("sent", ""),
            ("failed", "X API credits exhausted: top up"),
        ]
    }

    # when
    response = agent_client.get(conversation_url(conversation))

    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="handle">@<bdi>ada</bdi></span>' in html
    assert names_in_order(
        html,
        [
            "Where is my order?",
            "Reply that is queued",
            "Reply that is sent",
            "Reply that is failed",
        ],
    ) == [
        "Where is my order?",
        "Reply that is queued",
        "Reply that is sent",
        "Reply that is failed",
    ]
    assert f'id="message-{inbound.pk}" data-status="received"' in html
    assert (
        '<div class="delivery delivery-queued">'
        '<span class="delivery-status">Queued</span></div>'
    ) in html
    assert (
        '<div class="delivery delivery-sent">'
        '<span class="delivery-status">Sent</span></div>'
    ) in html
    assert (
        '<div class="delivery delivery-failed">'
        '<span class="delivery-status">Failed</span>: '
        '<span class="reason" dir="auto">X API credits exhausted: top up</span></div>'
    ) in html
    assert html.count('<div class="delivery delivery-') == len(outbound)
    send_url = reverse("conversation-send", kwargs={"conversation_id": conversation.pk})
    assert '<form method="post" action="' + send_url in html
    conversation.refresh_from_db()
    assert conversation.unread_count == 0


def test_conversation_page_shows_a_retrying_reply_reason(agent_client, business):
    # given
    conversation = ConversationFactory(business=business)
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="queued",
        error="X is over capacity",
    )

    # when
    response = agent_client.get(conversation_url(conversation))

    # then
    assert (
        '<div class="delivery delivery-queued">'
        '<span class="delivery-status">Queued</span>'
        ' (retrying: <span class="reason" dir="auto">X is over capacity</span>)</div>'
    ) in response.content.decode()


def test_reply_form_queues_a_reply_that_ends_sent(
    agent_client,
    agent_member,
    business,
    sandbox,
    django_capture_on_commit_callbacks,
):
    # given
    conversation = ConversationFactory(
        business=business, contact_identity__external_id="4001"
    )

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(
            reply_url(conversation), {"text": "Your parcel left today."}
        )

    # then
    assert response.status_code == 302
    assert response["Location"] == conversation_url(conversation)
    message = Message.objects.get()
    assert message.direction == "outbound"
    assert message.author_id == agent_member.user.pk
    assert message.status == "sent"
    assert [(dm["participant_id"], dm["text"]) for dm in sandbox.x.sent_dms] == [
        ("4001", "Your parcel left today.")
    ]
    page = agent_client.get(conversation_url(conversation)).content.decode()
    assert (
        '<div class="delivery delivery-sent">'
        '<span class="delivery-status">Sent</span></div>'
    ) in page


def test_deactivated_channel_shows_a_notice_instead_of_the_reply_form(
    agent_client, business
):
    # given
    conversation = ConversationFactory(business=business)
    Channel.objects.filter(pk=conversation.channel_id).update(is_active=False)

    # when
    response = agent_client.get(conversation_url(conversation))

    # then
    html = response.content.decode()
    assert DEACTIVATED_NOTICE in html
    assert 'id="reply-form"' not in html


def test_reply_on_a_deactivated_channel_stores_and_sends_nothing(
    agent_client, business, sandbox, django_capture_on_commit_callbacks
):
    # given
    conversation = ConversationFactory(business=business)
    Channel.objects.filter(pk=conversation.channel_id).update(is_active=False)

    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = agent_client.post(reply_url(conversation), {"text": "Hello?"})

    # then
    assert response.status_code == 302
    assert response["Location"] == conversation_url(conversation)
    assert callbacks == []
    assert Message.objects.count() == 0
    assert sandbox.x.sent_dms == []


@pytest.mark.parametrize(
    ("_case", "deactivate", "text", "error"),
    [
        ("deactivated channel", True, "Hello?", DEACTIVATED_ERROR),
        ("empty reply", False, "   ", "A reply needs some text or a file."),
    ],
)
def test_refused_reply_shows_the_error_on_the_conversation_page(
    agent_client, business, _case, deactivate, text, error
):
    # given
    conversation = ConversationFactory(business=business)
    Channel.objects.filter(pk=conversation.channel_id).update(is_active=not deactivate)

    # when
    response = agent_client.post(reply_url(conversation), {"text": text}, follow=True)

    # then
    assert response.redirect_chain == [(conversation_url(conversation), 302)]
    assert f'<li class="error">{error}</li>' in response.content.decode()
    assert Message.objects.count() == 0


def test_conversation_page_without_notices_renders_no_flash_list(
    agent_client, business
):
    # given
    conversation = ConversationFactory(business=business)
    MessageFactory(conversation=conversation, text="Hi")

    # when
    response = agent_client.get(conversation_url(conversation))

    # then
    assert 'class="flash"' not in response.content.decode()

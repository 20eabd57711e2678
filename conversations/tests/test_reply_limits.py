"""A reply over its channel's limits is refused before anything is stored or
queued, naming the field (`text`, `files`); the reply box's page endpoints
(`/send/`, `/canned-responses/`)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.tests.factories import ChannelFactory
from conversations.models import Message
from conversations.tests.factories import ConversationFactory
from sandbox.platforms.telegram.standin import DEMO_BOT, DEMO_CUSTOMER
from workspace.tests.factories import CannedResponseFactory

pytestmark = pytest.mark.django_db


def telegram_conversation(business, **fields):
    channel = ChannelFactory(
        business=business,
        type="telegram",
        secrets={"bot_token": DEMO_BOT.token, "webhook_secret": "s" * 40},
        config={"bot_id": "7000000001", "bot_username": DEMO_BOT.username},
    )
    return ConversationFactory(
        business=business,
        channel=channel,
        thread_key=f"chat:{DEMO_CUSTOMER.id}",
        **fields,
    )


def upload(name="label.pdf", size=10):
    return SimpleUploadedFile(name, b"x" * size, content_type="application/pdf")


def post(api, conversation, data, multipart=False):
    return api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        data,
        format="multipart" if multipart else "json",
    )


@pytest.mark.parametrize(
    ("_case", "data", "multipart", "expected"),
    [
        (
            "text over Telegram's 4,096",
            {"text": "é" * 4120},
            False,
            {
                "text": [
                    "Telegram messages are limited to 4,096 characters; this "
                    "reply has 4,120."
                ]
            },
        ),
        (
            "eleven files",
            {"text": "Here", "files": [upload(f"f{i}.pdf") for i in range(11)]},
            True,
            {"files": ["Ensure this field has no more than 10 elements."]},
        ),
        (
            "a file over the limit",
            {"text": "Here", "files": [upload("big.pdf", 3 * 2**20)]},
            True,
            {"files": ["Telegram takes files up to 2 MB; big.pdf is 3 MB."]},
        ),
        (
            "nothing",
            {"text": "   "},
            False,
            {"text": ["A reply needs text, files or a template."]},
        ),
    ],
)
def test_a_reply_over_the_channels_limits_is_400_naming_the_field(
    admin_api,
    business,
    sandbox,
    settings,
    django_capture_on_commit_callbacks,
    _case,
    data,
    multipart,
    expected,
):
    settings.MEDIA_MAX_BYTES = 2 * 2**20  # PingBack's own cap, below Telegram's
    conversation = telegram_conversation(business)
    sandbox.telegram.open_chat(DEMO_CUSTOMER)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(admin_api, conversation, data, multipart)

    assert response.status_code == 400
    assert response.json() == expected
    assert not Message.objects.exists()
    assert sandbox.telegram.sent == []


def test_a_reply_to_a_post_on_x_is_limited_to_280_characters(admin_api, business):
    conversation = ConversationFactory(business=business, thread_key="tweet:100")

    response = post(admin_api, conversation, {"text": "z" * 281})

    assert response.status_code == 400
    assert response.json() == {
        "text": [
            "Replies to posts on X are limited to 280 characters; this reply has 281."
        ]
    }


def test_an_email_reply_may_be_longer_than_other_channels(
    admin_api, business, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(business=business, type="email", secrets={}, config={})
    conversation = ConversationFactory(business=business, channel=channel)

    response = post(admin_api, conversation, {"text": "w" * 20_000})

    assert response.status_code == 202, response.json()


# ------------------------------------------------------------ page endpoints


@pytest.fixture
def agent(client, agent_member):
    client.force_login(agent_member.user)
    return client


def send_url(conversation):
    return f"/conversations/{conversation.pk}/send/"


def test_the_send_endpoint_queues_a_reply_and_answers_json(agent, business):
    conversation = telegram_conversation(business)

    response = agent.post(
        send_url(conversation),
        {"text": "On its way\r\ntoday."},
        HTTP_X_REQUESTED_WITH="fetch",
    )

    assert response.status_code == 202
    message = Message.objects.get()
    assert response.json() == {"ok": True, "message_id": message.pk}
    assert (message.text, message.status, message.kind) == (
        "On its way\ntoday.",
        "queued",
        "message",
    )


def test_the_send_endpoint_refuses_with_the_field_and_stores_nothing(agent, business):
    conversation = telegram_conversation(business)

    response = agent.post(
        send_url(conversation), {"text": "q" * 4097}, HTTP_X_REQUESTED_WITH="fetch"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "Telegram messages are limited to 4,096 characters; "
        "this reply has 4,097.",
        "field": "text",
    }
    assert not Message.objects.exists()


def test_the_send_endpoint_stores_a_private_note_and_sends_nothing(
    agent, business, sandbox, django_capture_on_commit_callbacks
):
    conversation = telegram_conversation(business)

    with django_capture_on_commit_callbacks(execute=True):
        response = agent.post(
            send_url(conversation),
            {"text": "VIP: be kind", "private": "1"},
            HTTP_X_REQUESTED_WITH="fetch",
        )

    assert response.status_code == 200
    note = Message.objects.get()
    assert (note.kind, note.text, note.status) == ("note", "VIP: be kind", "received")
    assert sandbox.telegram.sent == []


def test_the_send_endpoint_refuses_more_files_than_the_channel_takes(agent, business):
    conversation = telegram_conversation(business)

    response = agent.post(
        send_url(conversation),
        {"text": "", "files": [upload(f"f{i}.pdf") for i in range(11)]},
        HTTP_X_REQUESTED_WITH="fetch",
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "Telegram messages may carry at most 10 files; this reply has 11.",
        "field": "files",
    }
    assert not Message.objects.exists()


def test_a_note_cannot_carry_files(agent, business):
    conversation = telegram_conversation(business)

    response = agent.post(
        send_url(conversation),
        {"text": "see", "private": "1", "files": [upload()]},
        HTTP_X_REQUESTED_WITH="fetch",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "files"
    assert not Message.objects.exists()


def test_another_business_conversation_is_404(agent):
    foreign = telegram_conversation(BusinessFactory())

    assert agent.post(send_url(foreign), {"text": "hi"}).status_code == 404
    assert (
        agent.get(f"/conversations/{foreign.pk}/canned-responses/").status_code == 404
    )
    assert not Message.objects.exists()


def test_canned_responses_are_filtered_and_filled_for_the_conversation(
    agent, business, agent_member, django_assert_max_num_queries
):
    agent_member.user.first_name, agent_member.user.last_name = "Ada", "Agent"
    agent_member.user.save()
    conversation = telegram_conversation(business, contact__name="Casey Customer")
    CannedResponseFactory(
        business=business,
        short_code="refund",
        content="Hi {{contact.name}}, {{agent.name}} here: "
        "refund for #{{conversation.id}}.",
    )
    CannedResponseFactory(business=business, short_code="hello", content="Hello!")
    CannedResponseFactory(
        business=business, short_code="policy", content="See our refund policy."
    )
    CannedResponseFactory(short_code="refund-other", content="Another business")

    with django_assert_max_num_queries(8):
        found = agent.get(
            f"/conversations/{conversation.pk}/canned-responses/?q=ref"
        ).json()

    assert found == [
        {"short_code": "policy", "content": "See our refund policy."},
        {
            "short_code": "refund",
            "content": "Hi Casey Customer, Ada Agent here: "
            f"refund for #{conversation.pk}.",
        },
    ]


def test_canned_responses_are_at_most_twenty_in_constant_queries(
    agent, business, django_assert_max_num_queries
):
    conversation = telegram_conversation(business)
    for index in range(25):
        CannedResponseFactory(business=business, short_code=f"code-{index:02}")

    with django_assert_max_num_queries(8):
        found = agent.get(f"/conversations/{conversation.pk}/canned-responses/").json()

    assert len(found) == 20
    assert found[0]["short_code"] == "code-00"


def test_the_page_endpoints_need_a_login(client, business):
    conversation = telegram_conversation(business)

    assert client.post(send_url(conversation), {"text": "hi"}).status_code == 302
    assert (
        client.get(f"/conversations/{conversation.pk}/canned-responses/").status_code
        == 302
    )
    assert not Message.objects.exists()


def test_an_agent_of_another_business_gets_404(client, business):
    conversation = telegram_conversation(business)
    client.force_login(MemberFactory().user)

    assert (
        client.get(f"/conversations/{conversation.pk}/canned-responses/").status_code
        == 404
    )


def test_without_javascript_the_send_endpoint_goes_back_to_the_thread(agent, business):
    conversation = telegram_conversation(business)

    refused = agent.post(send_url(conversation), {"text": "r" * 4097}, follow=True)
    sent = agent.post(send_url(conversation), {"text": "Hello!"})

    assert refused.redirect_chain == [(f"/conversations/{conversation.pk}/", 302)]
    assert (
        '<li class="error">Telegram messages are limited to 4,096 characters; '
        "this reply has 4,097.</li>"
    ) in refused.content.decode()
    assert (sent.status_code, sent["Location"]) == (
        302,
        f"/conversations/{conversation.pk}/",
    )
    assert [m.text for m in Message.objects.all()] == ["Hello!"]

"""The Telegram platform module: secret-token verification, parsing of every
Update kind, dedupe, setup through the API (getMe, setWebhook, deleteWebhook),
sending and its errors, and inbound media.

Everything Telegram-side runs through python-telegram-bot against the sandbox's
Telegram stand-in over HTTP; Celery tasks run eagerly.
"""

import json
import socket
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    ContactOptOut,
    InboundContact,
    InboundMessage,
    MalformedPayload,
    MessageEdit,
)
from channels_app.services.delivery import message_deliver
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import fixture_bytes, fixture_names
from conversations.models import Conversation, DeliveryAttempt, Message
from conversations.tests.factories import MessageFactory
from sandbox.telegram import DEMO_BOT, DEMO_CUSTOMER

pytestmark = pytest.mark.django_db

SECRET = "s3cret-token_for-the-webhook-0123456789abcdef"
CASEY = InboundContact(
    external_id="5100000001", handle="casey_customer", name="Casey Customer"
)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def telegram_channel(**fields) -> Channel:
    """A Telegram channel of the sandbox's demo bot, set up with `SECRET`."""
    values = {
        "type": "telegram",
        "secrets": {"bot_token": DEMO_BOT.token, "webhook_secret": SECRET},
        "config": {"bot_id": "7000000001", "bot_username": DEMO_BOT.username},
        **fields,
    }
    return ChannelFactory(**values)


def post_update(client, channel, body: bytes, secret: str | None = SECRET):
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret} if secret else {}
    return client.post(
        f"/api/v1/webhooks/telegram/{channel.id}",
        data=body,
        content_type="application/json",
        **headers,
    )


def create(api, config: dict):
    return api.post(
        "/api/v1/channels/", {"type": "telegram", "config": config}, format="json"
    )


def epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


# ---------------------------------------------------------------- verification


def test_an_update_with_the_right_secret_token_is_stored_and_processed(
    client, django_capture_on_commit_callbacks
):
    # given
    channel = telegram_channel()
    body = fixture_bytes("telegram", "message__text")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = post_update(client, channel, body)

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    event = InboundEvent.objects.get()
    assert (event.event_key, event.status) == ("update:700000101", "processed")
    assert bytes(event.body) == body
    conversation = Conversation.objects.get()
    assert conversation.channel_type == "telegram"
    assert conversation.thread_key == "chat:5100000001"
    assert conversation.contact.name == "Casey Customer"
    assert conversation.contact_identity.external_id == "5100000001"
    assert conversation.contact_identity.handle == "casey_customer"
    message = conversation.messages.get()
    assert message.text == "Hi! My order #4411 never arrived."
    assert message.platform_message_id == "5100000001:1365"
    assert message.sent_at == epoch(1763712000)


@pytest.mark.parametrize(
    ("_case", "secret"),
    [
        ("missing", None),
        ("forged", "guessed-secret-token"),
        ("one character off", SECRET[:-1] + "X"),
    ],
)
def test_an_update_without_the_right_secret_token_gets_403_and_stores_nothing(
    client, _case, secret
):
    channel = telegram_channel()

    response = post_update(
        client, channel, fixture_bytes("telegram", "message__text"), secret
    )

    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0


def test_a_channel_without_a_webhook_secret_refuses_updates(client):
    """Before setup has registered the webhook there is nothing to check the
    header against: refused, not trusted."""
    channel = telegram_channel(secrets={"bot_token": DEMO_BOT.token})

    response = post_update(client, channel, fixture_bytes("telegram", "message__text"))

    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0


# ------------------------------------------------------------- dedupe, edits


def test_a_redelivered_update_adds_nothing(client, django_capture_on_commit_callbacks):
    # given
    channel = telegram_channel()
    body = fixture_bytes("telegram", "message__text")
    with django_capture_on_commit_callbacks(execute=True):
        post_update(client, channel, body)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = post_update(client, channel, body)

    # then
    assert response.json() == {"status": "duplicate"}
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_the_same_message_in_another_update_is_stored_once(
    client, django_capture_on_commit_callbacks
):
    """(chat id, message_id) is the message's identity, whatever update
    carries it."""
    channel = telegram_channel()
    update = json.loads(fixture_bytes("telegram", "message__text"))
    with django_capture_on_commit_callbacks(execute=True):
        post_update(client, channel, json.dumps(update).encode())
        update["update_id"] += 1
        response = post_update(client, channel, json.dumps(update).encode())

    assert response.json() == {"status": "accepted"}
    assert InboundEvent.objects.count() == 2
    assert Message.objects.count() == 1


def test_an_edited_message_changes_the_stored_text(
    client, django_capture_on_commit_callbacks
):
    # given
    channel = telegram_channel()
    with django_capture_on_commit_callbacks(execute=True):
        post_update(client, channel, fixture_bytes("telegram", "message__text"))

    # when
    with django_capture_on_commit_callbacks(execute=True):
        post_update(client, channel, fixture_bytes("telegram", "edited_message__text"))

    # then
    message = Message.objects.get()
    assert message.text == "Hi! My order #4412 never arrived."
    assert message.edited_at == epoch(1763712095)


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("message__from_bot", "message from the bot 7000000002"),
        ("callback_query__button", "update kind callback_query not handled"),
    ],
)
def test_updates_pingback_does_not_serve_are_kept_as_ignored_with_the_reason(
    client, django_capture_on_commit_callbacks, fixture, reason
):
    channel = telegram_channel()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_update(client, channel, fixture_bytes("telegram", fixture))

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.status, event.error) == ("ignored", reason)
    assert Conversation.objects.count() == 0


@pytest.mark.parametrize(
    ("_case", "body", "error"),
    [
        ("not JSON", b"update_id=1", "body is not JSON: Expecting value: line 1 "),
        ("no update_id", b'{"message": {}}', "update_id: missing"),
        ("update without content", b'{"update_id": 5}', "body: no update besides"),
        ("chat id as a string", None, "message.chat.id: expected an integer, got"),
    ],
)
def test_a_malformed_update_is_kept_with_its_error_and_answered_400(
    client, _case, body, error
):
    channel = telegram_channel()
    body = body or fixture_bytes("telegram", "malformed__chat_id_as_string")

    response = post_update(client, channel, body)

    assert response.status_code == 400
    assert response.json()["detail"].startswith(error)
    event = InboundEvent.objects.get()
    assert event.status == "malformed"
    assert bytes(event.body) == body
    assert Message.objects.count() == 0


# ----------------------------------------------------------------- parsing, pure


def casey_message(message_id: int, sent: int, **fields) -> InboundMessage:
    values = {
        "platform_message_id": f"5100000001:{message_id}",
        "contact": CASEY,
        "text": "",
        "sent_at": epoch(sent),
        "thread_key": "chat:5100000001",
        **fields,
    }
    return InboundMessage(**values)


PARSE_CASES = {
    "message__text": casey_message(
        1365, 1763712000, text="Hi! My order #4411 never arrived."
    ),
    "message__command": InboundMessage(
        platform_message_id="5100000002:1364",
        contact=InboundContact(external_id="5100000002", name="Robin"),
        text="/start",
        sent_at=epoch(1763711940),
        thread_key="chat:5100000002",
    ),
    "message__photo": casey_message(
        1366,
        1763712060,
        text="The box arrived crushed",
        attachments=(
            {
                "kind": "image",
                "ref": "AgACAgQAAxkBAAIBZ2dXs-largest",
                "content_type": "image/jpeg",
                "size": 118640,
            },
        ),
    ),
    "message__document": casey_message(
        1367,
        1763712120,
        attachments=(
            {
                "kind": "document",
                "ref": "BQACAgQAAxkBAAIBaGdXs-invoice",
                "filename": "invoice-4411.pdf",
                "content_type": "application/pdf",
                "size": 48213,
            },
        ),
    ),
    "message__voice": casey_message(
        1368,
        1763712180,
        attachments=(
            {
                "kind": "voice",
                "ref": "AwACAgQAAxkBAAIBaWdXs-voice",
                "content_type": "audio/ogg",
                "size": 15344,
            },
        ),
    ),
    "message__audio": casey_message(
        1369,
        1763712240,
        attachments=(
            {
                "kind": "audio",
                "ref": "CQACAgQAAxkBAAIBamdXs-audio",
                "filename": "noise-from-the-kettle.mp3",
                "content_type": "audio/mpeg",
                "size": 2945210,
            },
        ),
    ),
    "message__video": casey_message(
        1370,
        1763712300,
        text="Watch the lid",
        attachments=(
            {
                "kind": "video",
                "ref": "BAACAgQAAxkBAAIBa2dXs-video",
                "filename": "unboxing.mp4",
                "content_type": "video/mp4",
                "size": 3481204,
            },
        ),
    ),
    "message__sticker": casey_message(
        1371,
        1763712360,
        text="\U0001f64f",
        attachments=(
            {
                "kind": "sticker",
                "ref": "CAACAgIAAxkBAAIBbGdXs-sticker",
                "content_type": "application/x-tgsticker",
                "size": 28744,
            },
        ),
    ),
    "message__location": casey_message(
        1372,
        1763712420,
        attachments=(
            {"kind": "location", "latitude": 53.800755, "longitude": -1.549077},
        ),
    ),
    "message__venue": casey_message(
        1373,
        1763712480,
        attachments=(
            {
                "kind": "location",
                "latitude": 53.795984,
                "longitude": -1.547229,
                "name": "Leeds Depot",
                "address": "12 Wellington St, Leeds LS1 4DL",
            },
        ),
    ),
    "message__contact": casey_message(
        1374,
        1763712540,
        text="Contact: Jordan Neighbour, +447700900123",
        attachments=(
            {
                "kind": "contact",
                "name": "Jordan Neighbour",
                "phone_number": "+447700900123",
            },
        ),
    ),
    "message__reply": casey_message(
        1377,
        1763712900,
        text="Sure, it is JD0144",
        reply_to_platform_message_id="5100000001:1376",
    ),
    "edited_message__text": MessageEdit(
        platform_message_id="5100000001:1365",
        text="Hi! My order #4412 never arrived.",
        edited_at=epoch(1763712095),
    ),
}

PARSE_CASES |= {
    "chat__group": InboundMessage(
        platform_message_id="-1001234567890:88",
        contact=InboundContact(external_id="-1001234567890", name="Acme Customers"),
        text="@pingback_demo_bot is anyone there?",
        sent_at=epoch(1763713100),
        thread_key="chat:-1001234567890",
        details={
            "sender": {
                "external_id": "5100000001",
                "name": "Casey Customer",
                "handle": "casey_customer",
            }
        },
    ),
    "message__poll": casey_message(
        1380, 1763713220, text="Poll: Which colour?\n- Blue\n- Red"
    ),
    "my_chat_member__blocked": ContactOptOut(
        external_id="5100000001",
        opted_out=True,
        reason="they blocked the bot on Telegram",
        occurred_at=epoch(1763713300),
    ),
}

IGNORED = {
    "message__from_bot": "message from the bot 7000000002",
    "edited_message__live_location": "edit of message 5100000001:1378 without text",
    "callback_query__button": "update kind callback_query not handled",
}

MALFORMED = {
    "malformed__chat_id_as_string": "message.chat.id: expected an integer, got a "
    "string",
    "malformed__message_without_from": "message.from: missing",
    "malformed__photo_without_sizes": "message.photo: expected at least one size",
}


def test_every_telegram_fixture_has_an_expected_outcome():
    # The kinds' fixtures (groups, albums, ...) are checked in their tests.
    from channels_app.tests.platforms.test_telegram_kinds import KIND_FIXTURES

    assert fixture_names("telegram") == set(PARSE_CASES) | set(IGNORED) | set(
        MALFORMED
    ) | set(KIND_FIXTURES)


@pytest.mark.parametrize("name", sorted(PARSE_CASES))
def test_telegram_fixture_parses_to_the_expected_item(name):
    body = fixture_bytes("telegram", name)

    parsed = get_platform("telegram").parse(ChannelFactory.build(), body)

    assert parsed.event_key == f"update:{json.loads(body)['update_id']}"
    assert parsed.items == (PARSE_CASES[name],)
    assert parsed.ignored == ()


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_telegram_fixture_is_ignored_with_its_reason(name):
    parsed = get_platform("telegram").parse(
        ChannelFactory.build(), fixture_bytes("telegram", name)
    )

    assert parsed.items == ()
    assert parsed.ignored == (IGNORED[name],)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_fixture_names_the_bad_path(name):
    with pytest.raises(MalformedPayload) as raised:
        get_platform("telegram").parse(
            ChannelFactory.build(), fixture_bytes("telegram", name)
        )

    assert str(raised.value) == MALFORMED[name]


# --------------------------------------------------------------- setup, via API


def test_creating_with_a_token_telegram_refuses_answers_400_with_its_reason(
    admin_api, sandbox
):
    response = create(admin_api, {"bot_token": "7000000099:AAnot-a-real-bot-token"})

    assert response.status_code == 400
    assert response.json() == {
        "config": {"bot_token": ["Telegram refused the token: Unauthorized"]}
    }
    assert Channel.objects.count() == 0
    assert sandbox.telegram.snapshot()["webhooks"] == []


def test_creating_the_channel_registers_the_webhook_with_a_secret(admin_api, sandbox):
    # when
    response = create(admin_api, {"bot_token": DEMO_BOT.token})

    # then
    assert response.status_code == 201
    body = response.json()
    channel = Channel.objects.get()
    secret = channel.secrets["webhook_secret"]
    assert body["setup"]["state"] == "ready"
    assert body["setup"]["message"] == (
        "Connected as @pingback_demo_bot (bot id 7000000001). Webhook registered "
        f"at {body['webhook_url']} with a secret token: private messages to the "
        "bot will arrive."
    )
    assert body["config"]["bot_id"] == "7000000001"
    assert body["config"]["bot_username"] == "pingback_demo_bot"
    assert sandbox.telegram.webhook() == {
        "url": body["webhook_url"],
        "secret_token": secret,
        "allowed_updates": [
            "message",
            "edited_message",
            "channel_post",
            "edited_channel_post",
            "my_chat_member",
            "message_reaction",
        ],
        "set_at": sandbox.telegram.webhook()["set_at"],
        "last_error_date": None,
        "last_error_message": "",
    }
    assert len(secret) >= 32
    assert DEMO_BOT.token not in response.content.decode()
    assert secret not in response.content.decode()


def test_rerunning_setup_keeps_the_webhook_secret(admin_api, sandbox):
    created = create(admin_api, {"bot_token": DEMO_BOT.token}).json()
    secret = Channel.objects.get().secrets["webhook_secret"]

    response = admin_api.post(f"/api/v1/channels/{created['id']}/setup")

    assert response.json()["setup"]["state"] == "ready"
    assert Channel.objects.get().secrets["webhook_secret"] == secret
    assert sandbox.telegram.webhook()["secret_token"] == secret


def test_deactivating_removes_the_webhook_and_reactivating_sets_it_again(
    admin_api, sandbox
):
    # given
    created = create(admin_api, {"bot_token": DEMO_BOT.token}).json()
    url = f"/api/v1/channels/{created['id']}"

    # when
    admin_api.patch(url, {"is_active": False}, format="json")

    # then
    assert sandbox.telegram.webhook() is None

    # when
    response = admin_api.patch(url, {"is_active": True}, format="json")

    # then
    assert response.json()["setup"]["state"] == "ready"
    assert sandbox.telegram.webhook()["url"] == created["webhook_url"]


def test_deleting_the_channel_removes_the_webhook(admin_api, sandbox):
    created = create(admin_api, {"bot_token": DEMO_BOT.token}).json()

    response = admin_api.delete(f"/api/v1/channels/{created['id']}")

    assert response.status_code == 200
    assert sandbox.telegram.webhook() is None
    delete_calls = [
        r for r in sandbox.requests() if r["path"].endswith("/deleteWebhook")
    ]
    assert [call["status"] for call in delete_calls] == [200]


def test_a_new_token_moves_the_webhook_to_the_new_bot(admin_api, sandbox):
    # given
    created = create(admin_api, {"bot_token": DEMO_BOT.token}).json()
    other = sandbox.telegram.register_bot(
        "7000000055:AAacme-support-bot-token", "acme_support_bot"
    )

    # when
    response = admin_api.patch(
        f"/api/v1/channels/{created['id']}",
        {"config": {"bot_token": other.token}},
        format="json",
    )

    # then
    body = response.json()
    assert body["setup"]["state"] == "ready"
    assert body["config"]["bot_username"] == "acme_support_bot"
    assert sandbox.telegram.webhook(DEMO_BOT.token) is None
    assert sandbox.telegram.webhook(other.token)["url"] == created["webhook_url"]
    assert (
        sandbox.telegram.webhook(other.token)["secret_token"]
        == (Channel.objects.get().secrets["webhook_secret"])
    )


def test_a_webhook_url_telegram_refuses_fails_setup_with_telegrams_words(
    admin_api, sandbox, settings
):
    settings.PINGBACK_PUBLIC_BASE_URL = "http://inbox.example.com"

    body = create(admin_api, {"bot_token": DEMO_BOT.token}).json()

    assert body["setup"]["state"] == "failed"
    assert body["setup"]["message"] == (
        "Connected as @pingback_demo_bot (bot id 7000000001). Registering the "
        f"webhook {body['webhook_url']} failed: Telegram refused it: Bad webhook: "
        "an https url must be provided for webhook. Fix it and re-run setup."
    )
    assert sandbox.telegram.webhook() is None


def test_an_unreachable_telegram_does_not_refuse_the_token(admin_api, settings):
    """Creating is allowed (the token may be fine); setup says what happened."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.TELEGRAM_API_BASE_URL = f"http://127.0.0.1:{port}"

    response = create(admin_api, {"bot_token": DEMO_BOT.token})

    assert response.status_code == 201
    setup = response.json()["setup"]
    assert setup["state"] == "failed"
    assert setup["message"].startswith(
        "Checking the bot token failed: Telegram could not be reached ("
    )
    assert DEMO_BOT.token not in setup["message"]


# ----------------------------------------------------------------------- sending


@pytest.fixture
def conversation(client, business, sandbox, django_capture_on_commit_callbacks):
    """Casey's chat with the demo bot, opened by the message__text update."""
    channel = telegram_channel(business=business)
    sandbox.telegram.open_chat(DEMO_CUSTOMER)
    with django_capture_on_commit_callbacks(execute=True):
        post_update(client, channel, fixture_bytes("telegram", "message__text"))
    return Conversation.objects.get()


def reply(api, conversation, text: str = "", *files) -> Message:
    """Reply through the API; the worker (eager here) delivers it."""
    data = {"text": text}
    if files:
        data["files"] = list(files)
    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        data,
        format="multipart" if files else "json",
    )
    assert response.status_code == 202, response.json()
    return Message.objects.get(pk=response.json()["id"])


def test_a_text_reply_is_sent_to_the_customers_chat(
    admin_api, conversation, sandbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, conversation, "Sorry! A replacement ships today.")

    message.refresh_from_db()
    [sent] = sandbox.telegram.sent
    assert (sent["method"], sent["chat_id"], sent["text"]) == (
        "sendMessage",
        5100000001,
        "Sorry! A replacement ships today.",
    )
    assert message.status == "sent"
    assert message.platform_message_id == f"5100000001:{sent['message_id']}"


@pytest.mark.parametrize(
    ("_case", "upload", "method"),
    [
        (
            "a photo",
            ("parcel.png", PNG, "image/png"),
            "sendPhoto",
        ),
        (
            "a document",
            ("label.pdf", b"%PDF-1.4 shipping label", "application/pdf"),
            "sendDocument",
        ),
    ],
)
def test_a_file_is_uploaded_with_the_text_as_its_caption(
    admin_api,
    conversation,
    sandbox,
    django_capture_on_commit_callbacks,
    _case,
    upload,
    method,
):
    name, content, content_type = upload
    file = SimpleUploadedFile(name, content, content_type=content_type)

    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, conversation, "Here is the label", file)

    message.refresh_from_db()
    [sent] = sandbox.telegram.sent
    assert sent["method"] == method
    assert sent["caption"] == "Here is the label"
    assert (sent["file_name"], sent["file_size"]) == (name, len(content))
    assert message.status == "sent"
    assert message.platform_message_id == f"5100000001:{sent['message_id']}"


def test_a_text_too_long_for_a_caption_goes_first_then_the_file(
    admin_api, conversation, sandbox, django_capture_on_commit_callbacks
):
    text = " ".join(["Step by step instructions."] * 50)  # 1349 characters
    file = SimpleUploadedFile("guide.pdf", b"%PDF-1.4 guide", "application/pdf")

    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, conversation, text, file)

    message.refresh_from_db()
    assert [
        (s["method"], s.get("text"), s.get("caption")) for s in sandbox.telegram.sent
    ] == [
        ("sendMessage", text, None),
        ("sendDocument", None, ""),
    ]
    last = sandbox.telegram.sent[-1]["message_id"]
    assert message.platform_message_id == f"5100000001:{last}"


def test_flood_control_retries_after_the_time_telegram_gives(
    admin_api, conversation, sandbox, django_capture_on_commit_callbacks
):
    # given
    sandbox.telegram.set_modes(flood_next=1, flood_retry_after=7)

    # when (eager tasks retry at once; the countdown is checked below)
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, conversation, "Thanks for waiting")

    # then
    message.refresh_from_db()
    assert message.status == "sent"
    attempts = DeliveryAttempt.objects.filter(message=message).order_by("id")
    assert [(a.outcome, a.status_code, a.reason) for a in attempts] == [
        ("retry", 429, "Telegram flood control: retry in 7 seconds"),
        ("sent", None, ""),
    ]
    assert [s["text"] for s in sandbox.telegram.sent] == ["Thanks for waiting"]


def test_flood_control_retry_waits_what_telegram_asked(conversation, sandbox):
    queued = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="queued",
        platform_message_id=None,
        text="Hello again",
    )
    sandbox.telegram.set_modes(flood_next=1, flood_retry_after=7)

    outcome = message_deliver(message_id=queued.pk)

    # Telegram's retry_after (7 s) is longer than the first backoff (5 s).
    assert (outcome.status, outcome.countdown) == ("retry", 7.0)


@pytest.mark.parametrize(
    ("_case", "mode", "reason"),
    [
        (
            "blocked by the user",
            {"blocked_by_user": True},
            "The customer blocked the bot on Telegram, so it cannot message them "
            "until they unblock it (Forbidden: bot was blocked by the user).",
        ),
        (
            "server errors until the last retry",
            {"server_error_next": 10},
            "Telegram is unavailable: Internal Server Error (gave up after retrying)",
        ),
    ],
)
def test_a_reply_telegram_will_not_take_fails_with_the_reason(
    admin_api,
    conversation,
    sandbox,
    settings,
    django_capture_on_commit_callbacks,
    _case,
    mode,
    reason,
):
    settings.DELIVERY_MAX_RETRIES = 2
    sandbox.telegram.set_modes(**mode)

    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, conversation, "Are you still there?")

    message.refresh_from_db()
    assert (message.status, message.error) == ("failed", reason)
    assert sandbox.telegram.sent == []


def test_a_chat_telegram_does_not_know_fails_with_telegrams_words(
    admin_api, client, business, sandbox, django_capture_on_commit_callbacks
):
    # given a conversation whose chat was never opened with the stand-in's bot
    channel = telegram_channel(business=business)
    with django_capture_on_commit_callbacks(execute=True):
        post_update(client, channel, fixture_bytes("telegram", "message__command"))

    # when
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, Conversation.objects.get(), "Welcome!")

    # then
    message.refresh_from_db()
    assert (message.status, message.error) == (
        "failed",
        "Telegram refused the message: Chat not found",
    )


def test_a_revoked_token_fails_the_reply_and_alerts_the_channel(
    admin_api, conversation, sandbox, django_capture_on_commit_callbacks
):
    channel = conversation.channel
    channel.secrets = {**channel.secrets, "bot_token": "7000000001:AArevoked-token"}
    channel.save()

    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, conversation, "Hello")

    message.refresh_from_db()
    channel.refresh_from_db()
    assert (message.status, message.error) == (
        "failed",
        "Telegram rejected the bot token: Unauthorized",
    )
    assert channel.alert == (
        "Telegram rejected the bot token: Unauthorized. Update bot_token with the "
        "token @BotFather shows."
    )


def test_a_failure_after_the_text_went_out_is_not_retried(
    admin_api, conversation, sandbox, django_capture_on_commit_callbacks
):
    """Retrying would send the text twice: the reply fails, saying what went."""
    text = " ".join(["Long explanation."] * 70)  # over the 1024-character limit
    file = SimpleUploadedFile("guide.pdf", b"%PDF-1.4 guide", "application/pdf")
    sandbox.telegram.set_modes(flood_next=1, failing_method="sendDocument")

    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, conversation, text, file)

    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error == (
        "Telegram flood control: retry in 3 seconds. Already sent: the text; not "
        "retried, so nothing is sent twice."
    )
    assert [s["method"] for s in sandbox.telegram.sent] == ["sendMessage"]


def test_a_text_over_telegrams_limit_is_refused_before_it_is_queued(
    admin_api, conversation, sandbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            f"/api/v1/conversations/{conversation.pk}/messages",
            {"text": "x" * 4097},
            format="json",
        )

    assert response.status_code == 400
    assert response.json() == {
        "text": [
            "Telegram messages are limited to 4,096 characters; this reply has 4,097."
        ]
    }
    assert not Message.objects.filter(direction="outbound").exists()
    assert sandbox.telegram.sent == []


def test_a_queued_text_over_telegrams_limit_fails_without_calling_telegram(
    conversation, sandbox
):
    # A reply queued some other way (e.g. before the limit was checked on
    # posting) is still refused by the send path, with the table's number.
    message = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="queued",
        platform_message_id=None,
        text="x" * 4097,
    )

    message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert (message.status, message.error) == (
        "failed",
        "Telegram messages are limited to 4,096 characters; this one has 4,097.",
    )
    assert sandbox.telegram.sent == []


# ------------------------------------------------------------------ inbound media


def photo_update(file_id: str, size: int) -> bytes:
    update = json.loads(fixture_bytes("telegram", "message__photo"))
    update["message"]["photo"][-1].update(file_id=file_id, file_size=size)
    return json.dumps(update).encode()


def test_a_customers_photo_is_fetched_and_served_by_its_link(
    admin_api, business, sandbox, client, django_capture_on_commit_callbacks
):
    # given Telegram holds the customer's photo
    channel = telegram_channel(business=business)
    held = sandbox.telegram.state.store_file(DEMO_BOT.token, "photos", "jpg", PNG)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        post_update(client, channel, photo_update(held.file_id, len(PNG)))

    # then
    conversation = Conversation.objects.get()
    shown = admin_api.get(f"/api/v1/conversations/{conversation.pk}/messages").json()
    [attachment] = shown["results"][0]["attachments"]
    assert attachment["kind"] == "image"
    assert attachment["content_type"] == "image/jpeg"
    assert attachment["size"] == len(PNG)
    assert attachment["filename"] == held.file_path.rsplit("/", 1)[-1]
    served = client.get("/" + attachment["link"].split("/", 3)[3])
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == PNG


@pytest.mark.parametrize(
    ("_case", "size", "error"),
    [
        (
            "over the bots' 20 MB limit",
            24 * 2**20,
            "Telegram lets bots download files up to 20 MB; this one is 24.0 MB.",
        ),
        (
            "unknown to Telegram",
            1000,
            "Telegram refused the file download: Wrong file_id or the file is "
            "temporarily unavailable",
        ),
    ],
)
def test_media_telegram_cannot_give_is_marked_with_the_reason(
    admin_api,
    business,
    sandbox,
    client,
    django_capture_on_commit_callbacks,
    _case,
    size,
    error,
):
    channel = telegram_channel(business=business)

    with django_capture_on_commit_callbacks(execute=True):
        post_update(client, channel, photo_update("AgACAgQAAxkBAAIBZ2-gone", size))

    [attachment] = Message.objects.get().attachments
    assert attachment["fetch_error"] == error
    assert "stored" not in attachment

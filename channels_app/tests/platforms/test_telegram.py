"""What only Telegram does: a message's identity across updates, edits, setup
through the API (getMe, setWebhook, deleteWebhook), sending (captions, flood
control, what Telegram refuses) and inbound media. Secret-token checks, parsing
of every fixture, redelivery and malformed updates are in the contract suite
(`contract/`, kit `kits/telegram.py`).

Everything Telegram-side runs through python-telegram-bot against the sandbox's
Telegram stand-in over HTTP; Celery tasks run eagerly.
"""

import json
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from channels_app.models import Channel, InboundEvent
from channels_app.services.delivery import message_deliver
from channels_app.tests.platforms.contract.kits.telegram import KIT
from channels_app.tests.platforms.fixtures import fixture_bytes
from conversations.models import Conversation, DeliveryAttempt, Message
from conversations.tests.factories import ReplyFactory
from sandbox.platforms.telegram.standin import DEMO_BOT, DEMO_CUSTOMER

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def telegram_channel(**fields) -> Channel:
    """A Telegram channel of the sandbox's demo bot, set up with its secret."""
    return KIT.create(**fields)


def create(api, config: dict):
    return api.post(
        "/api/v1/channels/", {"type": "telegram", "config": config}, format="json"
    )


def epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


# ------------------------------------------------------------- dedupe, edits


def test_the_same_message_in_another_update_is_stored_once(
    client, django_capture_on_commit_callbacks
):
    """(chat id, message_id) is the message's identity, whatever update
    carries it."""
    channel = telegram_channel()
    update = json.loads(fixture_bytes("telegram", "message__text"))
    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, json.dumps(update).encode())
        update["update_id"] += 1
        response = KIT.deliver(client, channel, json.dumps(update).encode())

    assert response.json() == {"status": "accepted"}
    assert InboundEvent.objects.count() == 2
    assert Message.objects.count() == 1


def test_an_edited_message_changes_the_stored_text(
    client, django_capture_on_commit_callbacks
):
    # given
    channel = telegram_channel()
    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, fixture_bytes("telegram", "message__text"))

    # when
    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, fixture_bytes("telegram", "edited_message__text"))

    # then
    message = Message.objects.get()
    assert message.text == "Hi! My order #4412 never arrived."
    assert message.edited_at == epoch(1763712095)


# --------------------------------------------------------------- setup, via API


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
        f"at {body['webhook_url']} with a secret token: private chats with the "
        "bot, and the groups it is in (all their messages once privacy mode is "
        "off in @BotFather), will arrive."
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


# ----------------------------------------------------------------------- sending


@pytest.fixture
def conversation(client, business, sandbox, django_capture_on_commit_callbacks):
    """Casey's chat with the demo bot, opened by the message__text update."""
    channel = telegram_channel(business=business)
    sandbox.telegram.open_chat(DEMO_CUSTOMER)
    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, fixture_bytes("telegram", "message__text"))
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
    queued = ReplyFactory(conversation=conversation, text="Hello again")
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
        KIT.deliver(client, channel, fixture_bytes("telegram", "message__command"))

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
    message = ReplyFactory(conversation=conversation, text="x" * 4097)

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
        KIT.deliver(client, channel, photo_update(held.file_id, len(PNG)))

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
        KIT.deliver(client, channel, photo_update("AgACAgQAAxkBAAIBZ2-gone", size))

    [attachment] = Message.objects.get().attachments
    assert attachment["fetch_error"] == error
    assert "stored" not in attachment

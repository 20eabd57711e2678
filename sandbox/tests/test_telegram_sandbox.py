"""The Telegram stand-in, driven by the real python-telegram-bot SDK over HTTP.

The SDK is pointed at the sandbox with ``base_url`` / ``base_file_url``
(docs/platforms/telegram.md, "python-telegram-bot 22.8"). Webhook receivers are
tiny local ``http.server`` instances on 127.0.0.1 that record what the stand-in
POSTs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import requests
from telegram import Bot, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.request import HTTPXRequest

from sandbox.platforms.telegram.customer import sample_png
from sandbox.platforms.telegram.standin import DEMO_BOT, DEMO_CUSTOMER
from sandbox.platforms.telegram.state import TelegramCustomer
from sandbox.server import SandboxServer
from sandbox.tests import kit
from sandbox.tests.kit import Receiver

T = TypeVar("T")
SECRET = "webhook-secret_0123456789"


# --------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------


def with_bot(
    sandbox: SandboxServer,
    calls: Callable[[Bot], Awaitable[T]],
    token: str = DEMO_BOT.token,
) -> T:
    """Run ``calls`` with a real PTB ``Bot`` pointed at the sandbox."""

    async def run() -> T:
        async with HTTPXRequest() as request:
            bot = Bot(
                token,
                base_url=f"{sandbox.url}/bot",
                base_file_url=f"{sandbox.url}/file/bot",
                request=request,
                get_updates_request=request,
            )
            return await calls(bot)

    return asyncio.run(run())


def control(sandbox: SandboxServer, method: str, path: str, **kwargs: Any):
    return kit.control(sandbox, method, f"/_sandbox/telegram/{path}", **kwargs)


def customer_sends(sandbox: SandboxServer, **body: Any) -> dict[str, Any]:
    response = control(sandbox, "POST", "customer/message", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def set_webhook(sandbox: SandboxServer, url: str, **kwargs: Any) -> None:
    async def calls(bot: Bot) -> None:
        await bot.set_webhook(url, secret_token=SECRET, **kwargs)

    with_bot(sandbox, calls)


# --------------------------------------------------------------------------
# Bot API: identity and tokens
# --------------------------------------------------------------------------


def test_get_me_answers_the_demo_bot(sandbox: SandboxServer) -> None:
    me = with_bot(sandbox, lambda bot: bot.get_me())

    assert (me.id, me.username, me.is_bot) == (7000000001, "pingback_demo_bot", True)


@pytest.mark.parametrize(
    ("_case", "token", "message"),
    [
        ("unknown token", "7000000099:AAunknown-bot-token", "Unauthorized"),
        ("malformed token", "not-a-token", "Not Found"),
    ],
)
def test_tokens_telegram_does_not_know_raise_invalid_token(
    sandbox: SandboxServer, _case: str, token: str, message: str
) -> None:
    with pytest.raises(InvalidToken) as raised:
        with_bot(sandbox, lambda bot: bot.get_me(), token=token)

    assert raised.value.message == message


def test_another_bot_can_be_registered_and_survives_a_reset(
    sandbox: SandboxServer,
) -> None:
    token = "7000000042:AAanother-test-bot-token"
    response = control(
        sandbox, "POST", "bots", json={"token": token, "username": "acme_help_bot"}
    )
    sandbox.reset()

    me = with_bot(sandbox, lambda bot: bot.get_me(), token=token)

    assert response.status_code == 201
    assert response.json() == {
        "bot": {
            "id": 7000000042,
            "username": "acme_help_bot",
            "first_name": "acme_help_bot",
        }
    }
    assert me.username == "acme_help_bot"


@pytest.mark.parametrize(
    ("_case", "call"),
    [
        ("JSON body, other case", {"json": {}, "path": "GETME"}),
        ("query string GET", {"path": "getMe?foo=1", "method": "GET"}),
    ],
)
def test_method_names_are_case_insensitive_and_any_body_works(
    sandbox: SandboxServer, _case: str, call: dict[str, Any]
) -> None:
    with requests.Session() as session:
        session.trust_env = False
        response = session.request(
            call.get("method", "POST"),
            f"{sandbox.url}/bot{DEMO_BOT.token}/{call['path']}",
            json=call.get("json"),
            timeout=5,
        )

    assert response.json()["result"]["username"] == "pingback_demo_bot"


def test_an_unknown_method_is_404_as_telegram_answers(sandbox: SandboxServer) -> None:
    response = requests.post(
        f"{sandbox.url}/bot{DEMO_BOT.token}/sendTelepathy", timeout=5
    )

    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found",
    }


# --------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------


def test_set_webhook_records_url_secret_and_updates(sandbox: SandboxServer) -> None:
    async def calls(bot: Bot):
        await bot.set_webhook(
            "http://127.0.0.1:8101/api/v1/webhooks/telegram/abc",
            secret_token=SECRET,
            allowed_updates=["message", "edited_message"],
        )
        return await bot.get_webhook_info()

    info = with_bot(sandbox, calls)

    assert info.url == "http://127.0.0.1:8101/api/v1/webhooks/telegram/abc"
    assert info.allowed_updates == ("message", "edited_message")
    assert sandbox.telegram.webhook()["secret_token"] == SECRET
    state = control(sandbox, "GET", "state").json()
    assert state["webhooks"] == [
        {
            "bot": "pingback_demo_bot",
            "url": "http://127.0.0.1:8101/api/v1/webhooks/telegram/abc",
            "allowed_updates": ["message", "edited_message"],
            "has_secret_token": True,
            "last_error_message": "",
        }
    ]
    assert SECRET not in json.dumps(state)
    assert DEMO_BOT.token not in json.dumps(state)


@pytest.mark.parametrize(
    ("_case", "url", "secret", "message"),
    [
        (
            "plain HTTP on a public host",
            "http://inbox.example.com/hook",
            SECRET,
            "Bad webhook: an https url must be provided for webhook",
        ),
        (
            "secret with spaces",
            "https://inbox.example.com/hook",
            "not allowed here",
            "Secret token contains unallowed characters",
        ),
    ],
)
def test_set_webhook_refuses_what_telegram_refuses(
    sandbox: SandboxServer, _case: str, url: str, secret: str, message: str
) -> None:
    with pytest.raises(BadRequest) as raised:
        with_bot(sandbox, lambda bot: bot.set_webhook(url, secret_token=secret))

    assert raised.value.message == message
    assert sandbox.telegram.webhook() is None


def test_delete_webhook_removes_it(sandbox: SandboxServer) -> None:
    set_webhook(sandbox, "https://inbox.example.com/hook")

    with_bot(sandbox, lambda bot: bot.delete_webhook())

    assert sandbox.telegram.webhook() is None
    assert with_bot(sandbox, lambda bot: bot.get_webhook_info()).url == ""


# --------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------


def test_send_message_needs_a_chat_the_customer_opened(sandbox: SandboxServer) -> None:
    with pytest.raises(BadRequest) as raised:
        with_bot(sandbox, lambda bot: bot.send_message(DEMO_CUSTOMER.id, "hello"))

    assert raised.value.message == "Chat not found"
    assert sandbox.telegram.sent == []


def test_send_message_answers_the_message_and_records_it(
    sandbox: SandboxServer,
) -> None:
    sandbox.telegram.open_chat()

    sent = with_bot(sandbox, lambda bot: bot.send_message(DEMO_CUSTOMER.id, "hello"))

    assert (sent.chat.id, sent.text, sent.from_user.username) == (
        DEMO_CUSTOMER.id,
        "hello",
        "pingback_demo_bot",
    )
    [record] = sandbox.telegram.sent
    assert (record["method"], record["chat_id"], record["text"]) == (
        "sendMessage",
        DEMO_CUSTOMER.id,
        "hello",
    )
    assert record["message_id"] == sent.message_id


def test_uploaded_files_are_recorded_and_can_be_fetched_back(
    sandbox: SandboxServer,
) -> None:
    sandbox.telegram.open_chat()
    photo = sample_png()

    async def calls(bot: Bot):
        with_photo = await bot.send_photo(
            DEMO_CUSTOMER.id, photo=photo, filename="parcel.png", caption="Box"
        )
        document = await bot.send_document(
            DEMO_CUSTOMER.id, document=b"%PDF-1.4 label", filename="label.pdf"
        )
        found = await bot.get_file(with_photo.photo[-1].file_id)
        return with_photo, document, bytes(await found.download_as_bytearray())

    with_photo, document, downloaded = with_bot(sandbox, calls)

    assert with_photo.caption == "Box"
    assert document.document.file_name == "label.pdf"
    assert downloaded == photo
    assert [
        (s["method"], s["caption"], s["file_name"], s["file_size"])
        for s in sandbox.telegram.sent
    ] == [
        ("sendPhoto", "Box", "parcel.png", len(photo)),
        ("sendDocument", "", "label.pdf", 14),
    ]
    assert document.message_id == with_photo.message_id + 1


def test_a_caption_over_1024_characters_is_refused(sandbox: SandboxServer) -> None:
    sandbox.telegram.open_chat()

    with pytest.raises(BadRequest) as raised:
        with_bot(
            sandbox,
            lambda bot: bot.send_document(
                DEMO_CUSTOMER.id, document=b"x", filename="x.txt", caption="y" * 1025
            ),
        )

    assert raised.value.message == "Message caption is too long"


@pytest.mark.parametrize(
    ("_case", "modes", "error", "message"),
    [
        (
            "flood",
            {"flood_next": 1, "flood_retry_after": 9},
            RetryAfter,
            "Flood control exceeded. Retry in 9 seconds",
        ),
        (
            "blocked",
            {"blocked_by_user": True},
            Forbidden,
            "Forbidden: bot was blocked by the user",
        ),
        (
            "server error",
            {"server_error_next": 1},
            NetworkError,
            "Internal Server Error",
        ),
    ],
)
def test_modes_force_the_errors_telegram_gives(
    sandbox: SandboxServer,
    _case: str,
    modes: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    sandbox.telegram.open_chat()
    assert control(sandbox, "POST", "mode", json=modes).status_code == 200

    with pytest.raises(error) as raised:
        with_bot(sandbox, lambda bot: bot.send_message(DEMO_CUSTOMER.id, "hi"))

    assert str(raised.value) == message
    assert sandbox.telegram.sent == []


def test_counted_modes_are_used_up_and_can_target_one_method(
    sandbox: SandboxServer,
) -> None:
    sandbox.telegram.open_chat()
    sandbox.telegram.set_modes(flood_next=1, failing_method="sendDocument")

    async def calls(bot: Bot):
        await bot.send_message(DEMO_CUSTOMER.id, "first")
        with pytest.raises(RetryAfter):
            await bot.send_document(DEMO_CUSTOMER.id, document=b"x", filename="a.txt")
        await bot.send_document(DEMO_CUSTOMER.id, document=b"x", filename="a.txt")

    with_bot(sandbox, calls)

    assert [s["method"] for s in sandbox.telegram.sent] == [
        "sendMessage",
        "sendDocument",
    ]


def test_files_over_20_mb_cannot_be_fetched_by_bots(sandbox: SandboxServer) -> None:
    big = sandbox.telegram.state.store_file(
        DEMO_BOT.token, "videos", "mp4", bytes(20 * 1024 * 1024 + 1)
    )

    with pytest.raises(BadRequest) as raised:
        with_bot(sandbox, lambda bot: bot.get_file(big.file_id))

    assert raised.value.message == "File is too big"


# --------------------------------------------------------------------------
# The customer side: Updates delivered to the webhook
# --------------------------------------------------------------------------


def test_a_customer_text_is_posted_with_the_secret_header(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    set_webhook(sandbox, receiver.url)

    result = customer_sends(sandbox, text="Hi, my order is late")

    [(headers, body)] = receiver.posts
    assert headers["x-telegram-bot-api-secret-token"] == SECRET
    assert headers["content-type"] == "application/json"
    update = json.loads(body)
    assert update == result["update"]
    assert result["delivery"] == {
        "url": receiver.url,
        "status_code": 200,
        "body": '{"status":"accepted"}',
    }
    parsed = Update.de_json(update, None)
    assert parsed.update_id == result["update_id"]
    assert parsed.effective_message.text == "Hi, my order is late"
    assert parsed.effective_chat.type == "private"
    assert parsed.effective_user.id == DEMO_CUSTOMER.id
    assert parsed.effective_user.full_name == "Casey Customer"


def test_update_ids_increase_and_message_ids_count_per_chat(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    set_webhook(sandbox, receiver.url)
    other = {"id": 5100000077, "first_name": "Robin"}

    first = customer_sends(sandbox, text="one")
    second = customer_sends(sandbox, text="two")
    elsewhere = customer_sends(sandbox, text="hello", customer=other)

    assert second["update_id"] == first["update_id"] + 1
    assert elsewhere["update_id"] == second["update_id"] + 1
    assert second["message_id"] == first["message_id"] + 1
    assert elsewhere["message_id"] == 1  # the first message of a new chat
    assert elsewhere["update"]["message"]["chat"] == {
        "id": 5100000077,
        "first_name": "Robin",
        "type": "private",
    }


def test_a_customer_photo_comes_in_sizes_and_the_largest_downloads(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    set_webhook(sandbox, receiver.url)

    update = customer_sends(sandbox, kind="photo", text="The box")["update"]

    message = Update.de_json(update, None).message
    assert message.caption == "The box"
    assert [size.width for size in message.photo] == [90, 1280]

    async def calls(bot: Bot) -> bytes:
        found = await bot.get_file(message.photo[-1].file_id)
        assert found.file_path.endswith(".jpg")
        return bytes(await found.download_as_bytearray())

    assert with_bot(sandbox, calls) == sample_png()


@pytest.mark.parametrize(
    ("kind", "field", "expected"),
    [
        (
            "document",
            "document",
            {"file_name": "receipt-4411.txt", "mime_type": "text/plain"},
        ),
        ("voice", "voice", {"mime_type": "audio/ogg", "duration": 3}),
        ("location", "location", {"latitude": 51.5, "longitude": -0.12}),
    ],
)
def test_other_customer_messages_have_telegrams_shape(
    sandbox: SandboxServer,
    receiver: Receiver,
    kind: str,
    field: str,
    expected: dict[str, Any],
) -> None:
    set_webhook(sandbox, receiver.url)

    update = customer_sends(sandbox, kind=kind, latitude=51.5, longitude=-0.12)[
        "update"
    ]

    content = update["message"][field]
    assert {key: content[key] for key in expected} == expected


def test_an_uploaded_customer_file_is_what_the_bot_downloads(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    set_webhook(sandbox, receiver.url)
    file = {
        "name": "plan.pdf",
        "content_type": "application/pdf",
        "content_base64": "JVBERi0xLjQ=",
    }

    update = customer_sends(sandbox, kind="document", file=file)["update"]

    document = update["message"]["document"]
    assert (document["file_name"], document["file_size"]) == ("plan.pdf", 8)

    async def calls(bot: Bot) -> bytes:
        found = await bot.get_file(document["file_id"])
        return bytes(await found.download_as_bytearray())

    assert with_bot(sandbox, calls) == b"%PDF-1.4"


def test_an_edit_arrives_as_edited_message(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    set_webhook(sandbox, receiver.url)
    sent = customer_sends(sandbox, text="order 4411")

    edited = customer_sends(sandbox, kind="edit", text="order 4412")["update"]

    message = Update.de_json(edited, None).edited_message
    assert message.message_id == sent["message_id"]
    assert message.text == "order 4412"
    assert message.edit_date is not None


def test_a_photo_caption_can_be_edited_but_a_location_cannot(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    set_webhook(sandbox, receiver.url)
    customer_sends(sandbox, kind="photo", text="old caption")
    edited = customer_sends(sandbox, kind="edit", text="new caption")["update"]
    customer_sends(sandbox, kind="location", latitude=1, longitude=2)

    response = control(
        sandbox, "POST", "customer/message", json={"kind": "edit", "text": "x"}
    )

    assert edited["edited_message"]["caption"] == "new caption"
    assert "text" not in edited["edited_message"]
    assert response.status_code == 400
    assert response.json()["error"].endswith("has no text or caption to edit")


def test_a_reply_quotes_the_message(sandbox: SandboxServer, receiver: Receiver) -> None:
    set_webhook(sandbox, receiver.url)
    first = customer_sends(sandbox, text="first")

    update = customer_sends(
        sandbox, text="about that", reply_to_message_id=first["message_id"]
    )["update"]

    assert update["message"]["reply_to_message"]["text"] == "first"


def test_update_kinds_outside_allowed_updates_are_not_delivered(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    set_webhook(sandbox, receiver.url, allowed_updates=["message"])
    customer_sends(sandbox, text="hello")

    result = customer_sends(sandbox, kind="edit", text="hello!")

    assert result["delivery"]["body"] == (
        "not delivered: edited_message is not in allowed_updates"
    )
    assert len(receiver.posts) == 1


def test_redelivery_posts_the_same_bytes(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    set_webhook(sandbox, receiver.url)
    first = customer_sends(sandbox, text="hello")

    response = control(
        sandbox, "POST", "customer/redeliver", json={"update_id": first["update_id"]}
    )

    assert response.status_code == 200
    assert receiver.posts[0][1] == receiver.posts[1][1]


def test_a_failed_delivery_shows_in_webhook_info(sandbox: SandboxServer) -> None:
    with Receiver(status=500) as failing:
        set_webhook(sandbox, failing.url)
        result = customer_sends(sandbox, text="hello")

    info = with_bot(sandbox, lambda bot: bot.get_webhook_info())

    assert result["delivery"]["status_code"] == 500
    assert info.last_error_message == "Wrong response from the webhook: 500"


@pytest.mark.parametrize(
    ("_case", "body", "status", "error"),
    [
        (
            "no webhook",
            {"text": "hi"},
            409,
            "@pingback_demo_bot has no webhook: call setWebhook first",
        ),
        ("unknown bot", {"text": "hi", "bot": "nobody_bot"}, 404, "no bot @nobody_bot"),
        ("empty text", {"text": " "}, 400, "a text needs a non-empty text"),
        (
            "unknown kind",
            {"kind": "dice"},
            400,
            "kind must be one of "
            "('text', 'photo', 'document', 'voice', 'location', 'edit')",
        ),
    ],
)
def test_impossible_customer_actions_are_refused(
    sandbox: SandboxServer, _case: str, body: dict[str, Any], status: int, error: str
) -> None:
    response = control(sandbox, "POST", "customer/message", json=body)

    assert response.status_code == status
    assert response.json() == {"error": error}


def test_reset_forgets_webhooks_chats_and_sends_but_keeps_bots(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    set_webhook(sandbox, receiver.url)
    customer_sends(sandbox, text="hi")
    with_bot(sandbox, lambda bot: bot.send_message(DEMO_CUSTOMER.id, "hello"))

    sandbox.reset()

    assert sandbox.telegram.webhook() is None
    assert (sandbox.telegram.sent, sandbox.telegram.inbound) == ([], [])
    assert with_bot(sandbox, lambda bot: bot.get_me()).username == "pingback_demo_bot"
    with pytest.raises(BadRequest):
        with_bot(sandbox, lambda bot: bot.send_message(DEMO_CUSTOMER.id, "again"))


# --------------------------------------------------------------------------
# Demo page
# --------------------------------------------------------------------------


def test_the_demo_page_form_sends_a_photo_and_lists_it(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    set_webhook(sandbox, receiver.url)
    photo = sample_png(8, 8)

    response = requests.post(
        f"{sandbox.url}/_sandbox/telegram/ui/message",
        data={"kind": "photo", "text": "look <here>"},
        files={"file": ("mine.png", photo, "image/png")},
        allow_redirects=False,
        timeout=15,
    )
    page = requests.get(f"{sandbox.url}/", timeout=5).text

    assert response.status_code == 303
    assert "delivered" in response.headers["Location"]
    [update] = receiver.json_bodies()
    assert update["message"]["caption"] == "look <here>"
    assert "Telegram sandbox" in page
    assert "look &lt;here&gt;" in page
    assert "<here>" not in page
    [stored] = [
        f
        for f in sandbox.telegram.state.files.values()
        if f.file_id == update["message"]["photo"][-1]["file_id"]
    ]
    assert stored.content == photo


def test_another_customer_can_write(sandbox: SandboxServer, receiver: Receiver) -> None:
    set_webhook(sandbox, receiver.url)
    customer = TelegramCustomer(id=5100000099, first_name="Sam", username="sam_s")

    update = customer_sends(sandbox, text="hi", customer=customer.as_public())["update"]

    assert update["message"]["from"]["username"] == "sam_s"
    assert sandbox.telegram.inbound[0]["customer"]["id"] == 5100000099

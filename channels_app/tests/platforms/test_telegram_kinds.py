"""Telegram groups, channels and every message kind, as the agent sees them:
groups and supergroups as one conversation each, naming who wrote; service
messages; stickers, polls, contacts, dice; albums as one message; a blocked
bot and a bot removed from a group.

Payloads are shaped as the Bot API reference gives them
(https://core.telegram.org/bots/api): Update (`message`, `edited_message`,
`channel_post`, `my_chat_member`), Message (`media_group_id`, `sender_chat`,
`new_chat_members`, `sticker`, `poll`, `dice`, `animation`), Chat, Sticker,
Poll, ChatMemberUpdated and ChatMember. Webhooks go through the Django test
client with the secret token; Telegram-side calls go to the sandbox's
stand-in through python-telegram-bot; Celery tasks run eagerly. What each
fixture parses to is in its expectation file, checked by the contract suite
(`contract/`).
"""

import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from channels_app.models import InboundEvent
from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    MessageEdit,
)
from channels_app.tests.platforms.contract.kits.telegram import KIT
from channels_app.tests.platforms.fixtures import fixture_bytes
from channels_app.tests.platforms.test_telegram import (
    PNG,
    epoch,
    reply,
    telegram_channel,
)
from conversations.models import Conversation, Message
from conversations.services.ingest import ingest
from sandbox.platforms.telegram.standin import DEMO_BOT, DEMO_CUSTOMER
from sandbox.platforms.telegram.state import TelegramGroup

pytestmark = pytest.mark.django_db


ALBUM = "5100000001:album:13851279430983642"


def album_photo(suffix: str) -> dict:
    return {"ref": f"AgACAgQAAxkBAAIBf2dXs-{suffix}-large"}


FRONT = album_photo("front")
BACK = album_photo("back")


def parse(name: str):
    return get_platform("telegram").parse(KIT.build(), fixture_bytes("telegram", name))


def thread_html(member, conversation: Conversation) -> str:
    client = Client()
    client.force_login(member.user)
    url = reverse("conversation", kwargs={"conversation_id": conversation.pk})
    return client.get(url).content.decode()


def post(client, channel, update: bytes | str, callbacks):
    """POST one update (a fixture name, or its bytes) and run its ingest."""
    body = fixture_bytes("telegram", update) if isinstance(update, str) else update
    with callbacks(execute=True):
        return KIT.deliver(client, channel, body)


# ------------------------------------------------------------ parsing, pure


def test_a_kind_telegram_adds_later_is_unsupported_never_dropped():
    update = json.loads(fixture_bytes("telegram", "message__dice"))
    del update["message"]["dice"]
    update["message"]["checklist"] = {"title": "Returns", "tasks": []}

    [message] = (
        get_platform("telegram").parse(KIT.build(), json.dumps(update).encode()).items
    )

    assert (message.kind, message.text) == (
        "unsupported",
        "Unsupported message: checklist",
    )
    assert message.details["raw"] == update


# ------------------------------------------------------------ groups, end to end


@pytest.fixture
def group_channel(business, sandbox):
    """The demo bot's channel; the bot is a member of the Acme Customers
    supergroup."""
    sandbox.telegram.open_group(
        TelegramGroup(id=-1001234567890, title="Acme Customers")
    )
    return telegram_channel(business=business)


@pytest.fixture
def to_group(client, group_channel, django_capture_on_commit_callbacks):
    """Deliver an update (a fixture name) to the group's channel, ingested."""
    return lambda name: post(
        client, group_channel, name, django_capture_on_commit_callbacks
    )


def test_a_group_is_one_conversation_and_each_message_shows_its_writer(
    agent_member, to_group
):
    # given Casey wrote in the group, then an anonymous admin did
    to_group("chat__group")

    # when
    to_group("message__group_anonymous_admin")

    # then
    conversation = Conversation.objects.get()
    assert conversation.thread_key == "chat:-1001234567890"
    assert conversation.contact.name == "Acme Customers"
    assert conversation.contact_identity.external_id == "-1001234567890"
    assert conversation.messages.count() == 2
    html = thread_html(agent_member, conversation)
    assert '<bdi class="author">Casey Customer</bdi>' in html
    assert '<bdi class="author">Acme Customers</bdi>' in html


def test_a_reply_in_a_group_conversation_goes_to_the_group(
    admin_api, sandbox, django_capture_on_commit_callbacks, to_group
):
    to_group("chat__group")

    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, Conversation.objects.get(), "Yes, how can we help?")

    message.refresh_from_db()
    [sent] = sandbox.telegram.sent
    assert (sent["chat_id"], sent["text"]) == (-1001234567890, "Yes, how can we help?")
    assert message.status == "sent"
    assert message.platform_message_id == f"-1001234567890:{sent['message_id']}"


def test_an_edit_in_a_group_changes_the_shown_text(to_group):
    to_group("chat__group")

    to_group("edited_message__group")

    message = Message.objects.get()
    assert message.text == "@pingback_demo_bot is anyone there? Order #4411"
    assert message.edited_at == epoch(1763713160)


def test_a_channel_post_opens_the_channels_conversation(to_group):
    to_group("channel_post__text")

    conversation = Conversation.objects.get()
    assert conversation.contact.name == "Acme News"
    assert conversation.contact_identity.handle == "acme_news"
    assert conversation.messages.get().text == "Deliveries resume on Monday."


def test_a_group_upgraded_to_a_supergroup_keeps_its_conversation(to_group):
    # given a conversation with the group, before its upgrade
    to_group("message__group_text")

    # when it becomes the supergroup, which then writes
    to_group("message__group_migrated")
    to_group("chat__group")

    # then
    conversation = Conversation.objects.get()
    assert conversation.thread_key == "chat:-1001234567890"
    assert conversation.contact_identity.external_id == "-1001234567890"
    assert list(
        conversation.messages.order_by("pk").values_list("text", flat=True)
    ) == [
        "Hello from the old group",
        "@pingback_demo_bot is anyone there?",
    ]


def test_a_forwarded_message_shows_where_it_came_from(
    client, business, agent_member, django_capture_on_commit_callbacks
):
    channel = telegram_channel(business=business)

    post(client, channel, "message__forwarded", django_capture_on_commit_callbacks)

    html = thread_html(agent_member, Conversation.objects.get())
    assert "Forwarded from" in html
    assert 'href="https://t.me/acme_news/12"' in html


def test_removed_from_the_group_replies_there_fail_at_once_with_the_reason(
    admin_api, sandbox, django_capture_on_commit_callbacks, to_group
):
    # given
    to_group("chat__group")

    # when
    to_group("my_chat_member__removed_from_group")
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, Conversation.objects.get(), "Still there?")

    # then
    message.refresh_from_db()
    assert (message.status, message.error) == (
        "failed",
        "The customer opted out of messages on this channel: the bot was removed "
        "from the group.",
    )
    assert sandbox.telegram.sent == []


# ------------------------------------------------------------- kinds, end to end


@pytest.mark.parametrize(
    ("fixture", "shown"),
    [
        ("message__sticker", "\U0001f64f</div>"),
        ("message__venue", "Location: <bdi>Leeds Depot</bdi>"),
        ("message__contact", "Contact: Jordan Neighbour, +447700900123"),
        ("message__poll", "Poll: Which colour?<br>- Blue<br>- Red"),
        ("message__poll_quiz", "- White (correct answer)"),
        ("message__dice", "Unsupported message: dice"),
    ],
)
def test_each_kind_shows_in_the_thread(
    client, business, agent_member, django_capture_on_commit_callbacks, fixture, shown
):
    """What the agent reads in the thread, Telegram's file fetch aside (the
    sandbox holds no file for these ids)."""
    channel = telegram_channel(business=business)

    post(client, channel, fixture, django_capture_on_commit_callbacks)

    html = thread_html(agent_member, Conversation.objects.get())
    assert shown in html


def test_a_dice_roll_is_shown_with_the_event_as_received(
    client, business, agent_member, django_capture_on_commit_callbacks
):
    channel = telegram_channel(business=business)

    post(client, channel, "message__dice", django_capture_on_commit_callbacks)

    message = Message.objects.get()
    assert message.kind == "unsupported"
    html = thread_html(agent_member, message.conversation)
    assert "Show the event as received" in html
    assert "&quot;value&quot;: 4" in html


# ------------------------------------------------------------------- albums


def album_part(fixture: str, file_id: str, update_id: int | None = None) -> bytes:
    update = json.loads(fixture_bytes("telegram", fixture))
    update["message"]["photo"][-1]["file_id"] = file_id
    if update_id is not None:
        update["update_id"] = update_id
    return json.dumps(update).encode()


@pytest.mark.parametrize("order", ["in order", "second part first"])
def test_an_album_is_one_message_with_every_photo_and_the_caption(
    client, business, django_capture_on_commit_callbacks, order
):
    channel = telegram_channel(business=business)
    parts = ["message__album_first", "message__album_second"]
    if order == "second part first":
        parts.reverse()

    for part in parts:
        post(client, channel, part, django_capture_on_commit_callbacks)

    message = Message.objects.get()
    assert message.platform_message_id == ALBUM
    assert message.text == "Both sides of the box"
    assert sorted(a["ref"] for a in message.attachments) == sorted(
        [FRONT["ref"], BACK["ref"]]
    )
    conversation = Conversation.objects.get()
    assert conversation.unread_count == 1
    assert conversation.last_message_preview == "Both sides of the box"


def test_album_parts_drained_in_one_batch_make_one_message(
    client, business, django_capture_on_commit_callbacks
):
    """Both webhooks are stored before the worker runs: it parses and
    ingests them together, in one call of `ingest`."""
    channel = telegram_channel(business=business)

    with django_capture_on_commit_callbacks(execute=True):
        for part in ("message__album_second", "message__album_first"):
            KIT.deliver(client, channel, fixture_bytes("telegram", part))

    message = Message.objects.get()
    assert message.text == "Both sides of the box"
    assert [a["ref"] for a in message.attachments] == [BACK["ref"], FRONT["ref"]]
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_an_album_part_delivered_again_adds_nothing(
    client, business, django_capture_on_commit_callbacks
):
    """A redelivered update with a new update_id gets past the event dedupe:
    its photo is already there by its file_id."""
    channel = telegram_channel(business=business)
    for part in ("message__album_first", "message__album_second"):
        post(client, channel, part, django_capture_on_commit_callbacks)
    again = json.loads(fixture_bytes("telegram", "message__album_second"))
    again["update_id"] += 100

    post(
        client, channel, json.dumps(again).encode(), django_capture_on_commit_callbacks
    )

    assert len(Message.objects.get().attachments) == 2
    assert InboundEvent.objects.filter(status="processed").count() == 3


def test_every_photo_of_an_album_is_fetched_and_linked(
    admin_api, client, business, sandbox, django_capture_on_commit_callbacks
):
    # given Telegram holds both photos
    channel = telegram_channel(business=business)
    front = sandbox.telegram.state.store_file(DEMO_BOT.token, "photos", "jpg", PNG)
    back = sandbox.telegram.state.store_file(DEMO_BOT.token, "photos", "jpg", PNG * 2)

    # when the parts arrive one webhook at a time
    for fixture, held in (
        ("message__album_first", front),
        ("message__album_second", back),
    ):
        post(
            client,
            channel,
            album_part(fixture, held.file_id),
            django_capture_on_commit_callbacks,
        )

    # then
    conversation = Conversation.objects.get()
    shown = admin_api.get(f"/api/v1/conversations/{conversation.pk}/messages").json()
    [message] = shown["results"]
    assert [a["size"] for a in message["attachments"]] == [len(PNG), 2 * len(PNG)]
    for attachment, content in zip(message["attachments"], (PNG, PNG * 2), strict=True):
        served = client.get("/" + attachment["link"].split("/", 3)[3])
        assert b"".join(served.streaming_content) == content


# --------------------------------------------------------------- blocked bot


def test_a_customer_who_blocked_the_bot_gets_no_reply_until_they_unblock_it(
    admin_api, client, business, sandbox, django_capture_on_commit_callbacks
):
    # given Casey wrote, then blocked the bot
    sandbox.telegram.open_chat(DEMO_CUSTOMER)
    channel = telegram_channel(business=business)
    post(client, channel, "message__text", django_capture_on_commit_callbacks)
    post(client, channel, "my_chat_member__blocked", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        refused = reply(admin_api, conversation, "Did the parcel arrive?")

    # then it fails at once, without a call to Telegram
    refused.refresh_from_db()
    assert (refused.status, refused.error) == (
        "failed",
        "The customer opted out of messages on this channel: they blocked the bot "
        "on Telegram.",
    )
    assert sandbox.telegram.sent == []
    assert conversation.contact_identity.external_id == "5100000001"  # Casey

    # when Casey unblocks the bot
    post(
        client, channel, "my_chat_member__unblocked", django_capture_on_commit_callbacks
    )
    with django_capture_on_commit_callbacks(execute=True):
        sent = reply(admin_api, conversation, "Did the parcel arrive?")

    # then
    sent.refresh_from_db()
    assert sent.status == "sent"
    assert [s["text"] for s in sandbox.telegram.sent] == ["Did the parcel arrive?"]


def test_an_album_caption_edit_changes_the_albums_text():
    update = json.loads(fixture_bytes("telegram", "message__album_first"))
    edited = {**update["message"], "edit_date": 1763713800, "caption": "Both sides"}
    body = json.dumps({"update_id": 700000199, "edited_message": edited}).encode()

    parsed = get_platform("telegram").parse(KIT.build(), body)

    assert parsed.items == (
        MessageEdit(ALBUM, text="Both sides", edited_at=epoch(1763713800)),
    )


@pytest.mark.django_db(transaction=True)
def test_album_parts_ingested_at_once_by_several_workers_make_one_message(
    business, monkeypatch
):
    """Each worker ingests one part in its own transaction, all at once: the
    parts that lose the race to store the album wait on its unique platform
    id, read it as a duplicate, then append under the row lock."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent inserts need PostgreSQL")
    fetched: list[int] = []
    monkeypatch.setattr("channels_app.tasks.fetch_message_media.delay", fetched.append)
    channel = telegram_channel(business=business)
    bodies = [fixture_bytes("telegram", "message__album_first")]
    for number in range(2, 6):
        update = json.loads(fixture_bytes("telegram", "message__album_second"))
        update["message"]["message_id"] += number
        update["message"]["photo"][-1]["file_id"] = f"AgACAgQ-part-{number}"
        bodies.append(json.dumps(update).encode())
    items = [get_platform("telegram").parse(channel, body).items for body in bodies]
    start = threading.Barrier(len(items))
    errors: list[BaseException] = []

    def run(part) -> None:
        try:
            start.wait()
            ingest(channel=channel, items=part)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(part,)) for part in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    message = Message.objects.get()
    assert message.text == "Both sides of the box"
    assert len(message.attachments) == 5
    assert len({a["ref"] for a in message.attachments}) == 5
    assert set(fetched) == {message.pk}


def test_an_edited_channel_post_changes_the_posts_text():
    update = json.loads(fixture_bytes("telegram", "channel_post__text"))
    post = {**update["channel_post"], "edit_date": 1763713300, "text": "Monday 9am."}
    body = json.dumps({"update_id": 700000198, "edited_channel_post": post}).encode()

    parsed = get_platform("telegram").parse(KIT.build(), body)

    assert parsed.items == (
        MessageEdit(
            "-1009876543210:12", text="Monday 9am.", edited_at=epoch(1763713300)
        ),
    )


def test_a_quiz_with_several_right_answers_marks_each():
    """Newer Bot API versions give `correct_option_ids`, a list."""
    update = json.loads(fixture_bytes("telegram", "message__poll_quiz"))
    poll = update["message"]["poll"]
    del poll["correct_option_id"]
    poll["correct_option_ids"] = [0, 2]

    [message] = (
        get_platform("telegram").parse(KIT.build(), json.dumps(update).encode()).items
    )

    assert message.text == (
        "Quiz: Which box did the kettle come in?\n- Brown (correct answer)\n"
        "- White\n- Blue (correct answer)"
    )


def test_a_customers_reaction_to_a_reply_shows_on_it_until_they_remove_it(
    admin_api,
    client,
    business,
    agent_member,
    sandbox,
    django_capture_on_commit_callbacks,
):
    # given Casey wrote and an agent answered
    sandbox.telegram.open_chat(DEMO_CUSTOMER)
    channel = telegram_channel(business=business)
    post(client, channel, "message__text", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        answer = reply(admin_api, conversation, "A replacement ships today.")
    [sent] = sandbox.telegram.sent

    def reaction(fixture: str) -> bytes:
        update = json.loads(fixture_bytes("telegram", fixture))
        update["message_reaction"]["message_id"] = sent["message_id"]
        return json.dumps(update).encode()

    # when Casey reacts with a thumbs up
    post(
        client,
        channel,
        reaction("message_reaction__emoji"),
        django_capture_on_commit_callbacks,
    )

    # then
    answer.refresh_from_db()
    assert [r["emoji"] for r in answer.reactions] == ["\U0001f44d"]
    assert 'aria-label="Reactions"' in thread_html(agent_member, conversation)

    # when Casey takes it back
    post(
        client,
        channel,
        reaction("message_reaction__removed"),
        django_capture_on_commit_callbacks,
    )

    # then
    answer.refresh_from_db()
    assert answer.reactions == []


def test_a_custom_emoji_reaction_is_ignored_with_the_reason():
    update = json.loads(fixture_bytes("telegram", "message_reaction__emoji"))
    update["message_reaction"]["new_reaction"] = [
        {"type": "custom_emoji", "custom_emoji_id": "5368324170671202286"}
    ]

    parsed = get_platform("telegram").parse(KIT.build(), json.dumps(update).encode())

    assert parsed.items == ()
    assert parsed.ignored == ("custom emoji reaction to message 5100000001:1365",)

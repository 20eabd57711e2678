"""X channels in polling mode (`delivery: polling`): mentions and DMs read
from the X stand-in over real HTTP through tweepy, stored and ingested as
webhooks are, under the same dedupe keys.

The customer writes through the stand-in's own functions (what its control
API does); PingBack reads with `GET /2/users/:id/mentions` and
`GET /2/dm_events` as it would read X.
"""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.services.channels import (
    ConfigInvalid,
    channel_config_clean,
    channel_setup,
    channel_update,
)
from channels_app.services.inbound import inbound_events_drain
from channels_app.services.x_polling import (
    x_channel_poll,
    x_polling_channel_ids,
)
from channels_app.tasks import poll_x_channels
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.contract.kits.x import KIT
from conversations.models import Conversation, Message
from sandbox.platforms.x.delivery import (
    CustomerMessage,
    send_customer_dm,
    send_customer_mention,
)
from sandbox.platforms.x.payloads import DEMO_APP, DEMO_CUSTOMER

ACCOUNT = DEMO_APP.account.id
MENTIONS_PATH = f"/2/users/{ACCOUNT}/mentions"
DM_EVENTS_PATH = "/2/dm_events"


def polling_channel(**config) -> Channel:
    """An X channel with the demo app's credentials, set to polling and set
    up (`on_create`) against the stand-in."""
    channel = ChannelFactory(config={"delivery": "polling", **config})
    return channel_setup(channel=channel)


def mention(sandbox, text: str, **extra) -> dict:
    return send_customer_mention(sandbox.x, CustomerMessage(text=text, **extra))


def dm(sandbox, text: str) -> dict:
    return send_customer_dm(sandbox.x, CustomerMessage(text=text))


def reads(sandbox, since: int = 0) -> list[dict]:
    """The stand-in's record of PingBack's reads of the two streams."""
    return [
        r
        for r in sandbox.requests(since)
        if r["method"] == "GET" and r["path"] in (MENTIONS_PATH, DM_EVENTS_PATH)
    ]


def last_seq(sandbox) -> int:
    return max((r["seq"] for r in sandbox.requests()), default=0)


def poll_and_ingest(channel: Channel):
    result = x_channel_poll(channel_id=channel.pk)
    inbound_events_drain()
    return result


def post_webhook(client, channel: Channel, payload: dict):
    body = json.dumps(payload, separators=(",", ":")).encode()
    return KIT.deliver(client, channel, body)


@pytest.mark.django_db
def test_setup_in_polling_mode_registers_no_webhook_and_is_ready(sandbox):
    channel = polling_channel()

    assert channel.setup_state == "ready", channel.setup_message
    assert "Polling" in channel.setup_message
    assert sandbox.x.webhooks == []
    assert sandbox.x.subscriptions == []
    assert channel.config["account_id"] == ACCOUNT
    started = datetime.fromisoformat(channel.config["polling"]["started_at"])
    assert abs(started - datetime.now(UTC)) < timedelta(minutes=10)


@pytest.mark.django_db
def test_polling_picks_up_a_mention_and_a_dm(sandbox):
    channel = polling_channel()
    posted = mention(sandbox, "my kettle leaks")
    sent = dm(sandbox, "order 4411 never came")

    result = poll_and_ingest(channel)

    assert (result.status, result.accepted, result.duplicates) == ("polled", 2, 0)
    public = Message.objects.get(platform_message_id=posted["event_id"])
    assert public.text == "@pingback_demo my kettle leaks"
    assert public.conversation.thread_key == f"tweet:{posted['event_id']}"
    private = Message.objects.get(platform_message_id=sent["event_id"])
    assert private.text == "order 4411 never came"
    assert private.conversation.thread_key == f"dm:{DEMO_CUSTOMER.id}"
    identity = private.conversation.contact_identity
    assert identity.handle == DEMO_CUSTOMER.screen_name
    assert identity.external_id == DEMO_CUSTOMER.id
    # Signed OAuth 1.0a user-context reads, as tweepy sends them.
    asked = reads(sandbox)
    assert {r["path"] for r in asked} == {MENTIONS_PATH, DM_EVENTS_PATH}
    assert {(r["auth"]["kind"], r["auth"]["user_id"]) for r in asked} == {
        ("oauth1", ACCOUNT)
    }
    dm_query = next(r["query"] for r in asked if r["path"] == DM_EVENTS_PATH)
    assert "sender_id" in dm_query["expansions"]
    assert "created_at" in dm_query["dm_event.fields"]

    # The next poll asks from the newest id seen and finds nothing new.
    seq = last_seq(sandbox)
    again = poll_and_ingest(channel)
    assert (again.accepted, again.duplicates) == (0, 0)
    mentions_query = next(
        r["query"] for r in reads(sandbox, seq) if r["path"] == MENTIONS_PATH
    )
    assert mentions_query["since_id"] == posted["event_id"]
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_a_polled_item_is_the_message_its_webhook_delivery_is(sandbox):
    """Same platform id, thread, contact, text and time: switching modes
    neither loses nor repeats a message."""
    channel = polling_channel()
    first = mention(sandbox, "where is my parcel")
    reply = mention(sandbox, "still waiting", in_reply_to_tweet_id=first["event_id"])
    private = dm(sandbox, "hello from DMs")
    poll_and_ingest(channel)
    platform = get_platform("x")

    for sent in (first, reply, private):
        webhook_body = json.dumps(sent["payload"]).encode()
        kind = "tweet" if "tweet_create_events" in sent["payload"] else "dm"
        key = f"{ACCOUNT}:{kind}:{sent['event_id']}"
        stored = InboundEvent.objects.get(event_key=key)
        assert platform.parse(channel, bytes(stored.body)).items == (
            platform.parse(channel, webhook_body).items
        )


@pytest.mark.django_db
def test_the_same_mention_arriving_by_webhook_afterwards_is_a_duplicate(
    client, sandbox
):
    channel = polling_channel()
    posted = mention(sandbox, "my kettle leaks")
    sent = dm(sandbox, "and a DM")
    poll_and_ingest(channel)

    for payload in (posted["payload"], sent["payload"]):
        answer = post_webhook(client, channel, payload)
        assert answer.status_code == 200
        assert answer.json() == {"status": "duplicate"}
    inbound_events_drain()

    assert Message.objects.count() == 2
    assert InboundEvent.objects.count() == 2


@pytest.mark.django_db
def test_a_mention_delivered_by_webhook_first_is_not_polled_again(client, sandbox):
    channel = polling_channel()
    posted = mention(sandbox, "my kettle leaks")
    assert post_webhook(client, channel, posted["payload"]).json() == {
        "status": "accepted"
    }
    inbound_events_drain()

    result = poll_and_ingest(channel)

    assert (result.accepted, result.duplicates) == (0, 1)
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_no_read_before_the_rate_limit_window_resets(sandbox):
    """`x-rate-limit-remaining: 0`: the stream is not read again before
    `x-rate-limit-reset`; after it, it is."""
    channel = polling_channel()
    sandbox.x.set_modes({"read_limit": 1, "read_window": 2})
    poll_and_ingest(channel)
    state = Channel.objects.get(pk=channel.pk).config["polling"]
    assert state["mentions"]["paused_until"] > time.time()
    assert state["dm_events"]["paused_until"] > time.time()
    posted = mention(sandbox, "are you there?")

    seq = last_seq(sandbox)
    held = poll_and_ingest(channel)
    assert reads(sandbox, seq) == []
    assert set(held.paused) == {"mentions", "dm_events"}
    assert not Message.objects.exists()

    time.sleep(max(0.0, state["mentions"]["paused_until"] - time.time()) + 0.2)
    poll_and_ingest(channel)
    assert Message.objects.get().platform_message_id == posted["event_id"]


@pytest.mark.django_db
def test_a_429_pauses_the_stream_until_its_reset(sandbox):
    channel = polling_channel()
    sandbox.x.set_modes({"rate_limit_next": 1, "rate_limit_reset_in": 60})
    sent = dm(sandbox, "hello")

    poll_and_ingest(channel)  # mentions: 429; DM events: read

    state = Channel.objects.get(pk=channel.pk).config["polling"]
    assert 30 < state["mentions"]["paused_until"] - time.time() <= 61
    assert Message.objects.get().platform_message_id == sent["event_id"]
    seq = last_seq(sandbox)
    poll_and_ingest(channel)
    assert [r["path"] for r in reads(sandbox, seq)] == [DM_EVENTS_PATH]


@pytest.mark.django_db(transaction=True)
def test_two_polls_at_once_ingest_once(sandbox):
    """Two beats overlapping: one poll holds the channel, the other steps
    aside."""
    channel = polling_channel()
    mention(sandbox, "one")
    dm(sandbox, "two")
    sandbox.x.set_modes({"read_delay": 0.3})
    barrier = threading.Barrier(2)
    statuses: list[str] = []

    def run() -> None:
        try:
            barrier.wait()
            statuses.append(x_channel_poll(channel_id=channel.pk).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    inbound_events_drain()

    assert sorted(statuses) == ["locked", "polled"]
    assert InboundEvent.objects.count() == 2
    assert Message.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_overlapping_polls_without_the_lock_still_store_each_item_once(
    sandbox, monkeypatch
):
    """Should the lock fail (its cache lost), the dedupe keys still hold."""
    channel = polling_channel()
    mention(sandbox, "one")
    dm(sandbox, "two")
    sandbox.x.set_modes({"read_delay": 0.2})

    class NoLock:
        """A cache that grants every lock."""

        def add(self, *args, **kwargs) -> bool:
            return True

        def delete(self, *args, **kwargs) -> None:
            return None

    monkeypatch.setattr("pingback.locks.cache", NoLock())
    barrier = threading.Barrier(2)
    results = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(x_channel_poll(channel_id=channel.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    inbound_events_drain()

    assert [r.status for r in results] == ["polled", "polled"]
    assert sum(r.accepted for r in results) == 2
    assert InboundEvent.objects.count() == 2
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_a_channel_in_webhook_mode_is_not_polled(sandbox):
    webhook_channel = ChannelFactory()
    explicit = ChannelFactory(config={**webhook_channel.config, "delivery": "webhook"})
    mention(sandbox, "hello")
    seq = last_seq(sandbox)

    assert poll_x_channels() == 0
    assert x_channel_poll(channel_id=webhook_channel.pk).status == "skipped"
    assert x_channel_poll(channel_id=explicit.pk).status == "skipped"

    assert reads(sandbox, seq) == []
    assert not InboundEvent.objects.exists()
    polling = polling_channel()
    assert x_polling_channel_ids() == [polling.pk]


@pytest.mark.django_db
def test_the_first_poll_starts_from_now(sandbox):
    """What the account received long before the channel was set up is not
    imported; what came after is."""
    old_post = mention(sandbox, "last year's question")
    old_dm = dm(sandbox, "an old DM")
    for record in sandbox.x.inbound:
        record["created_ms"] -= 3_600_000
    channel = polling_channel()

    result = poll_and_ingest(channel)

    assert (result.accepted, result.duplicates) == (0, 0)
    assert not Message.objects.exists()
    new_post = mention(sandbox, "a new question")
    new_dm = dm(sandbox, "a new DM")
    poll_and_ingest(channel)
    assert set(Message.objects.values_list("platform_message_id", flat=True)) == {
        new_post["event_id"],
        new_dm["event_id"],
    }
    assert old_post["event_id"] != new_post["event_id"]
    assert old_dm["event_id"] != new_dm["event_id"]


@pytest.mark.django_db
def test_dm_events_are_paged_down_to_the_newest_id_seen(sandbox, monkeypatch):
    monkeypatch.setattr("channels_app.platforms.x.POLL_MAX_PAGES", 10)
    channel = polling_channel()
    dm(sandbox, "first")
    poll_and_ingest(channel)
    for number in range(150):
        dm(sandbox, f"later {number}")
    seq = last_seq(sandbox)

    result = poll_and_ingest(channel)

    assert result.accepted == 150
    pages = [r for r in reads(sandbox, seq) if r["path"] == DM_EVENTS_PATH]
    assert len(pages) == 2
    assert "pagination_token" in pages[1]["query"]
    assert Message.objects.count() == 151
    assert Conversation.objects.count() == 1
    newest = Message.objects.order_by("-platform_message_id").first()
    state = Channel.objects.get(pk=channel.pk).config["polling"]
    assert state["dm_events"]["since_id"] == newest.platform_message_id


@pytest.mark.django_db
def test_switching_to_polling_removes_the_webhook_subscription(sandbox, settings):
    sandbox.x.set_modes({"crc_check": False})
    channel = channel_setup(channel=ChannelFactory())
    assert channel.setup_state == "ready", channel.setup_message
    assert sandbox.x.subscriptions != []

    config = channel_config_clean(
        channel_type="x", config={"delivery": "polling"}, current=channel
    )
    channel = channel_update(channel=channel, config=config)

    assert channel.setup_state == "ready", channel.setup_message
    assert channel.config["delivery"] == "polling"
    assert sandbox.x.subscriptions == []


@pytest.mark.django_db
def test_a_webhook_registered_by_hand_loses_the_account_when_polling(sandbox):
    sandbox.x.set_modes({"crc_check": False})
    channel = ChannelFactory(config={"delivery": "polling"})
    url = get_platform("x").webhook_url(channel)
    webhook = sandbox.x.add_webhook(DEMO_APP.consumer_key, url)
    sandbox.x.subscribe(webhook["id"], DEMO_APP.consumer_key, ACCOUNT)

    channel = channel_setup(channel=channel)

    assert channel.setup_state == "ready"
    assert sandbox.x.subscriptions == []


@pytest.mark.django_db
def test_revoked_credentials_stop_polling_with_an_alert(sandbox):
    channel = polling_channel()
    channel.secrets = {**channel.secrets, "access_token": f"{ACCOUNT}-revoked"}
    channel.save()

    result = x_channel_poll(channel_id=channel.pk)

    assert result.status == "failed"
    alert = Channel.objects.get(pk=channel.pk).alert
    assert alert.startswith("X rejected the channel's credentials")


@pytest.mark.django_db
def test_an_unknown_delivery_mode_is_refused_naming_the_field():
    with pytest.raises(ConfigInvalid) as refused:
        channel_config_clean(
            channel_type="x", config={**DEMO_APP.as_config(), "delivery": "push"}
        )

    assert "delivery" in refused.value.errors


@pytest.mark.django_db
def test_a_burst_larger_than_one_poll_is_read_over_several(sandbox, monkeypatch):
    """One page per poll: the second poll goes on below what the first read
    (mentions by `until_id`, DM events by `pagination_token`) instead of
    reading the newest page again, and only then moves the cursor."""
    monkeypatch.setattr("channels_app.platforms.x.POLL_MAX_PAGES", 1)
    channel = polling_channel()
    posts = [mention(sandbox, f"post {n}")["event_id"] for n in range(130)]
    dms = [dm(sandbox, f"dm {n}")["event_id"] for n in range(130)]

    first = x_channel_poll(channel_id=channel.pk)
    state = Channel.objects.get(pk=channel.pk).config["polling"]
    assert first.accepted == 200
    assert "since_id" not in state["mentions"]
    assert state["mentions"]["resume"]["newest_id"] == posts[-1]
    assert state["dm_events"]["resume"]["newest_id"] == dms[-1]

    seq = last_seq(sandbox)
    second = x_channel_poll(channel_id=channel.pk)
    assert (second.accepted, second.duplicates) == (60, 0)
    query = next(r["query"] for r in reads(sandbox, seq) if r["path"] == MENTIONS_PATH)
    assert query["until_id"] == posts[30]
    state = Channel.objects.get(pk=channel.pk).config["polling"]
    assert state["mentions"] == {"since_id": posts[-1]}
    assert state["dm_events"] == {"since_id": dms[-1]}

    inbound_events_drain()
    assert Message.objects.count() == 260
    later = mention(sandbox, "after the burst")
    third = poll_and_ingest(channel)
    assert (third.accepted, third.duplicates) == (1, 0)
    assert Message.objects.filter(platform_message_id=later["event_id"]).exists()


@pytest.mark.django_db
def test_an_x_server_error_on_mentions_does_not_hold_up_the_dms(sandbox):
    channel = polling_channel()
    posted = mention(sandbox, "hello")
    sent = dm(sandbox, "hello by DM")
    sandbox.x.set_modes({"server_error_next": 1})

    first = poll_and_ingest(channel)

    assert (first.status, first.accepted) == ("failed", 1)
    assert Message.objects.get().platform_message_id == sent["event_id"]
    second = poll_and_ingest(channel)
    assert (second.status, second.accepted) == ("polled", 1)
    assert Message.objects.filter(platform_message_id=posted["event_id"]).exists()


def test_a_group_dm_is_kept_as_unsupported_in_the_senders_thread():
    """The event as X's "Direct Messages lookup: integrate" guide gives a
    group message (`dm_conversation_id` without a `-`)."""
    channel = ChannelFactory.build()
    event = {
        "id": "1582838499983564806",
        "event_type": "MessageCreate",
        "text": "Hi everyone.",
        "sender_id": "944480690",
        "dm_conversation_id": "1578398451921985538",
        "created_at": "2022-10-19T20:58:00.000Z",
    }
    body = json.dumps(
        {
            "pingback_polled": "dm_events",
            "account_id": ACCOUNT,
            "data": event,
            "includes": {},
        }
    ).encode()

    parsed = get_platform("x").parse(channel, body)

    (message,) = parsed.items
    assert message.kind == "unsupported"
    assert message.text.startswith("Unsupported message: a message in a group DM")
    assert message.thread_key == "dm:944480690"
    assert message.details == {"raw": event}
    assert parsed.event_key == f"{ACCOUNT}:dm:1582838499983564806"


def test_the_beat_schedule_names_the_x_polling_task(settings):
    from pingback.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["poll-x-channels"]

    assert app.tasks[entry["task"]].name == poll_x_channels.name
    assert entry["schedule"] == settings.X_POLL_INTERVAL


@pytest.mark.django_db
def test_the_beat_task_polls_each_polling_channel_into_conversations(
    sandbox, django_capture_on_commit_callbacks
):
    channel = polling_channel()
    ChannelFactory(business=channel.business)  # webhook mode: not polled
    sent = dm(sandbox, "via the beat")

    with django_capture_on_commit_callbacks(execute=True):
        scheduled = poll_x_channels.delay().get()

    assert scheduled == 1
    conversation = Conversation.objects.get()
    assert conversation.channel_id == channel.pk
    assert conversation.messages.get().platform_message_id == sent["event_id"]

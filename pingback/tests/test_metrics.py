"""`/metrics` (pingback/health.py, pingback/metrics.py): what Prometheus
scrapes after real webhooks, deliveries and backlogs. Counters live in the
real Redis under PINGBACK_REQUIRE_SERVICES=1 (shared by runs: tests compare
before and after), in memory otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from channels_app.models import InboundEvent
from channels_app.services.delivery import message_deliver
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.contract.kits.telegram import KIT
from channels_app.tests.platforms.fixtures import fixture_bytes
from channels_app.tests.platforms.test_telegram import telegram_channel
from conversations.models import Conversation
from conversations.tests.factories import ConversationFactory, ReplyFactory
from pingback import metrics
from pingback.testing import ROOT, current_database_url, wait_for
from sandbox.platforms.telegram.standin import DEMO_CUSTOMER

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture(autouse=True)
def _metrics_token(settings) -> None:
    settings.PINGBACK_METRICS_TOKEN = TOKEN


def scrape(client) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape: {(sample name, labels): value}."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def webhooks(samples, outcome: str, platform: str = "telegram") -> float:
    labels = frozenset({"platform": platform, "outcome": outcome}.items())
    return samples[("pingback_webhooks_received_total", labels)]


def update(number: int) -> bytes:
    """The Telegram text-message update, with update and message id `number`."""
    body = json.loads(fixture_bytes("telegram", "message__text"))
    body["update_id"] = 700_000_000 + number
    body["message"]["message_id"] = number
    return json.dumps(body).encode()


# ------------------------------------------------------------------ access


def test_metrics_is_not_found_without_a_token_configured(client, settings):
    settings.PINGBACK_METRICS_TOKEN = ""

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    ["", f"Basic {TOKEN}", "Bearer wrong-token", f"Bearer {TOKEN}x"],
)
def test_metrics_refuses_a_missing_or_wrong_token(client, authorization):
    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"pingback_" not in response.content
    assert "Set-Cookie" not in response


# ---------------------------------------------------------------- counters


def test_webhook_counters_move_by_exactly_the_deliveries_posted(client):
    channel = telegram_channel()
    before = scrape(client)

    for number in range(1, 6):
        assert KIT.deliver(client, channel, update(number)).status_code == 200
    assert KIT.deliver(client, channel, update(1)).json() == {"status": "duplicate"}
    for number in range(6, 9):
        response = client.post(
            f"/api/v1/webhooks/telegram/{channel.id}",
            data=update(number),
            content_type="application/json",
            **KIT.signed(channel, update(number), secret="forged"),
        )
        assert response.status_code == 403
    assert KIT.deliver(client, channel, b'{"update_id": ').status_code == 400

    after = scrape(client)
    moved = {
        outcome: webhooks(after, outcome) - webhooks(before, outcome)
        for outcome in metrics.WEBHOOK_OUTCOMES
    }
    assert moved == {
        "accepted": 5,
        "duplicate": 1,
        "ignored": 0,
        "forged": 3,
        "malformed": 1,
        "too_large": 0,
    }
    # Other platforms' counters did not move.
    assert webhooks(after, "accepted", "x") == webhooks(before, "accepted", "x")


def test_counts_of_another_process_reach_the_scrape(client, settings, tmp_path):
    """A process writes its counts to Redis in the background and at exit,
    not one round trip per webhook: a burst of 200 counted by a process that
    then exits is in the next scrape of this one, exactly."""
    if not settings.REDIS_URL:
        pytest.skip("counts are shared between processes through Redis")
    before = webhooks(scrape(client), "duplicate", "x")
    script = (
        "import django; django.setup()\n"
        "from pingback import metrics\n"
        "for _ in range(200):\n"
        "    metrics.webhook_received('x', 'duplicate')\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pingback.settings",
        "DATABASE_URL": current_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PINGBACK_ALLOW_DEV_KEYS": "1",
    }
    subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, check=True, timeout=60
    )

    assert webhooks(scrape(client), "duplicate", "x") == before + 200


def test_an_unknown_channel_counts_under_no_platform_label(client):
    before = scrape(client)

    response = client.post(
        "/api/v1/webhooks/made-up-platform/00000000-0000-0000-0000-000000000000",
        data=b"{}",
        content_type="application/json",
    )

    assert response.status_code == 404
    after = scrape(client)
    assert not any(
        dict(labels).get("platform") == "made-up-platform" for _, labels in after
    )
    assert sum(
        value for (name, _), value in after.items() if name.startswith("pingback_web")
    ) == sum(
        value for (name, _), value in before.items() if name.startswith("pingback_web")
    )


@pytest.fixture
def conversation(client, business, sandbox, django_capture_on_commit_callbacks):
    channel = telegram_channel(business=business)
    sandbox.telegram.open_chat(DEMO_CUSTOMER)
    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, fixture_bytes("telegram", "message__text"))
    return Conversation.objects.get()


def test_reply_outcomes_and_delivery_latency(client, conversation, sandbox):
    labels = {
        outcome: frozenset({"platform": "telegram", "outcome": outcome}.items())
        for outcome in metrics.REPLY_OUTCOMES
    }
    telegram = frozenset({"platform": "telegram"}.items())

    def bucket(le: str) -> frozenset:
        return frozenset({"platform": "telegram", "le": le}.items())

    before = scrape(client)
    # A reply written 40 s ago is sent now; one is refused for a while
    # (flood control), one goes nowhere (the channel was deactivated).
    sent = ReplyFactory(conversation=conversation, text="Sent after 40 s")
    sent.__class__.objects.filter(pk=sent.pk).update(
        created_at=timezone.now() - timedelta(seconds=40)
    )
    assert message_deliver(message_id=sent.pk).status == "sent"
    sandbox.telegram.set_modes(flood_next=1, flood_retry_after=7)
    retried = ReplyFactory(conversation=conversation, text="Flooded")
    assert message_deliver(message_id=retried.pk).status == "retry"
    conversation.channel.is_active = False
    conversation.channel.save(update_fields=["is_active"])
    # In another conversation of the channel: one of this conversation would
    # wait for the flooded reply (a conversation's replies go in order).
    other = ConversationFactory(
        business=conversation.business, channel=conversation.channel
    )
    failed = ReplyFactory(conversation=other, text="Nowhere to go")
    assert message_deliver(message_id=failed.pk).status == "failed"

    after = scrape(client)

    def moved(name: str, key: frozenset) -> float:
        return after[(name, key)] - before[(name, key)]

    assert {o: moved("pingback_replies_total", labels[o]) for o in labels} == {
        "sent": 1,
        "failed": 1,
        "retry": 1,
    }
    assert moved("pingback_reply_delivery_seconds_count", telegram) == 1
    assert 40 <= moved("pingback_reply_delivery_seconds_sum", telegram) < 60
    assert moved("pingback_reply_delivery_seconds_bucket", bucket("30.0")) == 0
    assert moved("pingback_reply_delivery_seconds_bucket", bucket("60.0")) == 1
    assert moved("pingback_reply_delivery_seconds_bucket", bucket("+Inf")) == 1


# ------------------------------------------------------------------ gauges


def test_backlog_gauges_are_read_from_the_database(client):
    assert scrape(client)[
        ("pingback_inbound_oldest_unprocessed_seconds", frozenset())
    ] == (0)
    channel = ChannelFactory()
    now = timezone.now()
    for status, age in [("received", 120), ("processing", 30), ("processed", 900)]:
        event = InboundEvent.objects.create(
            channel=channel, event_key=f"e-{status}", body=b"{}", status=status
        )
        InboundEvent.objects.filter(pk=event.pk).update(
            received_at=now - timedelta(seconds=age)
        )
    for status in ["queued", "queued", "sending", "sent", "failed"]:
        ReplyFactory(conversation__channel=channel, status=status)
    ChannelFactory(paused_until=now + timedelta(minutes=5))
    ChannelFactory(paused_until=now - timedelta(minutes=5))
    ChannelFactory(alert="The access token was revoked.")
    ChannelFactory(alert="Deactivated and alerted.", is_active=False)

    samples = scrape(client)

    oldest = samples[("pingback_inbound_oldest_unprocessed_seconds", frozenset())]
    assert 120 <= oldest < 180
    waiting = "pingback_outbound_messages_waiting"
    assert samples[(waiting, frozenset({"status": "queued"}.items()))] == 2
    assert samples[(waiting, frozenset({"status": "sending"}.items()))] == 1
    assert samples[("pingback_channels_paused", frozenset())] == 1
    assert samples[("pingback_channels_in_alert", frozenset())] == 1


def test_websocket_connections_add_up(client):
    def widgets() -> float:
        kind = frozenset({"kind": "widget"}.items())
        return scrape(client)[("pingback_websocket_connections", kind)]

    before = widgets()
    metrics.websocket_opened("widget")
    metrics.websocket_opened("widget")
    try:
        # Published by a thread of this process when Redis is configured.
        wait_for(lambda: widgets() == before + 2, timeout=5)
    finally:
        metrics.websocket_closed("widget")
        metrics.websocket_closed("widget")
    wait_for(lambda: widgets() == before, timeout=5)

"""Away messages end to end: the live server, a real Celery worker and the
sandbox's Telegram stand-in over HTTP. The business's hours are set through
the API so that the present moment is outside them (or inside, for the
control case), whatever day the test runs on."""

from __future__ import annotations

import pytest
from django.utils import timezone

from channels_app.tests import e2e
from conversations.models import Conversation, Message
from pingback.testing import wait_for
from sandbox.platforms.telegram.standin import DEMO_BOT, DEMO_CUSTOMER
from workspace.hours import WEEKDAYS
from workspace.models import AwayMessage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AWAY = "Thanks for writing! We are closed now and answer from 9:00."
ALL_DAY = [{"opens": "00:00", "closes": "24:00"}]


@pytest.fixture
def live(live_server, sandbox, settings, celery_worker, admin_member):
    """The stack, with a Telegram channel created through the API and its
    away message turned on."""
    stack = e2e.live_stack(
        live_server,
        settings,
        admin_member,
        sandbox,
        "telegram",
        {"bot_token": DEMO_BOT.token},
    )
    AwayMessage.objects.create(
        channel_id=stack["channel"]["id"], enabled=True, body=AWAY
    )
    return stack


def set_hours(live, *, open_now: bool) -> None:
    """Open all day, every day; or only on the day three days from today (UTC,
    the business's zone), so that now, yesterday and tomorrow are closed."""
    if open_now:
        week = {day: ALL_DAY for day in WEEKDAYS}
    else:
        open_day = WEEKDAYS[(timezone.now().weekday() + 3) % 7]
        week = {day: ALL_DAY if day == open_day else [] for day in WEEKDAYS}
    answer = live["api"].patch(
        f"{live['url']}/api/v1/business/", json={"business_hours": week}, timeout=10
    )
    assert answer.status_code == 200, answer.text


def customer_sends(live, path: str = "customer/message", **body) -> dict:
    return e2e.sandbox_control(live, "telegram", path, **body)


def agent_reply_sent(live, conversation_id: int, text: str) -> None:
    """An agent replies and the worker sends it: the worker runs one task at a
    time in order, so every task queued before (the away message's) is done."""
    queued = e2e.reply(live, conversation_id, json={"text": text})
    assert e2e.message_reaches(queued["id"]).status == "sent"


def texts_sent(live) -> list[str]:
    sent = live["sandbox"].telegram.sent
    assert {item["chat_id"] for item in sent} <= {DEMO_CUSTOMER.id}
    return [item["text"] for item in sent]


def test_a_message_outside_hours_gets_one_away_message(live):
    set_hours(live, open_now=False)

    first = customer_sends(live, text="Hello? Is anyone there?")

    conversation = wait_for(lambda: Conversation.objects.first())
    away = wait_for(
        lambda: Message.objects.filter(details__automatic="away_message").first()
    )
    assert e2e.message_reaches(away.pk).status == "sent"
    assert texts_sent(live) == [AWAY]
    # the API shows agents it was automatic
    shown = e2e.thread(live, conversation.pk)
    assert [(m["direction"], m["details"].get("automatic")) for m in shown] == [
        ("inbound", None),
        ("outbound", "away_message"),
    ]

    # the same webhook delivered again, and a second message the same night
    again = customer_sends(live, "customer/redeliver", update_id=first["update_id"])
    assert again["delivery"]["body"] == '{"status": "duplicate"}'
    customer_sends(live, text="I need help with order #4411")
    wait_for(lambda: Message.objects.filter(direction="inbound").count() == 2)
    agent_reply_sent(live, conversation.pk, "Hi! Looking at it now.")

    assert texts_sent(live) == [AWAY, "Hi! Looking at it now."]


def test_a_message_in_hours_gets_none(live):
    set_hours(live, open_now=True)

    customer_sends(live, text="Hello?")
    conversation = wait_for(lambda: Conversation.objects.first())
    agent_reply_sent(live, conversation.pk, "Hello! How can I help?")

    assert texts_sent(live) == ["Hello! How can I help?"]
    assert not Message.objects.filter(details__automatic="away_message").exists()

"""Customer satisfaction end to end: the live server, a real Celery worker
and the sandbox's Telegram stand-in over HTTP. An agent resolves through the
API; the worker sends the question with the rating link to the customer on
Telegram; the customer opens the link and rates; the API's report counts
it."""

from __future__ import annotations

import re

import pytest
import requests

from channels_app.tests import e2e
from conversations.models import Conversation, Message
from pingback.testing import wait_for
from sandbox.platforms.telegram.standin import DEMO_BOT
from satisfaction.models import SatisfactionRating, SatisfactionSettings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

QUESTION = "Thanks for writing to Acme! How did we do, from 1 to 5?"


@pytest.fixture
def live(live_server, sandbox, settings, celery_worker, admin_member):
    stack = e2e.live_stack(
        live_server,
        settings,
        admin_member,
        sandbox,
        "telegram",
        {"bot_token": DEMO_BOT.token},
    )
    SatisfactionSettings.objects.create(
        business=admin_member.business, enabled=True, question=QUESTION
    )
    return stack


def set_status(live, conversation_id: int, status: str) -> None:
    answer = live["api"].patch(
        f"{live['url']}/api/v1/conversations/{conversation_id}/",
        json={"status": status},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def texts_sent(live) -> list[str]:
    return [item["text"] for item in live["sandbox"].telegram.sent]


def question_sent(live, count: int) -> list[Message]:
    questions = wait_for(
        lambda: (
            found
            if len(
                found := list(
                    Message.objects.filter(details__automatic="csat_request").order_by(
                        "pk"
                    )
                )
            )
            == count
            else None
        )
    )
    for question in questions:
        assert e2e.message_reaches(question.pk).status == "sent"
    return questions


def test_resolving_sends_the_link_and_the_customer_rates(live):
    e2e.sandbox_control(live, "telegram", "customer/message", text="My order is late")
    conversation = wait_for(lambda: Conversation.objects.first())

    set_status(live, conversation.pk, "resolved")

    [question] = question_sent(live, 1)
    [sent] = texts_sent(live)
    first_line, link = sent.split("\n")
    assert first_line == QUESTION
    assert re.fullmatch(rf"{re.escape(live['url'])}/rate/[\w:-]+/", link)
    # the thread and the API show agents it was automatic
    shown = e2e.thread(live, conversation.pk)
    assert [m["details"].get("automatic") for m in shown if m["id"] == question.pk] == [
        "csat_request"
    ]

    # the customer opens the link on their phone and rates
    browser = requests.Session()
    browser.trust_env = False
    form = browser.get(link, timeout=10)
    assert form.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
    rated = browser.post(
        link,
        data={"csrfmiddlewaretoken": csrf, "score": "5", "comment": "Fast!"},
        headers={"Referer": link},
        timeout=10,
        allow_redirects=False,
    )
    assert rated.status_code == 303, rated.text
    assert "5 out of 5" in browser.get(link, timeout=10).text

    rating = SatisfactionRating.objects.get()
    assert (rating.conversation_id, rating.score, rating.comment) == (
        conversation.pk,
        5,
        "Fast!",
    )
    report = live["api"].get(f"{live['url']}/api/v1/reports/csat/", timeout=10).json()
    assert (report["count"], report["average"], report["response_rate"]) == (
        1,
        5.0,
        1.0,
    )


def test_reopened_and_resolved_again_asks_again_never_twice_per_resolution(live):
    e2e.sandbox_control(live, "telegram", "customer/message", text="Hi")
    conversation = wait_for(lambda: Conversation.objects.first())

    set_status(live, conversation.pk, "resolved")
    question_sent(live, 1)
    set_status(live, conversation.pk, "resolved")  # no change: no new resolution
    set_status(live, conversation.pk, "open")
    set_status(live, conversation.pk, "resolved")
    question_sent(live, 2)

    # an agent's reply after both is sent after them: nothing else was queued
    queued = e2e.reply(live, conversation.pk, json={"text": "Anything else?"})
    assert e2e.message_reaches(queued["id"]).status == "sent"
    texts = texts_sent(live)
    assert len(texts) == 3 and texts[-1] == "Anything else?"
    assert all(t.startswith(QUESTION) for t in texts[:2])
    # each resolution has its own link
    assert texts[0] != texts[1]

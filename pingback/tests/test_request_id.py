"""The request id (pingback/logs.py): taken from `X-Request-ID` or made,
returned in the response, and on every JSON log line of the request and of
the Celery tasks it queued, in a real worker."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import requests

from channels_app.tests.platforms.fixtures import fixture_bytes
from channels_app.tests.platforms.test_telegram import telegram_channel
from conversations.models import Message
from conversations.tests.factories import ConversationFactory
from pingback.logs import json_formatter
from pingback.testing import wait_for

pytestmark = pytest.mark.django_db


class JsonLines:
    """What the root logger writes through PingBack's JSON formatter."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(json_formatter())
        self.handler.setLevel(logging.INFO)

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def json_logs() -> Iterator[JsonLines]:
    logs = JsonLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(logs.handler)
    root.setLevel(logging.INFO)
    yield logs
    root.removeHandler(logs.handler)
    root.setLevel(level)


def test_a_given_request_id_is_returned(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42:edge_1")

    assert response["X-Request-ID"] == "lb-7f3a.42:edge_1"


def test_a_request_without_an_id_gets_a_new_one_each_time(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second


@pytest.mark.parametrize(
    "given", ["a" * 65, "has space", "<script>", 'quote"d', "semi;colon", "é"]
)
def test_an_unsafe_request_id_is_replaced(client, given):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=given)

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_the_requests_log_lines_carry_its_id_and_their_extra_fields(client, json_logs):
    channel = telegram_channel()

    response = client.post(
        f"/api/v1/webhooks/telegram/{channel.id}",
        data=fixture_bytes("telegram", "message__text"),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="forged",
        HTTP_X_REQUEST_ID="req-forged-1",
    )

    assert response.status_code == 403
    (line,) = [
        line
        for line in json_logs.lines()
        if line["event"] == "webhook.signature_invalid"
    ]
    assert line["request_id"] == "req-forged-1"
    assert line["level"] == "warning"
    assert line["logger"] == "channels_app.webhooks"
    assert (line["channel_id"], line["platform"]) == (str(channel.id), "telegram")
    # Nothing of the request stays bound after it.
    logging.getLogger("after").warning("later")
    assert "request_id" not in json_logs.lines()[-1]


@pytest.mark.django_db(transaction=True)
def test_over_asgi_the_id_is_returned_and_on_the_requests_log_line(
    asgi_server, json_logs
):
    """Served by uvicorn (the realtime processes), the middleware runs on the
    async path; the view's log line still carries the id."""
    channel = telegram_channel()

    response = requests.post(
        f"{asgi_server.url}/api/v1/webhooks/telegram/{channel.id}",
        data=fixture_bytes("telegram", "message__text"),
        headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": "forged",
            "X-Request-ID": "req-asgi-1",
        },
        timeout=10,
    )

    assert response.status_code == 403
    assert response.headers["X-Request-ID"] == "req-asgi-1"
    (line,) = [
        line
        for line in json_logs.lines()
        if line["event"] == "webhook.signature_invalid"
    ]
    assert line["request_id"] == "req-asgi-1"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_delivery_task_of_a_reply_logs_with_the_replys_request_id(
    sandbox, celery_worker, business, admin_api, json_logs
):
    """An agent's reply is published by the outbox relay (a thread of its
    own) and sent by a real worker: the worker's lines carry the id of the
    request that wrote the reply."""
    conversation = ConversationFactory(business=business)

    response = admin_api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        {"text": "On its way"},
        format="json",
        HTTP_X_REQUEST_ID="req-reply-1",
    )

    assert response.status_code == 202, response.json()
    assert response["X-Request-ID"] == "req-reply-1"
    message_id = response.json()["id"]

    def sent_lines() -> list[dict]:
        return [
            line
            for line in json_logs.lines()
            if line["event"] == "delivery.sent" and line["message_id"] == message_id
        ]

    (line,) = wait_for(sent_lines, timeout=20)
    assert line["request_id"] == "req-reply-1"
    assert line["task"] == "channels.deliver_message"
    assert line["task_id"]
    assert Message.objects.get(pk=message_id).status == "sent"
    # The worker's next task (another request's, or none) does not inherit it.
    lines = json_logs.lines()
    assert all(line.get("request_id") in (None, "req-reply-1") for line in lines), lines

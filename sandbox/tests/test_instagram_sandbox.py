"""Tests of the Instagram stand-in: the Graph API paths it serves, the Meta
dashboard step, and the webhooks it delivers, driven over real HTTP with httpx
(as PingBack's Graph client) against a running ``SandboxServer``. Webhook
receivers are small ``http.server`` instances on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from pingback.testing import wait_for
from sandbox.platforms.instagram.payloads import (
    DEMO_ACCOUNT,
    DEMO_CUSTOMER_ID,
    demo_png,
    sandbox_account,
)
from sandbox.server import SandboxServer
from sandbox.tests import kit
from sandbox.tests.kit import Receiver

VERSION = kit.GRAPH_VERSION
PAGE = DEMO_ACCOUNT.page_id
TOKEN = DEMO_ACCOUNT.access_token


# --------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------


def graph(sandbox, method: str, path: str, token: str | None = TOKEN, **kwargs):
    return kit.graph(sandbox, method, path, token, **kwargs)


def control(sandbox: SandboxServer, path: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/_sandbox/instagram/{path}", json=body, timeout=30)


def send_text(sandbox: SandboxServer, text: str, **extra: Any) -> httpx.Response:
    body = {"recipient": {"id": DEMO_CUSTOMER_ID}, "message": {"text": text}, **extra}
    return graph(sandbox, "POST", f"{PAGE}/messages", json=body)


def connect(sandbox: SandboxServer, receiver: Receiver) -> None:
    """Subscribe the Page to the app and verify the receiver as callback."""
    graph(
        sandbox,
        "POST",
        f"{PAGE}/subscribed_apps",
        params={"subscribed_fields": "messages"},
    ).raise_for_status()
    control(
        sandbox,
        "subscribe",
        callback_url=receiver.url,
        verify_token=receiver.verify_token,
        app_secret=DEMO_ACCOUNT.app_secret,
    ).raise_for_status()


def error_of(response: httpx.Response) -> tuple[int, int, int | None, str]:
    error = response.json()["error"]
    return (
        response.status_code,
        error["code"],
        error.get("error_subcode"),
        error["message"],
    )


# --------------------------------------------------------------------------
# Graph API
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "path", "token", "expected"),
    [
        (
            "no token",
            PAGE,
            None,
            (400, 104, None, "An access token is required to request this resource."),
        ),
        (
            "wrong token",
            PAGE,
            "EAAG-wrong",
            (400, 190, None, "Invalid OAuth access token - Cannot parse access token"),
        ),
        (
            "unknown object",
            "123456789",
            TOKEN,
            (
                400,
                100,
                33,
                "Unsupported get request. Object with ID '123456789' does not exist, "
                "cannot be loaded due to missing permissions, or does not support "
                "this operation.",
            ),
        ),
    ],
)
def test_refused_graph_calls_answer_meta_error_envelopes(
    sandbox, _case, path, token, expected
):
    response = graph(sandbox, "GET", path, token=token)

    assert error_of(response) == expected
    assert response.json()["error"]["type"] == "OAuthException"


def test_graph_ids_of_others_without_our_token_are_left_to_other_stand_ins(sandbox):
    response = graph(sandbox, "GET", "123456789", token="EAAG-someone-else")

    assert response.status_code == 404
    assert response.json() == {"error": "no sandbox endpoint GET /v23.0/123456789"}


def test_send_is_recorded_and_answered_with_a_message_id(sandbox):
    response = send_text(sandbox, "Hello from PingBack")

    assert response.status_code == 200
    answer = response.json()
    assert answer["recipient_id"] == DEMO_CUSTOMER_ID
    assert answer["message_id"].startswith("aWdfbWVzc2FnZV9pdGVt")
    [sent] = sandbox.instagram.sends
    assert (sent["page_id"], sent["recipient_id"], sent["text"]) == (
        PAGE,
        DEMO_CUSTOMER_ID,
        "Hello from PingBack",
    )
    assert sent["message_id"] == answer["message_id"]
    recorded = sandbox.requests()[-1]
    assert recorded["platform"] == "instagram"
    assert recorded["headers"]["authorization"] == "Bearer"


def test_image_send_fetches_the_url_and_records_what_it_got(sandbox, receiver):
    png = demo_png()
    receiver.files["/kettle.png"] = (png, "image/png")
    url = f"{receiver.base}/kettle.png"
    body = {
        "recipient": {"id": DEMO_CUSTOMER_ID},
        "message": {"attachment": {"type": "image", "payload": {"url": url}}},
    }

    response = graph(sandbox, "POST", f"{PAGE}/messages", json=body)

    assert response.status_code == 200
    assert sandbox.instagram.sends[0]["attachment"] == {
        "type": "image",
        "url": url,
        "content_type": "image/png",
        "size": len(png),
        "sha256": hashlib.sha256(png).hexdigest(),
    }


@pytest.mark.parametrize(
    ("_case", "message", "recipient", "expected"),
    [
        (
            "unknown recipient",
            {"text": "hi"},
            "7199999999999999",
            (400, 100, 2018001, "(#100) No matching user found"),
        ),
        (
            "text too long",
            {"text": "x" * 1001},
            DEMO_CUSTOMER_ID,
            (
                400,
                100,
                None,
                "(#100) Length of param message[text] must be less than or equal to "
                "1000",
            ),
        ),
        (
            "image that cannot be fetched",
            {
                "attachment": {
                    "type": "image",
                    "payload": {"url": "http://127.0.0.1:9/gone.png"},
                }
            },
            DEMO_CUSTOMER_ID,
            (400, 100, 2018008, "(#100) Failed to fetch the file from the url"),
        ),
    ],
)
def test_refused_sends_record_nothing(sandbox, _case, message, recipient, expected):
    body = {"recipient": {"id": recipient}, "message": message}

    response = graph(sandbox, "POST", f"{PAGE}/messages", json=body)

    assert error_of(response) == expected
    assert sandbox.instagram.sends == []


def test_forced_failures_answer_once_each_then_sends_go_through(sandbox):
    control(sandbox, "mode", server_error_next=1, rate_limit_next=1)

    answers = [send_text(sandbox, "hi") for _ in range(3)]

    assert [
        (r.status_code, r.json().get("error", {}).get("code")) for r in answers
    ] == [
        (500, 2),
        (400, 613),
        (200, None),
    ]
    assert len(sandbox.instagram.sends) == 1


def test_window_modes(sandbox):
    control(sandbox, "mode", window="human_agent")

    untagged = send_text(sandbox, "hi")
    tagged = send_text(sandbox, "hi", messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    control(sandbox, "mode", window="closed")
    closed = send_text(sandbox, "hi", messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")

    window_error = (
        400,
        10,
        2018278,
        "(#10) This message is sent outside of allowed window.",
    )
    assert error_of(untagged) == window_error
    assert tagged.status_code == 200
    assert error_of(closed) == window_error
    assert [s["tag"] for s in sandbox.instagram.sends] == ["HUMAN_AGENT"]


def test_page_subscription_is_recorded_and_removed(sandbox):
    graph(
        sandbox,
        "POST",
        f"{PAGE}/subscribed_apps",
        params={"subscribed_fields": "messages"},
    )
    subscribed = sandbox.instagram.snapshot()["page_subscriptions"]
    graph(sandbox, "DELETE", f"{PAGE}/subscribed_apps")

    assert subscribed == {PAGE: ["messages"]}
    assert sandbox.instagram.snapshot()["page_subscriptions"] == {}


# --------------------------------------------------------------------------
# Acting as Meta
# --------------------------------------------------------------------------


def test_dashboard_step_verifies_the_callback_with_the_verify_token(sandbox, receiver):
    refused = control(
        sandbox, "subscribe", callback_url=receiver.url, verify_token="wrong"
    )
    accepted = control(
        sandbox,
        "subscribe",
        callback_url=receiver.url,
        verify_token=receiver.verify_token,
    )

    assert refused.status_code == 400
    assert refused.json() == {
        "error": "The URL couldn't be validated: callback answered 403: wrong token"
    }
    assert accepted.json() == {"verified": True, "callback_url": receiver.url}
    assert sandbox.instagram.snapshot()["subscriptions"] == [
        {"callback_url": receiver.url, "signed": False}
    ]


def test_customer_message_is_delivered_signed_as_meta_does(sandbox, receiver):
    connect(sandbox, receiver)

    result = control(sandbox, "customer/message", text="Hi there", image=True).json()

    entry = kit.meta_delivery(receiver, DEMO_ACCOUNT.app_secret, result, "instagram")
    assert entry["id"] == DEMO_ACCOUNT.instagram_id
    [event] = entry["messaging"]
    assert event["sender"] == {"id": DEMO_CUSTOMER_ID}
    assert event["recipient"] == {"id": DEMO_ACCOUNT.instagram_id}
    assert event["message"]["mid"] == result["mid"]
    assert event["message"]["text"] == "Hi there"
    [attachment] = event["message"]["attachments"]
    assert attachment["type"] == "image"
    media = httpx.get(attachment["payload"]["url"])
    assert (media.status_code, media.content) == (200, demo_png())
    assert media.headers["content-type"] == "image/png"
    assert result["deliveries"] == [
        {"url": receiver.url, "status_code": 200, "body": '{"status":"accepted"}'}
    ]


@pytest.mark.parametrize(
    ("_case", "page_subscribed", "callback", "error"),
    [
        (
            "no callback",
            True,
            False,
            "no callback URL is subscribed: verify one with "
            "POST /_sandbox/instagram/subscribe first",
        ),
        (
            "Page not subscribed",
            False,
            True,
            f"the app is not subscribed to Page {PAGE}: "
            f"POST /{{version}}/{PAGE}/subscribed_apps first",
        ),
    ],
)
def test_customer_actions_need_a_callback_and_a_page_subscription(
    sandbox, receiver, _case, page_subscribed, callback, error
):
    if page_subscribed:
        graph(
            sandbox,
            "POST",
            f"{PAGE}/subscribed_apps",
            params={"subscribed_fields": "messages"},
        )
    if callback:
        control(
            sandbox,
            "subscribe",
            callback_url=receiver.url,
            verify_token=receiver.verify_token,
        )

    response = control(sandbox, "customer/message", text="hello?")

    assert response.status_code == 409
    assert response.json() == {"error": error}
    assert receiver.posts == []


def test_each_send_is_echoed_back_with_is_echo(sandbox, receiver):
    connect(sandbox, receiver)

    sent = send_text(sandbox, "Thanks for writing!").json()

    wait_for(lambda: len(sandbox.instagram.echoes) == 1, timeout=10.0)
    [event] = receiver.json_bodies()[0]["entry"][0]["messaging"]
    assert event["sender"] == {"id": DEMO_ACCOUNT.instagram_id}
    assert event["recipient"] == {"id": DEMO_CUSTOMER_ID}
    assert event["message"] == {
        "mid": sent["message_id"],
        "text": "Thanks for writing!",
        "is_echo": True,
    }


def test_without_echo_mode_sends_are_not_echoed(sandbox, receiver):
    connect(sandbox, receiver)
    control(sandbox, "mode", echo=False)

    send_text(sandbox, "quiet")

    assert sandbox.instagram.echoes == []
    assert receiver.posts == []


def test_customer_read_defaults_to_the_last_message_sent_to_them(sandbox, receiver):
    connect(sandbox, receiver)
    control(sandbox, "mode", echo=False)
    send_text(sandbox, "first")
    last = send_text(sandbox, "second").json()["message_id"]

    result = control(sandbox, "customer/read").json()

    assert result["mid"] == last
    [event] = receiver.json_bodies()[-1]["entry"][0]["messaging"]
    assert event["read"] == {"mid": last}
    assert event["sender"] == {"id": DEMO_CUSTOMER_ID}


def test_customer_read_before_any_send_is_409(sandbox, receiver):
    connect(sandbox, receiver)

    response = control(sandbox, "customer/read")

    assert response.status_code == 409
    assert response.json() == {"error": "PingBack has sent nothing to this customer"}


def test_a_customer_who_wrote_may_be_answered(sandbox, receiver):
    connect(sandbox, receiver)
    control(sandbox, "customer/message", text="hi", customer_id="7100000000000009")

    body = {"recipient": {"id": "7100000000000009"}, "message": {"text": "hello"}}
    response = graph(sandbox, "POST", f"{PAGE}/messages", json=body)

    assert response.status_code == 200


def test_reset_forgets_everything_but_the_registered_accounts(sandbox, receiver):
    secrets = {"access_token": "EAAGsecondShopToken", "app_secret": "second-secret"}
    other = sandbox_account(2, "second_shop", "Second Shop", **secrets)
    sandbox.instagram.register(other, customers=("7100000000000005",))
    connect(sandbox, receiver)
    send_text(sandbox, "hi")

    sandbox.reset()

    state = sandbox.instagram.snapshot()
    assert (state["sends"], state["subscriptions"], state["page_subscriptions"]) == (
        [],
        [],
        {},
    )
    assert [a["page_id"] for a in state["accounts"]] == [PAGE, other.page_id]
    assert "access_token" not in json.dumps(state)
    answer = graph(
        sandbox, "GET", "me", token=other.access_token, params={"fields": "name"}
    )
    assert answer.json() == {"id": other.page_id, "name": "Second Shop"}


def test_demo_page_section_and_forms(sandbox, receiver):
    connect(sandbox, receiver)

    posted = httpx.post(
        f"{sandbox.url}/_sandbox/instagram/ui/message",
        data={"text": "From the demo page"},
    )
    page = httpx.get(f"{sandbox.url}/").text

    assert posted.status_code == 303
    assert posted.headers["location"] == ("/?flash=Instagram+message+delivered%3A+200")
    assert f"Instagram @{DEMO_ACCOUNT.username}" in page
    assert receiver.url in page
    assert (
        json.loads(receiver.posts[0][1])["entry"][0]["messaging"][0]["message"]["text"]
        == "From the demo page"
    )

"""Tests of the WhatsApp stand-in, driven over HTTP with httpx as PingBack's
Graph client is: the Graph endpoints, Meta's dashboard subscription with
`hub.challenge`, signed customer messages and statuses, the 24-hour window,
templates, media, modes and the demo page.

The webhook receiver is a tiny local `http.server` playing PingBack's callback.
Signatures are checked here with hmac directly, not with the sandbox's signer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx
import pytest

from pingback.testing import wait_for
from sandbox.platforms.whatsapp.payloads import DEMO_CUSTOMER, DEMO_NUMBER
from sandbox.platforms.whatsapp.standin import DEMO_VERIFY_TOKEN, demo_after_setup
from sandbox.tests import kit
from sandbox.tests.kit import Receiver

VERSION = kit.GRAPH_VERSION
TOKEN = DEMO_NUMBER.access_token
NUMBER_ID = DEMO_NUMBER.phone_number_id
OTHER_NUMBER = {
    "phone_number_id": "104400000000777",
    "display_phone_number": "+44 7700 900777",
    "verified_name": "Other Shop",
    "access_token": "EAAOtherShopToken0002",
    "app_secret": "other-app-secret",
}


def graph(sandbox, method: str, path: str, token: str | None = TOKEN, **kwargs):
    return kit.graph(sandbox, method, path, token, **kwargs)


def control(sandbox, path: str, **body) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/_sandbox/whatsapp/{path}", json=body, timeout=20)


def subscribed(sandbox, receiver: Receiver) -> None:
    response = control(
        sandbox,
        "subscribe",
        callback_url=receiver.url,
        verify_token=receiver.verify_token,
    )
    assert response.status_code == 200, response.text


def send_text(sandbox, text: str = "Hello", to: str = DEMO_CUSTOMER.wa_id, **extra):
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": text},
        **extra,
    }
    return graph(sandbox, "POST", f"{NUMBER_ID}/messages", json=body)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def error_of(response: httpx.Response) -> tuple[int, int, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


# ----------------------------------------------------------- phone numbers


@pytest.mark.parametrize(("_case", "token"), [("unknown", "EAAwrong"), ("none", None)])
def test_a_token_meta_does_not_know_is_refused_with_190(sandbox, _case, token):
    response = graph(sandbox, "GET", NUMBER_ID, token=token)

    assert error_of(response) == (
        401,
        190,
        "Invalid OAuth access token - Cannot parse access token",
    )
    assert response.json()["error"]["type"] == "OAuthException"


def test_another_numbers_token_cannot_load_this_number(sandbox):
    assert control(sandbox, "numbers", **OTHER_NUMBER).status_code == 201

    response = graph(sandbox, "GET", NUMBER_ID, token=OTHER_NUMBER["access_token"])

    status, code, message = error_of(response)
    assert (status, code) == (400, 100)
    assert message.startswith(f"Unsupported get request. Object with ID '{NUMBER_ID}'")
    assert response.json()["error"]["error_subcode"] == 33


def test_ids_it_does_not_hold_are_left_to_other_stand_ins(sandbox):
    """The Graph path space is shared with Instagram: unknown ids fall through
    to the sandbox's own 404."""
    response = graph(sandbox, "GET", "17841400000000000")

    assert response.status_code == 404
    assert response.json() == {
        "error": f"no sandbox endpoint GET /{VERSION}/17841400000000000"
    }


# ------------------------------------------------------------ subscription


def test_subscribe_runs_metas_handshake_against_the_callback(sandbox, receiver):
    response = control(
        sandbox, "subscribe", callback_url=receiver.url, verify_token="my-verify-token"
    )

    assert response.json() == {
        "verified": True,
        "phone_number_id": NUMBER_ID,
        "callback_url": receiver.url,
    }
    [query] = receiver.queries()
    assert query["hub.mode"] == ["subscribe"]
    assert query["hub.verify_token"] == ["my-verify-token"]
    state = httpx.get(f"{sandbox.url}/_sandbox/whatsapp/state").json()
    assert state["subscriptions"] == [
        {"phone_number_id": NUMBER_ID, "callback_url": receiver.url}
    ]


def test_a_callback_refusing_the_verify_token_is_not_subscribed(sandbox, receiver):
    response = control(
        sandbox, "subscribe", callback_url=receiver.url, verify_token="not-it"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "The callback URL or verify token couldn't be validated: "
        "callback answered 403: wrong token"
    }
    assert sandbox.whatsapp.snapshot()["subscriptions"] == []


# ------------------------------------------------------- customer messages


def test_customer_text_is_delivered_signed_with_the_app_secret(sandbox, receiver):
    subscribed(sandbox, receiver)

    answer = control(
        sandbox, "customer/message", text="Does it come in another color?"
    ).json()

    entry = kit.meta_delivery(
        receiver, DEMO_NUMBER.app_secret, answer, "whatsapp_business_account"
    )
    assert entry["id"] == DEMO_NUMBER.waba_id
    [change] = entry["changes"]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["metadata"] == {
        "display_phone_number": "15550104477",
        "phone_number_id": NUMBER_ID,
    }
    assert value["contacts"] == [
        {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}
    ]
    [message] = value["messages"]
    assert message["from"] == "16505551234"
    assert message["id"] == answer["message_id"]
    assert message["id"].startswith("wamid.")
    assert message["type"] == "text"
    assert message["text"] == {"body": "Does it come in another color?"}
    assert message["timestamp"].isdigit()
    assert answer["deliveries"] == [
        {"url": receiver.url, "status_code": 200, "body": '{"status":"accepted"}'}
    ]


def test_a_subscription_with_its_own_app_secret_signs_with_it(sandbox, receiver):
    control(
        sandbox,
        "subscribe",
        callback_url=receiver.url,
        verify_token=receiver.verify_token,
        app_secret="rotated-secret",
    )

    control(sandbox, "customer/message", text="hi")

    [(headers, body)] = receiver.posts
    assert headers["x-hub-signature-256"] == signature("rotated-secret", body)


def test_customer_message_without_a_subscription_is_409(sandbox):
    response = control(sandbox, "customer/message", text="anyone?")

    assert response.status_code == 409
    assert "no webhook subscription" in response.json()["error"]
    assert sandbox.whatsapp.snapshot()["inbound"] == []


@pytest.mark.parametrize(
    ("_case", "body", "expected"),
    [
        (
            "document",
            {"type": "document", "text": "My invoice", "filename": "inv-4411.pdf"},
            {"caption": "My invoice", "filename": "inv-4411.pdf"},
        ),
        ("voice note", {"type": "audio"}, {"voice": True}),
        ("image", {"type": "image", "text": "Broken"}, {"caption": "Broken"}),
    ],
)
def test_customer_media_is_described_by_id_mime_type_and_sha256(
    sandbox, receiver, _case, body, expected
):
    subscribed(sandbox, receiver)

    answer = control(sandbox, "customer/message", **body).json()

    [message] = answer["payload"]["entry"][0]["changes"][0]["value"]["messages"]
    media = message[body["type"]]
    assert media["id"] == answer["media_id"]
    stored = next(
        m for m in sandbox.whatsapp.snapshot()["media"] if m["id"] == media["id"]
    )
    assert media["sha256"] == stored["sha256"]
    assert media["mime_type"] == stored["mime_type"]
    assert {key: media[key] for key in expected} == expected


def test_customer_location_and_quoted_reply(sandbox, receiver):
    subscribed(sandbox, receiver)

    answer = control(
        sandbox,
        "customer/message",
        type="location",
        location={"latitude": 38.9, "longitude": -77.0, "name": "Depot"},
        context_id="wamid.earlier",
    ).json()

    [message] = answer["payload"]["entry"][0]["changes"][0]["value"]["messages"]
    assert message["location"] == {
        "latitude": 38.9,
        "longitude": -77.0,
        "name": "Depot",
    }
    assert message["context"] == {"from": "15550104477", "id": "wamid.earlier"}


# ------------------------------------------------------------------ media


def test_customer_media_is_served_to_the_numbers_token_only(sandbox, receiver):
    subscribed(sandbox, receiver)
    content = b"\x89PNG fake image bytes"
    media_id = control(
        sandbox,
        "customer/message",
        type="image",
        mime_type="image/png",
        content_base64=base64.b64encode(content).decode(),
    ).json()["media_id"]

    info = graph(sandbox, "GET", media_id).json()

    assert info == {
        "messaging_product": "whatsapp",
        "url": f"{sandbox.url}/_media/whatsapp/{media_id}",
        "mime_type": "image/png",
        "sha256": hashlib.sha256(content).hexdigest(),
        "file_size": len(content),
        "id": media_id,
    }
    download = httpx.get(info["url"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert (download.status_code, download.content) == (200, content)
    assert download.headers["content-type"] == "image/png"
    assert httpx.get(info["url"]).status_code == 401
    assert graph(sandbox, "GET", media_id, token="EAAwrong").status_code == 401


def test_uploaded_media_is_sent_by_id_with_a_caption(sandbox):
    control(sandbox, "customer/window", hours_ago=1)
    upload = graph(
        sandbox,
        "POST",
        f"{NUMBER_ID}/media",
        data={"messaging_product": "whatsapp", "type": "image/jpeg"},
        files={"file": ("label.jpg", b"\xff\xd8jpeg\r\n\r\nbytes", "image/jpeg")},
    )
    media_id = upload.json()["id"]

    response = graph(
        sandbox,
        "POST",
        f"{NUMBER_ID}/messages",
        json={
            "messaging_product": "whatsapp",
            "to": DEMO_CUSTOMER.wa_id,
            "type": "image",
            "image": {"id": media_id, "caption": "Your label"},
        },
    )

    assert response.status_code == 200
    [send] = sandbox.whatsapp.snapshot()["sends"]
    assert (send["type"], send["media_id"], send["text"]) == (
        "image",
        media_id,
        "Your label",
    )
    download = httpx.get(
        graph(sandbox, "GET", media_id).json()["url"],
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert download.content == b"\xff\xd8jpeg\r\n\r\nbytes"


def test_sending_a_media_id_it_never_issued_is_refused(sandbox):
    control(sandbox, "customer/window", hours_ago=1)

    response = graph(
        sandbox,
        "POST",
        f"{NUMBER_ID}/messages",
        json={
            "messaging_product": "whatsapp",
            "to": DEMO_CUSTOMER.wa_id,
            "type": "document",
            "document": {"id": "1234", "filename": "x.pdf"},
        },
    )

    assert error_of(response)[:2] == (400, 131053)


# --------------------------------------------------------- sends, window


def test_text_inside_the_window_is_accepted_and_recorded(sandbox, receiver):
    subscribed(sandbox, receiver)
    inbound = control(sandbox, "customer/message", text="Hi").json()

    response = send_text(
        sandbox, "Yes, in blue.", context={"message_id": inbound["message_id"]}
    )

    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    assert response.json() == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
        "messages": [{"id": wamid}],
    }
    [send] = sandbox.whatsapp.snapshot()["sends"]
    assert send["wamid"] == wamid
    assert (send["to"], send["type"], send["text"]) == (
        "16505551234",
        "text",
        "Yes, in blue.",
    )
    assert send["context_message_id"] == inbound["message_id"]


@pytest.mark.parametrize(("_case", "hours_ago"), [("never wrote", None), ("25 h", 25)])
def test_free_form_text_outside_the_window_fails_with_131047(sandbox, _case, hours_ago):
    if hours_ago is not None:
        control(sandbox, "customer/window", hours_ago=hours_ago)

    response = send_text(sandbox)

    assert error_of(response) == (400, 131047, "(#131047) Re-engagement message")
    assert response.json()["error"]["error_data"]["details"] == (
        "Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number."
    )
    assert sandbox.whatsapp.snapshot()["sends"] == []


def test_window_errors_as_status_accepts_then_reports_failed(sandbox, receiver):
    subscribed(sandbox, receiver)
    control(sandbox, "mode", window_errors="status", status_delay=0)

    response = send_text(sandbox)

    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    [payload] = wait_for(receiver.json_bodies, timeout=10.0)
    [status] = payload["entry"][0]["changes"][0]["value"]["statuses"]
    assert (status["id"], status["status"], status["recipient_id"]) == (
        wamid,
        "failed",
        "16505551234",
    )
    assert status["errors"][0]["code"] == 131047
    assert status["errors"][0]["title"] == "Re-engagement message"


def test_an_approved_template_is_sent_outside_the_window(sandbox):
    response = graph(
        sandbox,
        "POST",
        f"{NUMBER_ID}/messages",
        json={
            "messaging_product": "whatsapp",
            "to": DEMO_CUSTOMER.wa_id,
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "en_US"},
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": "4411"}]}
                ],
            },
        },
    )

    assert response.status_code == 200
    assert response.json()["messages"][0]["message_status"] == "accepted"
    [send] = sandbox.whatsapp.snapshot()["sends"]
    assert send["template"] == {
        "name": "order_update",
        "language": "en_US",
        "parameters": ["4411"],
    }
    assert send["text"] == (
        "Your order 4411 has an update. Reply to this message to talk to us."
    )


@pytest.mark.parametrize(
    ("_case", "template", "expected"),
    [
        (
            "unknown name",
            {"name": "promo", "language": {"code": "en_US"}},
            (404, 132001, "(#132001) Template name does not exist in the translation"),
        ),
        (
            "unknown language",
            {"name": "order_update", "language": {"code": "fr"}},
            (404, 132001, "(#132001) Template name does not exist in the translation"),
        ),
        (
            "missing parameter",
            {"name": "order_update", "language": {"code": "en_US"}},
            (
                400,
                132000,
                "(#132000) Number of parameters does not match the expected number "
                "of params",
            ),
        ),
    ],
)
def test_templates_must_be_registered_with_their_parameters(
    sandbox, _case, template, expected
):
    response = graph(
        sandbox,
        "POST",
        f"{NUMBER_ID}/messages",
        json={
            "messaging_product": "whatsapp",
            "to": DEMO_CUSTOMER.wa_id,
            "type": "template",
            "template": template,
        },
    )

    assert error_of(response) == expected
    assert sandbox.whatsapp.snapshot()["sends"] == []


@pytest.mark.parametrize(
    ("_case", "body"),
    [
        ("no messaging_product", {"to": "16505551234", "text": {"body": "x"}}),
        (
            "empty text",
            {
                "messaging_product": "whatsapp",
                "to": "16505551234",
                "text": {"body": ""},
            },
        ),
        (
            "no recipient",
            {"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}},
        ),
        (
            "caption on audio",
            {
                "messaging_product": "whatsapp",
                "to": "16505551234",
                "type": "audio",
                "audio": {"link": "https://example.com/a.ogg", "caption": "x"},
            },
        ),
    ],
)
def test_bodies_meta_would_refuse_get_100(sandbox, _case, body):
    control(sandbox, "customer/window", hours_ago=1)

    response = graph(sandbox, "POST", f"{NUMBER_ID}/messages", json=body)

    assert error_of(response)[:2] == (400, 100)


# ----------------------------------------------------------------- modes


def test_rate_limit_and_server_error_modes_fail_the_next_sends(sandbox):
    control(sandbox, "customer/window", hours_ago=1)
    control(sandbox, "mode", rate_limit_next=1, server_error_next=1)

    first, second, third = (send_text(sandbox) for _ in range(3))

    assert error_of(first) == (500, 131000, "(#131000) Something went wrong")
    assert error_of(second) == (429, 130429, "(#130429) Rate limit hit")
    assert third.status_code == 200


# -------------------------------------------------------------- statuses


def test_statuses_on_request_reach_the_callback_in_order(sandbox, receiver):
    subscribed(sandbox, receiver)
    control(sandbox, "customer/message", text="Hi")
    wamid = send_text(sandbox).json()["messages"][0]["id"]

    answer = control(sandbox, "statuses", wamid=wamid, statuses=["delivered", "read"])

    assert [d["status_code"] for d in answer.json()["deliveries"]] == [200, 200]
    statuses = [
        body["entry"][0]["changes"][0]["value"]["statuses"][0]
        for body in receiver.json_bodies()[1:]
    ]
    assert [(s["id"], s["status"]) for s in statuses] == [
        (wamid, "delivered"),
        (wamid, "read"),
    ]
    assert all(s["recipient_id"] == "16505551234" for s in statuses)


def test_a_failed_status_carries_the_requested_error(sandbox, receiver):
    subscribed(sandbox, receiver)
    control(sandbox, "customer/message", text="Hi")
    wamid = send_text(sandbox).json()["messages"][0]["id"]

    control(sandbox, "statuses", wamid=wamid, status="failed", error_code=131026)

    status = receiver.json_bodies()[-1]["entry"][0]["changes"][0]["value"]["statuses"][
        0
    ]
    assert status["status"] == "failed"
    assert status["errors"][0]["code"] == 131026
    assert status["errors"][0]["title"] == "Message undeliverable"


def test_statuses_of_an_unknown_message_are_404(sandbox):
    response = control(sandbox, "statuses", wamid="wamid.nope", status="read")

    assert response.status_code == 404


def test_auto_statuses_follow_each_send(sandbox, receiver):
    subscribed(sandbox, receiver)
    control(sandbox, "customer/message", text="Hi")
    control(sandbox, "mode", auto_statuses=["sent", "delivered"], status_delay=0)

    wamid = send_text(sandbox).json()["messages"][0]["id"]

    bodies = wait_for(
        lambda: len(receiver.json_bodies()) == 3 and receiver.json_bodies(),
        timeout=10.0,
    )
    statuses = [b["entry"][0]["changes"][0]["value"]["statuses"][0] for b in bodies[1:]]
    assert [(s["id"], s["status"]) for s in statuses] == [
        (wamid, "sent"),
        (wamid, "delivered"),
    ]


# ------------------------------------------------------- state and demo


def test_state_holds_no_secrets_and_reset_keeps_the_numbers(sandbox, receiver):
    control(sandbox, "numbers", **OTHER_NUMBER)
    subscribed(sandbox, receiver)
    control(sandbox, "customer/message", text="Hi")

    text = httpx.get(f"{sandbox.url}/_sandbox/whatsapp/state").text
    sandbox.reset()

    for secret in (TOKEN, DEMO_NUMBER.app_secret, OTHER_NUMBER["access_token"]):
        assert secret not in text
    state = sandbox.whatsapp.snapshot()
    assert state["subscriptions"] == state["inbound"] == state["windows"] == []
    assert {n["phone_number_id"] for n in state["numbers"]} == {
        NUMBER_ID,
        OTHER_NUMBER["phone_number_id"],
    }


def test_demo_page_form_sends_a_customer_message(sandbox, receiver):
    subscribed(sandbox, receiver)

    response = httpx.post(
        f"{sandbox.url}/_sandbox/whatsapp/ui/message",
        data={"text": "Where is my order?", "type": "text"},
    )

    assert response.status_code == 303
    assert "delivered" in response.headers["location"]
    page = httpx.get(f"{sandbox.url}/").text
    assert "WhatsApp sandbox" in page
    assert "Where is my order?" in page
    [payload] = receiver.json_bodies()
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["text"]["body"] == "Where is my order?"


def test_demo_after_setup_subscribes_the_callback_from_the_create_response(sandbox):
    """`setup_demo` hands over the config as the create call answers it."""
    with Receiver(verify_token=DEMO_VERIFY_TOKEN) as callback:

        class Channel:
            config = {"phone_number_id": NUMBER_ID}

        shown = {
            "_meta_setup_instructions": {
                "callback_url": callback.url,
                "verify_token": DEMO_VERIFY_TOKEN,
            }
        }

        line = demo_after_setup(sandbox.url, Channel(), shown)

        assert line == (
            f"callback {callback.url} verified and subscribed in the sandbox's "
            "Meta dashboard; its Test event was answered 200."
        )
        assert len(callback.queries()) == 1
        assert sandbox.whatsapp.snapshot()["subscriptions"] == [
            {"phone_number_id": NUMBER_ID, "callback_url": callback.url}
        ]

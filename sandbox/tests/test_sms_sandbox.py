"""Tests of the SMS (Twilio) stand-in: signing helpers, and the server driven by
the real twilio SDK.

The SDK is pointed at the sandbox by overriding its API domain's `base_url`
(docs/platforms/sms.md, "Pointing the twilio SDK at the sandbox"). What Twilio
POSTs back (status callbacks, customers' messages) lands in a tiny local
`http.server` that also serves files for MMS sends; every signature it receives
is checked with the SDK's validator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from pingback.testing import wait_for
from sandbox.platforms.sms.payloads import (
    DEMO_ACCOUNT,
    DEMO_CUSTOMER_NUMBER,
    DEMO_NUMBER,
    NOT_OWNED_NUMBER,
    inbound_message_form,
    sign,
)
from sandbox.platforms.sms.standin import SAMPLE_PNG, demo_channel_config
from sandbox.server import SandboxServer
from sandbox.tests.kit import Receiver, control

CUSTOMER = DEMO_CUSTOMER_NUMBER
PICTURE = b"\x89PNG\r\n\x1a\n" + b"0" * 500

# --------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Where Twilio calls back: answers POSTs with empty TwiML and serves
    `/picture.png`."""
    with Receiver("", answer=b"<Response/>", content_type="text/xml") as running:
        running.files["/picture.png"] = (PICTURE, "image/png")
        yield running


def statuses(receiver: Receiver) -> list[str]:
    return [form["MessageStatus"] for form in receiver.forms()]


def twilio(sandbox: SandboxServer, token: str = DEMO_ACCOUNT.auth_token) -> Client:
    """A real twilio client for the demo account, talking to the sandbox."""
    client = Client(DEMO_ACCOUNT.sid, token)
    client.api.base_url = sandbox.url
    client.http_client.session.trust_env = False
    return client


def assert_signed_by_twilio(url: str, headers: dict[str, str], form: dict) -> None:
    validator = RequestValidator(DEMO_ACCOUNT.auth_token)
    assert validator.validate(url, form, headers["x-twilio-signature"])
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert len(headers["i-twilio-idempotency-token"]) == 32


def send(client: Client, **fields: Any):
    return client.messages.create(from_=DEMO_NUMBER, to=CUSTOMER, **fields)


# --------------------------------------------------------------------------
# Pure helpers (docs/platforms/sms.md, "Inbound message webhook", "Signature")
# --------------------------------------------------------------------------


def test_sign_reproduces_the_documented_vector() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"

    assert sign("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_inbound_form_of_an_mms_lists_each_file() -> None:
    form = inbound_message_form(
        account_sid=DEMO_ACCOUNT.sid,
        to=DEMO_NUMBER,
        from_=CUSTOMER,
        body="look",
        message_sid="MM" + "a" * 32,
        media=[("https://x.test/1", "image/png"), ("https://x.test/2", "video/mp4")],
    )

    assert form["MessageSid"] == form["SmsMessageSid"] == form["SmsSid"]
    assert (form["SmsStatus"], form["NumMedia"], form["ApiVersion"]) == (
        "received",
        "2",
        "2010-04-01",
    )
    assert [form["MediaUrl0"], form["MediaContentType1"]] == [
        "https://x.test/1",
        "video/mp4",
    ]


def test_demo_channel_config_is_the_demo_account_and_number() -> None:
    assert demo_channel_config("http://127.0.0.1:8402") == {
        "account_sid": DEMO_ACCOUNT.sid,
        "auth_token": DEMO_ACCOUNT.auth_token,
        "phone_number": DEMO_NUMBER,
    }


# --------------------------------------------------------------------------
# Accounts and numbers
# --------------------------------------------------------------------------


def test_account_fetch_with_the_right_credentials(sandbox: SandboxServer) -> None:
    account = twilio(sandbox).api.v2010.accounts(DEMO_ACCOUNT.sid).fetch()

    assert (account.sid, account.status) == (DEMO_ACCOUNT.sid, "active")
    [logged] = sandbox.requests()
    assert (logged["platform"], logged["path"], logged["status"]) == (
        "sms",
        f"/2010-04-01/Accounts/{DEMO_ACCOUNT.sid}.json",
        200,
    )
    assert logged["headers"]["authorization"] == "Basic"


def test_a_wrong_auth_token_is_twilios_401(sandbox: SandboxServer) -> None:
    with pytest.raises(TwilioRestException) as caught:
        twilio(sandbox, "wrong").api.v2010.accounts(DEMO_ACCOUNT.sid).fetch()

    assert (caught.value.status, caught.value.code) == (401, 20003)
    raw = control(sandbox, "GET", f"/2010-04-01/Accounts/{DEMO_ACCOUNT.sid}.json")
    assert raw.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


def test_another_accounts_path_is_404(sandbox: SandboxServer) -> None:
    with pytest.raises(TwilioRestException) as caught:
        twilio(sandbox).api.v2010.accounts("AC" + "0" * 32).fetch()

    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_numbers_are_listed_by_exact_phone_number(sandbox: SandboxServer) -> None:
    client = twilio(sandbox)

    [number] = client.incoming_phone_numbers.list(phone_number=DEMO_NUMBER)
    none = client.incoming_phone_numbers.list(phone_number=NOT_OWNED_NUMBER)

    assert (number.phone_number, number.sms_url, number.sms_method) == (
        DEMO_NUMBER,
        "",
        "POST",
    )
    assert number.sid.startswith("PN") and len(number.sid) == 34
    assert none == []


def test_the_numbers_incoming_url_is_updated_and_shown(sandbox: SandboxServer) -> None:
    client = twilio(sandbox)
    [number] = client.incoming_phone_numbers.list(phone_number=DEMO_NUMBER)

    client.incoming_phone_numbers(number.sid).update(
        sms_url="https://inbox.example.com/sms", sms_method="POST"
    )

    fetched = client.incoming_phone_numbers(number.sid).fetch()
    assert fetched.sms_url == "https://inbox.example.com/sms"
    state = control(sandbox, "GET", "/_sandbox/sms/state").json()
    assert state["accounts"][0]["numbers"][0]["sms_url"] == (
        "https://inbox.example.com/sms"
    )


# --------------------------------------------------------------------------
# Sends, media and status callbacks (docs/platforms/sms.md, "Status callbacks",
# "Sending")
# --------------------------------------------------------------------------


def test_a_send_is_recorded_then_called_back_signed_up_to_delivered(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    callback = f"{receiver.url}/status?channel=1"

    message = send(twilio(sandbox), body="Ships today", status_callback=callback)

    assert (message.status, message.sid[:2]) == ("queued", "SM")
    wait_for(lambda: len(sandbox.sms.sends[0]["callbacks"]) == 3, timeout=10.0)
    assert statuses(receiver) == ["queued", "sent", "delivered"]
    for url, (headers, _), form in zip(
        receiver.post_urls, receiver.posts, receiver.forms(), strict=True
    ):
        assert url == callback
        assert_signed_by_twilio(url, headers, form)
        assert (form["MessageSid"], form["From"], form["To"]) == (
            message.sid,
            DEMO_NUMBER,
            CUSTOMER,
        )
    [sent] = sandbox.sms.sends
    assert (sent["body"], sent["status"], sent["media_urls"]) == (
        "Ships today",
        "delivered",
        [],
    )
    assert [c["status_code"] for c in sent["callbacks"]] == [200, 200, 200]


def test_undelivered_mode_ends_with_error_code_30006(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    sandbox.sms.set_modes({"undelivered": True})

    send(twilio(sandbox), body="hi", status_callback=receiver.url + "/status")

    wait_for(lambda: len(receiver.posts) == 3, timeout=10.0)
    assert statuses(receiver) == ["queued", "sent", "undelivered"]
    assert receiver.forms()[-1]["ErrorCode"] == "30006"
    assert "ErrorCode" not in receiver.forms()[1]


def test_media_urls_are_fetched_as_twilio_does(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    picture = receiver.url + "/picture.png"

    message = send(
        twilio(sandbox), media_url=[picture], status_callback=receiver.url + "/s"
    )

    wait_for(lambda: len(receiver.posts) == 3, timeout=10.0)
    assert message.sid.startswith("MM")
    assert receiver.gets == ["/picture.png"]
    [sent] = sandbox.sms.sends
    assert sent["media"] == [
        {
            "url": picture,
            "status_code": 200,
            "content_type": "image/png",
            "size": len(PICTURE),
        }
    ]
    assert sent["status"] == "delivered"


def test_a_file_twilio_cannot_download_fails_the_message_with_11200(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    send(
        twilio(sandbox),
        body="see attached",
        media_url=[receiver.url + "/expired-link"],
        status_callback=receiver.url + "/s",
    )

    wait_for(lambda: len(receiver.posts) == 2, timeout=10.0)
    assert statuses(receiver) == ["queued", "failed"]
    assert receiver.forms()[-1]["ErrorCode"] == "11200"


@pytest.mark.parametrize(
    ("_case", "fields", "code"),
    [
        ("From not on the account", {"from_": NOT_OWNED_NUMBER}, 21606),
        ("To not E.164", {"to": "555-0100"}, 21211),
        ("neither body nor media", {"body": None}, 21602),
        ("body over 1600 characters", {"body": "x" * 1601}, 21617),
    ],
)
def test_sends_twilio_refuses(sandbox: SandboxServer, _case, fields, code) -> None:
    message = {"from_": DEMO_NUMBER, "to": CUSTOMER, "body": "hi", **fields}

    with pytest.raises(TwilioRestException) as caught:
        twilio(sandbox).messages.create(**message)

    assert (caught.value.status, caught.value.code) == (400, code)
    assert sandbox.sms.sends == []


@pytest.mark.parametrize(
    ("_case", "mode", "status", "code"),
    [
        ("invalid number", {"invalid_number": True}, 400, 21211),
        ("unsubscribed", {"unsubscribed": True}, 400, 21610),
        ("rate limit", {"rate_limit_next": 1}, 429, 20429),
        ("server error", {"server_error_next": 1}, 500, 20500),
    ],
)
def test_modes_refuse_sends(sandbox: SandboxServer, _case, mode, status, code) -> None:
    answer = control(sandbox, "POST", "/_sandbox/sms/mode", json=mode)
    assert answer.json() | mode == answer.json()

    with pytest.raises(TwilioRestException) as caught:
        send(twilio(sandbox), body="hi")

    assert (caught.value.status, caught.value.code) == (status, code)
    assert sandbox.sms.sends == []


def test_one_shot_modes_wear_off_and_429_says_when_to_retry(
    sandbox: SandboxServer,
) -> None:
    sandbox.sms.set_modes({"rate_limit_next": 1})
    auth = (DEMO_ACCOUNT.sid, DEMO_ACCOUNT.auth_token)
    path = f"/2010-04-01/Accounts/{DEMO_ACCOUNT.sid}/Messages.json"
    fields = {"From": DEMO_NUMBER, "To": CUSTOMER, "Body": "hi"}

    limited = control(sandbox, "POST", path, data=fields, auth=auth)
    accepted = control(sandbox, "POST", path, data=fields, auth=auth)

    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
    assert accepted.status_code == 201
    assert control(sandbox, "GET", "/_sandbox/sms/mode").json()["rate_limit_next"] == 0


# --------------------------------------------------------------------------
# A customer texts the business
# --------------------------------------------------------------------------


def point_number(sandbox: SandboxServer, url: str) -> None:
    client = twilio(sandbox)
    [number] = client.incoming_phone_numbers.list(phone_number=DEMO_NUMBER)
    client.incoming_phone_numbers(number.sid).update(sms_url=url, sms_method="POST")


def test_a_customer_text_is_posted_signed_to_the_numbers_url(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    point_number(sandbox, receiver.url + "/sms")

    answer = control(
        sandbox, "POST", "/_sandbox/sms/customer/message", json={"body": "Hello?"}
    )

    assert answer.status_code == 200
    result = answer.json()
    assert result["deliveries"] == [
        {"url": receiver.url + "/sms", "status_code": 200, "body": "<Response/>"}
    ]
    [url] = receiver.post_urls
    [(headers, _)] = receiver.posts
    [form] = receiver.forms()
    assert_signed_by_twilio(url, headers, form)
    assert form == result["form"]
    assert (form["From"], form["To"], form["Body"], form["NumMedia"]) == (
        CUSTOMER,
        DEMO_NUMBER,
        "Hello?",
        "0",
    )
    assert form["MessageSid"] == result["message_sid"]
    assert result["message_sid"].startswith("SM")


def test_mms_media_is_served_behind_basic_auth_and_a_redirect(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    point_number(sandbox, receiver.url + "/sms")
    result = control(
        sandbox,
        "POST",
        "/_sandbox/sms/customer/message",
        json={"body": "", "media": [{"content_type": "image/png"}]},
    ).json()
    media_url = result["form"]["MediaUrl0"]
    auth = (DEMO_ACCOUNT.sid, DEMO_ACCOUNT.auth_token)

    with requests.Session() as session:
        session.trust_env = False
        fetched = session.get(media_url, auth=auth, timeout=5)
        anonymous = session.get(media_url, timeout=5)

    assert result["message_sid"].startswith("MM")
    assert result["form"]["MediaContentType0"] == "image/png"
    assert media_url.startswith(f"{sandbox.url}/2010-04-01/Accounts/")
    assert (fetched.status_code, fetched.content) == (200, SAMPLE_PNG)
    assert fetched.headers["Content-Type"] == "image/png"
    assert fetched.history[0].status_code == 307
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("_case", "body", "status"),
    [
        ("neither text nor media", {"body": ""}, 400),
        ("a number nobody owns", {"body": "hi", "to": NOT_OWNED_NUMBER}, 404),
        ("no incoming URL on the number", {"body": "hi"}, 409),
        ("media without a type", {"body": "hi", "media": [{}]}, 400),
    ],
)
def test_customer_messages_that_cannot_happen(
    sandbox: SandboxServer, _case, body, status
) -> None:
    answer = control(sandbox, "POST", "/_sandbox/sms/customer/message", json=body)

    assert answer.status_code == status
    assert set(answer.json()) == {"error"}


def test_stop_opts_the_customer_out_and_start_back_in(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    point_number(sandbox, receiver.url + "/sms")
    client = twilio(sandbox)

    sandbox.sms.customer_message({"body": "stop"})
    with pytest.raises(TwilioRestException) as caught:
        send(client, body="hi")
    sandbox.sms.customer_message({"body": "START"})
    send(client, body="welcome back")

    assert caught.value.code == 21610
    assert [s["body"] for s in sandbox.sms.sends] == ["welcome back"]
    assert [form["Body"] for form in receiver.forms()[:2]] == ["stop", "START"]


# --------------------------------------------------------------------------
# Reset and the demo page
# --------------------------------------------------------------------------


def test_reset_forgets_sends_and_urls_but_keeps_the_account(
    sandbox: SandboxServer,
) -> None:
    point_number(sandbox, "https://inbox.example.com/sms")
    sandbox.sms.set_modes({"status_callbacks": False})
    send(twilio(sandbox), body="hi")

    control(sandbox, "POST", "/_sandbox/reset")

    state = control(sandbox, "GET", "/_sandbox/sms/state").json()
    assert state["sends"] == []
    assert state["modes"]["status_callbacks"] is True
    assert [a["sid"] for a in state["accounts"]] == [DEMO_ACCOUNT.sid]
    assert state["accounts"][0]["numbers"][0]["sms_url"] == ""


def test_demo_page_shows_the_sms_section_escaped_and_its_form_redirects(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    point_number(sandbox, receiver.url + "/sms")
    sandbox.sms.set_modes({"status_callbacks": False})
    send(twilio(sandbox), body="<b>hi</b>")

    posted = control(
        sandbox,
        "POST",
        "/_sandbox/sms/ui/message",
        data={"body": "from the page", "to": DEMO_NUMBER, "image": "1"},
        allow_redirects=False,
    )

    assert posted.status_code == 303
    assert posted.headers["Location"].startswith("/?flash=SMS+MM")
    page = control(sandbox, "GET", "/").text
    assert "SMS sandbox (Twilio)" in page
    assert "&lt;b&gt;hi&lt;/b&gt;" in page and "<b>hi</b>" not in page
    assert "from the page" in page
    assert receiver.forms()[0]["NumMedia"] == "1"

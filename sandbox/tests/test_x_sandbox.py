"""Tests of the X sandbox: signing helpers, and the server driven by real tweepy.

tweepy signs requests for ``https://api.twitter.com``; a small transport
adapter (docs/platforms/x.md, "tweepy 4.17.0") rewrites the host to the sandbox
after signing, exactly as PingBack does. Webhooks go to a local
:class:`~sandbox.tests.kit.Receiver`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import tweepy
from requests.adapters import HTTPAdapter

from sandbox.platforms.x.payloads import (
    DEMO_APP,
    DEMO_CUSTOMER,
    SIGNATURE_HEADER,
    XApp,
    XUser,
    crc_response_token,
    dm_payload,
    mention_payload,
    new_id,
    sign,
)
from sandbox.server import SandboxServer
from sandbox.tests.kit import Receiver, control

REAL_HOST = "https://api.twitter.com"
ACCOUNT = DEMO_APP.account


# --------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------


class Redirect(HTTPAdapter):
    """Sends requests signed for the real X host to the sandbox instead."""

    def __init__(self, real: str, fake: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.real, self.fake = real, fake

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        """Rewrite the URL prefix, then send."""
        request.url = self.fake + request.url[len(self.real) :]
        return super().send(request, **kwargs)


def make_client(
    sandbox: SandboxServer, app: XApp = DEMO_APP, **overrides: str
) -> tweepy.Client:
    """A real tweepy client for ``app`` whose traffic goes to the sandbox."""
    credentials = {
        "bearer_token": app.bearer_token,
        "consumer_key": app.consumer_key,
        "consumer_secret": app.consumer_secret,
        "access_token": app.access_token,
        "access_token_secret": app.access_token_secret,
        **overrides,
    }
    client = tweepy.Client(**credentials, wait_on_rate_limit=False)
    client.session.trust_env = False
    client.session.mount(REAL_HOST, Redirect(REAL_HOST, sandbox.url))
    return client


def connect_webhook(sandbox: SandboxServer, client: tweepy.Client, url: str) -> str:
    """Register ``url`` (with a real CRC) and subscribe the account; return its id."""
    created = client.request("POST", "/2/webhooks", json={"url": url}).json()
    webhook_id = created["data"]["id"]
    client.request(
        "POST",
        f"/2/account_activity/webhooks/{webhook_id}/subscriptions/all",
        user_auth=True,
    )
    return webhook_id


# --------------------------------------------------------------------------
# Pure helpers (docs/platforms/x.md, "CRC challenge", "Signature")
# --------------------------------------------------------------------------


def test_sign_reproduces_the_documented_vector() -> None:
    body = b'{"for_user_id":"2244994945","direct_message_events":[]}'
    assert (
        sign(body, "consumer-secret-example")
        == "sha256=tpoJmg3Kk0S8hU8HscRwptrpoI9Y5pj9kku2Z/F5KS0="
    )


def test_crc_response_token_reproduces_the_documented_vector() -> None:
    assert (
        crc_response_token("challenge_string", "consumer-secret-example")
        == "sha256=SsxOpSGLxgXJx6R1gmfbpaG1lSmax0jR508kjeBxSMY="
    )


def test_new_id_is_19_digits_and_increasing() -> None:
    ids = [int(new_id()) for _ in range(50)]
    assert all(len(str(i)) == 19 for i in ids)
    assert ids == sorted(set(ids))


def test_dm_payload_inbound_and_echo() -> None:
    inbound = dm_payload(account=ACCOUNT, customer=DEMO_CUSTOMER, text="hi")
    event = inbound["direct_message_events"][0]
    assert inbound["for_user_id"] == ACCOUNT.id
    assert event["message_create"]["sender_id"] == DEMO_CUSTOMER.id
    assert event["message_create"]["target"]["recipient_id"] == ACCOUNT.id
    assert set(inbound["users"]) == {ACCOUNT.id, DEMO_CUSTOMER.id}

    echo = dm_payload(
        account=ACCOUNT,
        customer=DEMO_CUSTOMER,
        text="hi",
        outbound=True,
        event_id="42",
        source_app_id="777",
    )
    echo_event = echo["direct_message_events"][0]
    assert echo_event["id"] == "42"
    assert echo_event["message_create"]["sender_id"] == ACCOUNT.id
    assert echo_event["message_create"]["source_app_id"] == "777"
    assert "777" in echo["apps"]


def test_mention_payload_entities_and_truncation() -> None:
    text = "@pingback_demo " + "late " * 40
    tweet = mention_payload(
        account=ACCOUNT, author=DEMO_CUSTOMER, text=text, created_ms=1747663306000
    )["tweet_create_events"][0]
    assert tweet["created_at"] == "Mon May 19 14:01:46 +0000 2025"
    assert tweet["truncated"] is True
    assert len(tweet["text"]) == 140 and tweet["text"].endswith("…")
    assert tweet["extended_tweet"]["full_text"] == text
    mention = tweet["entities"]["user_mentions"][0]
    assert (mention["id_str"], mention["indices"]) == (ACCOUNT.id, [0, 14])


# --------------------------------------------------------------------------
# X API through real tweepy (docs/platforms/x.md, "Sending", "tweepy 4.17.0")
# --------------------------------------------------------------------------


def test_get_me_with_oauth1_and_query_parameters(sandbox: SandboxServer) -> None:
    client = make_client(sandbox)
    me = client.get_me(user_fields=["username", "profile_image_url"]).data
    assert (me.id, me.username) == (int(ACCOUNT.id), ACCOUNT.screen_name)

    [record] = sandbox.requests()
    assert record["method"] == "GET" and record["path"] == "/2/users/me"
    assert record["query"] == {"user.fields": "username,profile_image_url"}
    assert record["headers"]["authorization"] == "OAuth"
    assert record["auth"]["kind"] == "oauth1"
    assert record["auth"]["user_id"] == ACCOUNT.id
    assert record["auth"]["consumer_key"] == DEMO_APP.consumer_key
    assert record["status"] == 200


def test_create_direct_message(sandbox: SandboxServer) -> None:
    response = make_client(sandbox).create_direct_message(
        participant_id=DEMO_CUSTOMER.id, text="Hello Casey"
    )
    assert response.data["dm_conversation_id"] == f"{ACCOUNT.id}-{DEMO_CUSTOMER.id}"

    [sent] = sandbox.x.sent_dms
    assert sent["dm_event_id"] == response.data["dm_event_id"]
    assert (sent["sender_id"], sent["participant_id"], sent["text"]) == (
        ACCOUNT.id,
        DEMO_CUSTOMER.id,
        "Hello Casey",
    )
    [record] = sandbox.requests()
    assert record["path"] == f"/2/dm_conversations/with/{DEMO_CUSTOMER.id}/messages"
    assert record["json"] == {"text": "Hello Casey"}
    assert record["status"] == 201


def test_direct_message_over_10000_chars_is_a_bad_request(
    sandbox: SandboxServer,
) -> None:
    with pytest.raises(tweepy.BadRequest):
        make_client(sandbox).create_direct_message(
            participant_id=DEMO_CUSTOMER.id, text="x" * 10_001
        )
    assert sandbox.x.sent_dms == []


def test_create_tweet_reply(sandbox: SandboxServer) -> None:
    response = make_client(sandbox).create_tweet(
        text="@casey_customer on its way", in_reply_to_tweet_id="1924465506158878979"
    )
    assert response.data["edit_history_tweet_ids"] == [response.data["id"]]

    [tweet] = sandbox.x.tweets
    assert tweet["id"] == response.data["id"]
    assert tweet["author_id"] == ACCOUNT.id
    assert tweet["in_reply_to_tweet_id"] == "1924465506158878979"
    assert sandbox.requests()[0]["json"] == {
        "text": "@casey_customer on its way",
        "reply": {"in_reply_to_tweet_id": "1924465506158878979"},
    }


def test_wrong_consumer_secret_is_unauthorized(sandbox: SandboxServer) -> None:
    client = make_client(sandbox, consumer_secret="not-the-secret")
    with pytest.raises(tweepy.Unauthorized):
        client.create_direct_message(participant_id=DEMO_CUSTOMER.id, text="hi")
    assert sandbox.x.sent_dms == []
    assert sandbox.requests()[0]["auth"]["consumer_key"] is None


def test_app_only_bearer_cannot_send_dms(sandbox: SandboxServer) -> None:
    client = make_client(sandbox)
    with pytest.raises(tweepy.Forbidden) as caught:
        client.create_direct_message(
            participant_id=DEMO_CUSTOMER.id, text="hi", user_auth=False
        )
    assert caught.value.response.json()["title"] == "Unsupported Authentication"


def test_access_token_works_as_oauth2_user_bearer(sandbox: SandboxServer) -> None:
    client = make_client(sandbox, bearer_token=DEMO_APP.access_token)
    assert client.get_me(user_auth=False).data.username == ACCOUNT.screen_name


def test_registered_app_with_random_credentials(sandbox: SandboxServer) -> None:
    app = XApp(
        consumer_key="ck-" + new_id(),
        consumer_secret="cs-" + new_id(),
        bearer_token="bt-" + new_id(),
        account=XUser(id="3300000000000000003", screen_name="acme", name="Acme"),
        access_token="3300000000000000003-" + new_id(),
        access_token_secret="ats-" + new_id(),
    )
    body = {
        "consumer_key": app.consumer_key,
        "consumer_secret": app.consumer_secret,
        "bearer_token": app.bearer_token,
        "access_token": app.access_token,
        "access_token_secret": app.access_token_secret,
        "account": app.account.as_public(),
    }
    assert control(sandbox, "POST", "/_sandbox/x/apps", json=body).status_code == 201

    assert make_client(sandbox, app).get_me().data.username == "acme"
    state = control(sandbox, "GET", "/_sandbox/x/state").json()
    assert app.consumer_secret not in json.dumps(state)
    assert app.consumer_key in [a["consumer_key"] for a in state["apps"]]


# --------------------------------------------------------------------------
# Failure modes (docs/platforms/x.md, "Errors PingBack maps", "Credits exhausted
# (Pay Per Use)", "Rate limits", "Notes for the X fake")
# --------------------------------------------------------------------------


def test_credits_depleted_is_a_402(sandbox: SandboxServer) -> None:
    control(sandbox, "POST", "/_sandbox/x/mode", json={"credits_depleted": True})
    with pytest.raises(tweepy.HTTPException) as caught:
        make_client(sandbox).create_direct_message(
            participant_id=DEMO_CUSTOMER.id, text="hi"
        )
    assert caught.value.response.status_code == 402
    assert caught.value.response.json()["title"] == "CreditsDepleted"
    assert sandbox.x.sent_dms == []
    assert control(sandbox, "GET", "/_sandbox/x/state").status_code == 200


def test_rate_limit_next_gives_too_many_requests(sandbox: SandboxServer) -> None:
    control(sandbox, "POST", "/_sandbox/x/mode", json={"rate_limit_next": 1})
    client = make_client(sandbox)
    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.get_me()
    assert caught.value.reset_time is not None
    assert caught.value.response.headers["x-rate-limit-remaining"] == "0"
    assert client.get_me().data.username == ACCOUNT.screen_name


def test_server_error_next_is_a_server_error_once(sandbox: SandboxServer) -> None:
    control(sandbox, "POST", "/_sandbox/x/mode", json={"server_error_next": 1})
    with pytest.raises(tweepy.TwitterServerError):
        make_client(sandbox).get_me()
    assert control(sandbox, "GET", "/_sandbox/x/mode").json()["server_error_next"] == 0


# --------------------------------------------------------------------------
# Webhooks, CRC and subscriptions (docs/platforms/x.md, "Webhook registration and
# subscriptions", "CRC challenge")
# --------------------------------------------------------------------------


def test_webhook_registration_without_crc(sandbox: SandboxServer) -> None:
    control(sandbox, "POST", "/_sandbox/x/mode", json={"crc_check": False})
    client = make_client(sandbox)
    url = "https://pingback.example/webhooks/x"
    data = client.request("POST", "/2/webhooks", json={"url": url}).json()["data"]
    assert data["url"] == url and data["valid"] is True
    assert sandbox.requests()[0]["auth"] == {
        "kind": "bearer",
        "user_id": None,
        "consumer_key": DEMO_APP.consumer_key,
        "valid": True,
    }

    with pytest.raises(tweepy.BadRequest) as duplicate:
        client.request("POST", "/2/webhooks", json={"url": url})
    assert duplicate.value.api_messages == ["DuplicateUrlFailed"]
    with pytest.raises(tweepy.BadRequest) as over_limit:
        client.request("POST", "/2/webhooks", json={"url": url + "/2"})
    assert over_limit.value.api_messages == ["WebhookLimitExceeded"]

    listed = client.request("GET", "/2/webhooks").json()
    assert listed["meta"]["result_count"] == 1
    deleted = client.request("DELETE", f"/2/webhooks/{data['id']}").json()
    assert deleted == {"data": {"deleted": True}}


def test_subscriptions(sandbox: SandboxServer) -> None:
    control(sandbox, "POST", "/_sandbox/x/mode", json={"crc_check": False})
    client = make_client(sandbox)
    webhook_id = connect_webhook(sandbox, client, "https://pingback.example/x")
    path = f"/2/account_activity/webhooks/{webhook_id}/subscriptions"

    with pytest.raises(tweepy.BadRequest) as duplicate:
        client.request("POST", f"{path}/all", user_auth=True)
    assert duplicate.value.api_messages == ["DuplicateSubscriptionFailed"]
    listed = client.request("GET", f"{path}/all/list").json()["data"]
    assert listed["subscriptions"] == [{"user_id": ACCOUNT.id}]

    removed = client.request("DELETE", f"{path}/{ACCOUNT.id}/all")
    assert removed.status_code == 204
    assert sandbox.x.subscriptions == []
    with pytest.raises(tweepy.BadRequest) as unknown:
        client.request(
            "POST", "/2/account_activity/webhooks/1/subscriptions/all", user_auth=True
        )
    assert unknown.value.api_messages == ["WebhookIdInvalid"]


def test_crc_answered_correctly_registers_the_webhook(sandbox: SandboxServer) -> None:
    with Receiver() as receiver:
        response = make_client(sandbox).request(
            "POST", "/2/webhooks", json={"url": receiver.url}
        )
    assert response.status_code == 200
    assert len(receiver.queries()) == 1
    assert sandbox.x.webhooks[0]["url"] == receiver.url


def test_crc_answered_wrongly_is_refused(sandbox: SandboxServer) -> None:
    with Receiver(crc_secret="some-other-secret") as receiver:
        with pytest.raises(tweepy.BadRequest) as caught:
            make_client(sandbox).request(
                "POST", "/2/webhooks", json={"url": receiver.url}
            )
    assert caught.value.api_messages == ["CrcValidationFailed"]
    assert sandbox.x.webhooks == []


# --------------------------------------------------------------------------
# Acting as X: signed deliveries
# --------------------------------------------------------------------------


def test_customer_dm_is_delivered_signed(sandbox: SandboxServer) -> None:
    with Receiver() as receiver:
        connect_webhook(sandbox, make_client(sandbox), receiver.url)
        answer = control(
            sandbox, "POST", "/_sandbox/x/customer/dm", json={"text": "Where is it?"}
        )
    assert answer.status_code == 200
    result = answer.json()
    assert result["deliveries"][0]["status_code"] == 200

    [(headers, body)] = receiver.posts
    assert headers[SIGNATURE_HEADER] == sign(body, DEMO_APP.consumer_secret)
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert payload == result["payload"]
    event = payload["direct_message_events"][0]
    assert event["id"] == result["event_id"]
    assert event["message_create"]["sender_id"] == DEMO_CUSTOMER.id
    assert event["message_create"]["message_data"]["text"] == "Where is it?"


def test_customer_mention_in_xaa_format(sandbox: SandboxServer) -> None:
    with Receiver() as receiver:
        connect_webhook(sandbox, make_client(sandbox), receiver.url)
        result = control(
            sandbox,
            "POST",
            "/_sandbox/x/customer/mention",
            json={"text": "help please", "format": "xaa"},
        ).json()
    [(headers, body)] = receiver.posts
    assert headers[SIGNATURE_HEADER] == sign(body, DEMO_APP.consumer_secret)
    data = json.loads(body)["data"]
    assert data["event_type"] == "post.mention.create"
    assert data["payload"]["id"] == result["event_id"]
    assert data["payload"]["text"] == "@pingback_demo help please"
    assert data["payload"]["entities"]["mentions"][0]["id"] == ACCOUNT.id


def test_customer_dm_without_webhook_is_kept_for_polling(
    sandbox: SandboxServer,
) -> None:
    """With no webhook the DM is delivered nowhere, but the account's app
    reads it with GET /2/dm_events, as on X."""
    answer = control(sandbox, "POST", "/_sandbox/x/customer/dm", json={"text": "hi"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["deliveries"] == []
    listed = make_client(sandbox).request(
        "GET",
        "/2/dm_events",
        params={"dm_event.fields": "sender_id,created_at", "expansions": "sender_id"},
        user_auth=True,
    )
    assert listed.headers["x-rate-limit-remaining"] == "14"
    body = listed.json()
    assert [event["id"] for event in body["data"]] == [answer.json()["event_id"]]
    assert body["data"][0]["event_type"] == "MessageCreate"
    assert body["data"][0]["sender_id"] == DEMO_CUSTOMER.id
    assert body["includes"]["users"][0]["username"] == DEMO_CUSTOMER.screen_name


def test_demo_page_escapes_and_redirects(sandbox: SandboxServer) -> None:
    control(sandbox, "POST", "/_sandbox/x/mode", json={"crc_check": False})
    make_client(sandbox).create_direct_message(
        participant_id=DEMO_CUSTOMER.id, text="<b>hi</b>"
    )
    posted = control(
        sandbox, "POST", "/_sandbox/x/ui/dm", data={"text": "x"}, allow_redirects=False
    )
    assert posted.status_code == 303
    assert posted.headers["Location"].startswith("/?flash=")
    page = control(sandbox, "GET", "/").text
    assert "X sandbox" in page
    assert "&lt;b&gt;hi&lt;/b&gt;" in page and "<b>hi</b>" not in page


def test_unknown_x_path_is_a_404_problem(sandbox: SandboxServer) -> None:
    with pytest.raises(tweepy.NotFound):
        make_client(sandbox).request("GET", "/2/nowhere")
    assert sandbox.requests()[0]["status"] == 404


def test_latency_makes_every_api_call_wait_before_it_is_handled() -> None:
    # Given a sandbox whose API calls take 0.3 s, as a real platform's do.
    with SandboxServer(latency=0.3) as slow:
        started = time.time()

        # When a DM is sent.
        make_client(slow).create_direct_message(
            participant_id=DEMO_CUSTOMER.id, text="Hello, slowly"
        )

        # Then X recorded it only after the wait, and answered after it.
        answered = time.time()
        [sent] = slow.x.sent_dms
        assert sent["received_at"] - started >= 0.3
        assert answered - sent["received_at"] >= 0
        assert answered - started >= 0.3


def test_no_latency_by_default(sandbox: SandboxServer) -> None:
    assert sandbox.latency == 0.0

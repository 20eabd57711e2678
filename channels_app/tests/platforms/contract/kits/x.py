"""X: Account Activity / X Activity webhooks, signed with the consumer secret
(docs/platforms/x.md, "CRC challenge" and "Signature")."""

import json

from channels_app.platforms.base import PermanentDeliveryError
from channels_app.tests.platforms.contract.kits.base import (
    Handshake,
    Kit,
    SendErrorCase,
    Sending,
    header,
    transient_refusals,
)
from channels_app.tests.platforms.fixtures import compact_json
from sandbox.platforms.x import payloads as x_signer
from sandbox.platforms.x.payloads import DEMO_APP

SIGNATURE = header(x_signer.SIGNATURE_HEADER)


def crc_answer(channel) -> tuple[str, bytes]:
    token = x_signer.crc_response_token(
        "challenge_string", channel.secrets["api_secret"]
    )
    return "application/json", json.dumps({"response_token": token}).encode()


KIT = Kit(
    platform="x",
    channel=lambda: {
        "type": "x",
        "secrets": DEMO_APP.as_config(),
        "config": {
            "account_id": DEMO_APP.account.id,
            "handle": DEMO_APP.account.screen_name,
        },
    },
    load=compact_json,
    malformed={
        "not JSON": (
            b"{not json",
            "body is not JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        "id of the wrong type": (
            b'{"for_user_id": 15, "direct_message_events": []}',
            "for_user_id: expected a string, got an integer",
        ),
        "no events": (b'{"for_user_id": "1500000000000000001"}', "body: no events"),
    },
    signer=lambda channel, body, secret: {SIGNATURE: x_signer.sign(body, secret)},
    secret="api_secret",
    forged={"forged": {SIGNATURE: "sha256=" + "A" * 43 + "="}},
    delivery="dm__text",
    handshake=Handshake(
        query=lambda channel: {"crc_token": "challenge_string"},
        answer=crc_answer,
        secret="api_secret",
    ),
    vectors=(
        (
            x_signer.crc_response_token,
            ("challenge_string", "consumer-secret-example"),
            "sha256=SsxOpSGLxgXJx6R1gmfbpaG1lSmax0jR508kjeBxSMY=",
        ),
        (
            x_signer.sign,
            (
                b'{"for_user_id":"2244994945","direct_message_events":[]}',
                "consumer-secret-example",
            ),
            "sha256=tpoJmg3Kk0S8hU8HscRwptrpoI9Y5pj9kku2Z/F5KS0=",
        ),
    ),
    sending=Sending.watching(
        "x",
        "sent_dms",
        ("dm_event_id", "text"),
        errors={
            "no API credits": SendErrorCase(
                {"credits_depleted": True},
                PermanentDeliveryError,
                "X API credits exhausted: the X account has no API credits, so "
                "replies cannot be sent until it is topped up in the X Developer "
                "Console. Incoming messages keep arriving.",
                fields={"status_code": 402},
            ),
            **transient_refusals(
                "X rate limit reached",
                "X API error: Service Unavailable (HTTP 503)",
                {"status_code": 429, "retry_after": 1.0, "rate_limited": True},
                {"status_code": 503, "rate_limited": False},
            ),
        },
    ),
)

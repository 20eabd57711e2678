"""`pingback.untrusted`: the nesting limit counts only real nesting, and the
repair touches only what cannot be stored, leaving every other body byte for
byte as it came."""

from __future__ import annotations

import json

import pytest

from channels_app.models import InboundEvent
from channels_app.tests.factories import ChannelFactory
from conversations.models import Message
from pingback.untrusted import (
    JsonTooDeep,
    form_body_repair,
    json_body_repair,
    json_depth_exceeds,
    json_loads,
)
from sandbox.platforms.x.payloads import DEMO_APP, XUser, dm_payload, new_id, sign


@pytest.mark.parametrize(
    ("_case", "text", "exceeds"),
    [
        ("64 deep", "[" * 64 + "]" * 64, False),
        ("65 deep", "[" * 65 + "]" * 65, True),
        ("objects count too", '{"a":' * 65 + "1" + "}" * 65, True),
        ("many siblings, shallow", "[" + ",".join(["[]"] * 500) + "]", False),
        ("brackets inside a string", json.dumps(["[" * 500]), False),
        ("an escaped quote inside a string", json.dumps(['"' + "[" * 500]), False),
        ("unclosed arrays", "[" * 65, True),
    ],
)
def test_only_real_nesting_counts(_case, text, exceeds):
    assert json_depth_exceeds(text.encode(), 64) is exceeds


def test_too_deep_json_is_refused_before_parsing():
    with pytest.raises(JsonTooDeep, match=r"JSON nested deeper than 64 levels\."):
        json_loads(b"[" * 50_000 + b"]" * 50_000)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"text": "plain"}', id="ascii"),
        pytest.param('{"text": "caf\u00e9 \U0001f600"}'.encode(), id="utf-8"),
        pytest.param(b'{"text": "\\ud83d\\ude00"}', id="an escaped pair"),
        pytest.param(b'{"text": "C:\\\\u0000"}', id="an escaped backslash, then u0000"),
    ],
)
def test_a_body_with_nothing_to_repair_is_kept_byte_for_byte(body):
    assert json_body_repair(body) is body


@pytest.mark.parametrize(
    ("body", "text"),
    [
        pytest.param(b'{"t": "a\\u0000b"}', "a\ufffdb", id="NUL"),
        pytest.param(b'{"t": "a\\uD800b"}', "a\ufffdb", id="upper-case high"),
        pytest.param(b'{"t": "a\\udc00\\ud800b"}', "a\ufffd\ufffdb", id="reversed"),
        pytest.param(b'{"t": "a\\ud800"}', "a\ufffd", id="high at the end"),
        pytest.param(b'{"t\\u0000": "a\xffb"}', "a\ufffdb", id="key and raw byte"),
    ],
)
def test_unstorable_text_is_replaced_and_nothing_else_changes(body, text):
    (value,) = json.loads(json_body_repair(body)).values()
    assert value == text


def test_a_clean_form_is_kept_byte_for_byte_and_a_nul_is_replaced():
    clean = b"Body=Hi+there&To=%2B15005550006"

    assert form_body_repair(clean) is clean
    assert form_body_repair(b"Body=Hi%00there") == b"Body=Hi%EF%BF%BDthere"


@pytest.mark.django_db
def test_a_message_full_of_brackets_is_stored_as_written(
    client, django_capture_on_commit_callbacks
):
    channel = ChannelFactory()
    text = "[" * 300 + " my keyboard is stuck " + "}" * 300
    body = json.dumps(
        dm_payload(
            account=DEMO_APP.account,
            customer=XUser(id="2400000000000000001", screen_name="c", name="C"),
            text=text,
            event_id=new_id(),
            created_ms=1_760_000_000_000,
        )
    ).encode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/webhooks/x/{channel.pk}",
            data=body,
            content_type="application/json",
            HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=sign(body, DEMO_APP.consumer_secret),
        )

    assert response.status_code == 200
    assert bytes(InboundEvent.objects.get().body) == body
    assert Message.objects.get().text == text

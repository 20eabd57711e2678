"""Setup states that tell the truth: a Meta channel is "Action required"
(saying what to do) until Meta's first correctly signed event proves the
dashboard step was done, then "Ready"; the demo's channels are all ready and
named."""

from __future__ import annotations

import hashlib
import hmac
import io
import json

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.models import Channel, InboundEvent
from sandbox.platforms.instagram.payloads import DEMO_ACCOUNT as DEMO_INSTAGRAM
from sandbox.platforms.whatsapp.payloads import DEMO_NUMBER
from sandbox.platforms.whatsapp.payloads import (
    dashboard_test_event as whatsapp_test_event,
)

VERIFY_TOKEN = "chosen-verify-token-1234"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def create(admin_api, channel_type: str, config: dict) -> dict:
    response = admin_api.post(
        "/api/v1/channels/",
        {"type": channel_type, "config": config},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def post(client, channel_id: str, body: bytes, signed_with: str):
    return client.post(
        f"/api/v1/webhooks/whatsapp/{channel_id}",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature(signed_with, body),
    )


@pytest.mark.django_db
def test_whatsapp_is_action_required_saying_what_to_do_until_metas_first_signed_event(
    admin_api, client, sandbox
):
    created = create(
        admin_api, "whatsapp", DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN)
    )
    body = json.dumps(whatsapp_test_event()).encode()

    assert created["setup"]["state"] == "action_required"
    assert (
        "Paste this callback URL and verify token in Meta's dashboard"
        in (created["setup"]["message"])
    )
    assert "subscribe to the messages field" in created["setup"]["message"]
    assert (
        "ready when Meta's first signed event arrives" in (created["setup"]["message"])
    )

    forged = post(client, created["id"], body, signed_with="not-the-app-secret")

    assert forged.status_code == 403
    channel = Channel.objects.get(pk=created["id"])
    assert channel.setup_state == "action_required"

    signed = post(client, created["id"], body, signed_with=DEMO_NUMBER.app_secret)

    assert signed.status_code == 200
    channel.refresh_from_db()
    assert channel.setup_state == "ready"
    assert channel.setup_message.startswith("Receiving events from Meta since ")
    assert channel.setup_message.endswith(" UTC.")
    shown = admin_api.get(f"/api/v1/channels/{created['id']}").json()
    assert shown["setup"]["state"] == "ready"
    # Meta's sample is for another number: kept, and no conversation.
    assert InboundEvent.objects.filter(channel=channel).count() == 1


@pytest.mark.django_db
def test_setup_run_again_on_a_channel_receiving_events_stays_ready(
    admin_api, client, sandbox
):
    created = create(
        admin_api, "whatsapp", DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN)
    )
    body = json.dumps(whatsapp_test_event()).encode()
    post(client, created["id"], body, signed_with=DEMO_NUMBER.app_secret)

    again = admin_api.post(f"/api/v1/channels/{created['id']}/setup/").json()

    assert again["setup"]["state"] == "ready"
    assert again["setup"]["message"].startswith(
        "Connected to PingBack Demo (+1 555-010-4477). Receiving events from Meta "
        "since "
    )


@pytest.mark.django_db
def test_a_ready_channel_costs_no_extra_write_per_event(admin_api, client, sandbox):
    created = create(
        admin_api, "whatsapp", DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN)
    )
    first = json.dumps(whatsapp_test_event()).encode()
    post(client, created["id"], first, signed_with=DEMO_NUMBER.app_secret)

    def event(message_id: str) -> bytes:
        body = whatsapp_test_event()
        body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = message_id
        return json.dumps(body).encode()

    # The next event, once this process has read the channel as ready again.
    post(client, created["id"], event("ABGGFlA5Fpb"), DEMO_NUMBER.app_secret)

    with CaptureQueriesContext(connection) as queries:
        response = post(
            client, created["id"], event("ABGGFlA5Fpc"), DEMO_NUMBER.app_secret
        )

    assert response.status_code == 200
    channel_writes = [
        q["sql"]
        for q in queries
        if q["sql"].startswith('UPDATE "channels_app_channel"')
    ]
    assert channel_writes == []


@pytest.mark.django_db
def test_a_channel_without_an_app_secret_stays_action_required(client, sandbox):
    from channels_app.tests.factories import ChannelFactory

    channel = ChannelFactory(
        type="whatsapp",
        config={"phone_number_id": DEMO_NUMBER.phone_number_id},
        secrets={"access_token": DEMO_NUMBER.access_token},
        setup_state="action_required",
    )
    body = json.dumps(whatsapp_test_event()).encode()

    response = post(client, str(channel.pk), body, signed_with=DEMO_NUMBER.app_secret)

    assert response.status_code == 403
    channel.refresh_from_db()
    assert channel.setup_state == "action_required"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("platform", ["whatsapp", "instagram"])
def test_the_dashboards_test_button_through_the_sandbox_turns_the_channel_ready(
    admin_api, live_server, sandbox, settings, platform
):
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url
    if platform == "whatsapp":
        config = DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN)
        secret = DEMO_NUMBER.app_secret
    else:
        config = DEMO_INSTAGRAM.as_config()
        secret = DEMO_INSTAGRAM.app_secret
    created = create(admin_api, platform, config)
    instructions = created["config"]["_meta_setup_instructions"]
    assert created["setup"]["state"] == "action_required"

    answer = requests.post(
        f"{sandbox.url}/_sandbox/{platform}/subscribe",
        json={
            "callback_url": instructions["callback_url"],
            "verify_token": instructions["verify_token"],
            "app_secret": secret,
            "test": True,
        },
        timeout=30,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["test_delivery"]["status_code"] == 200
    channel = Channel.objects.get(pk=created["id"])
    assert channel.setup_state == "ready"
    assert channel.setup_message.startswith("Receiving events from Meta since ")
    assert not channel.conversations.exists()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_demo_leaves_every_channel_ready_and_named(live_server, sandbox, settings):
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url

    # Run twice, as `bin/run` does on each start.
    for _ in range(2):
        out = io.StringIO()
        call_command(
            "setup_demo", sandbox_url=sandbox.url, password="demo-pass", stdout=out
        )

    shown = {
        (channel.type, channel.config.get("delivery", "webhook")): (
            channel.setup_state,
            channel.name,
        )
        for channel in Channel.objects.all()
    }
    assert Channel.objects.count() == len(shown) == 7
    # Only X channels have a delivery mode.
    shown = {kind if kind[0] == "x" else kind[0]: v for kind, v in shown.items()}
    assert shown == {
        ("x", "webhook"): ("ready", "@pingback_demo"),
        ("x", "polling"): ("ready", "@pingback_polled"),
        "telegram": ("ready", "@pingback_demo_bot"),
        "whatsapp": ("ready", "PingBack Demo (+1 555-010-4477)"),
        "instagram": ("ready", "@pingback_demo"),
        "sms": ("ready", "+1 500-555-0006"),
        "webchat": ("ready", "localhost:8766"),
    }, out.getvalue()
    assert "Action required" not in out.getvalue()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_mention_of_the_demos_polled_x_account_becomes_a_conversation(
    live_server, sandbox, settings
):
    """The README's demo: a customer mentions the second X account, which no
    webhook serves; beat's next tick of `channels.poll_x_channels` (tasks
    eager, as `bin/run` runs them without a broker) reads it into the inbox."""
    from channels_app.tasks import poll_x_channels
    from conversations.models import Conversation
    from sandbox.platforms.x.payloads import DEMO_POLLING_APP

    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url
    call_command(
        "setup_demo",
        sandbox_url=sandbox.url,
        password="demo-pass",
        stdout=io.StringIO(),
    )
    polled = Channel.objects.get(type="x", config__delivery="polling")
    account = DEMO_POLLING_APP.account.id

    answer = requests.post(
        f"{sandbox.url}/_sandbox/x/customer/mention",
        json={"account_id": account, "text": "is the demo polled?"},
        timeout=30,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["deliveries"] == []  # no webhook: it waits to be read
    assert not Conversation.objects.exists()
    assert poll_x_channels() == 1
    conversation = Conversation.objects.get()
    assert conversation.channel == polled
    message = conversation.messages.get()
    assert message.text == "@pingback_polled is the demo polled?"
    assert message.platform_message_id == answer.json()["event_id"]

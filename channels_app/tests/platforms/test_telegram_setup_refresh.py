"""Telegram channels set up by an older PingBack get the webhook's new
`allowed_updates` without an admin doing anything: beat's
`channels.refresh_channel_setups` runs setup again for them
(docs/platforms/telegram.md, "Webhook setup and secret token").

Everything runs against the sandbox's Telegram stand-in over HTTP, which,
as Telegram does, only posts the update kinds the webhook was registered for;
the webhook URL is a live server. Tasks run eagerly.
"""

import pytest
import requests

from channels_app.models import Channel
from channels_app.platforms.telegram import HANDLED_UPDATES
from channels_app.tasks import refresh_channel_setups
from conversations.models import Message
from sandbox.platforms.telegram.standin import DEMO_BOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def old_channel(admin_api, live_server, sandbox, settings) -> Channel:
    """A Telegram channel as an older release left it: its webhook registered
    for new messages only, and no record of the update kinds."""
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url
    created = admin_api.post(
        "/api/v1/channels/",
        {"type": "telegram", "config": {"bot_token": DEMO_BOT.token}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    channel = Channel.objects.get()
    answer = requests.post(
        f"{sandbox.url}/bot{DEMO_BOT.token}/setWebhook",
        json={
            "url": created.json()["webhook_url"],
            "secret_token": channel.secrets["webhook_secret"],
            "allowed_updates": ["message"],
        },
        timeout=30,
    )
    assert answer.json() == {
        "ok": True,
        "result": True,
        "description": "Webhook was set",
    }
    del channel.config["webhook_updates"]
    channel.save(update_fields=["config"])
    return channel


def customer(sandbox, **body) -> dict:
    answer = requests.post(
        f"{sandbox.url}/_sandbox/telegram/customer/message", json=body, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_old_channel_gets_the_new_update_kinds_by_itself(old_channel, sandbox):
    # given: an edit does not reach PingBack through the old registration
    sent = customer(sandbox, text="My order #4411 never came")
    assert sent["delivery"]["status_code"] == 200
    missed = customer(
        sandbox, kind="edit", message_id=sent["message_id"], text="Order #4412"
    )
    assert missed["delivery"]["status_code"] is None
    assert "edited_message is not in allowed_updates" in missed["delivery"]["body"]
    secret = old_channel.secrets["webhook_secret"]

    # when beat runs
    assert refresh_channel_setups() == 1

    # then the webhook is registered again, for every kind PingBack handles
    hook = sandbox.telegram.webhook()
    assert hook["allowed_updates"] == list(HANDLED_UPDATES)
    assert hook["secret_token"] == secret
    channel = Channel.objects.get()
    assert channel.setup_state == "ready"
    assert channel.config["webhook_updates"] == list(HANDLED_UPDATES)
    assert channel.secrets["webhook_secret"] == secret
    # and the customer's next edit reaches the conversation
    edited = customer(
        sandbox, kind="edit", message_id=sent["message_id"], text="Order #4413"
    )
    assert edited["delivery"]["status_code"] == 200
    assert Message.objects.get().text == "Order #4413"

    # A channel already current is left alone: no second setWebhook.
    assert refresh_channel_setups() == 0
    assert sandbox.telegram.webhook()["set_at"] == hook["set_at"]


def test_a_refresh_telegram_refuses_leaves_the_channel_working_and_retries(
    old_channel, sandbox
):
    requests.post(
        f"{sandbox.url}/_sandbox/telegram/mode",
        json={"server_error_next": 5, "failing_method": "setWebhook"},
        timeout=30,
    ).raise_for_status()

    assert refresh_channel_setups() == 1

    channel = Channel.objects.get()
    assert channel.setup_state == "ready"
    assert "webhook_updates" not in channel.config
    assert sandbox.telegram.webhook()["allowed_updates"] == ["message"]
    # New messages still arrive through the old registration.
    assert customer(sandbox, text="still there?")["delivery"]["status_code"] == 200

    # The next run, once Telegram answers, brings it up to date.
    requests.post(
        f"{sandbox.url}/_sandbox/telegram/mode",
        json={"server_error_next": 0, "failing_method": ""},
        timeout=30,
    ).raise_for_status()
    assert refresh_channel_setups() == 1
    assert sandbox.telegram.webhook()["allowed_updates"] == list(HANDLED_UPDATES)
    assert Channel.objects.get().config["webhook_updates"] == list(HANDLED_UPDATES)


def test_channels_not_ready_or_inactive_are_not_set_up_again(old_channel, sandbox):
    Channel.objects.filter(pk=old_channel.pk).update(setup_state="failed")
    assert refresh_channel_setups() == 0
    Channel.objects.filter(pk=old_channel.pk).update(
        setup_state="ready", is_active=False
    )
    assert refresh_channel_setups() == 0
    assert sandbox.telegram.webhook()["allowed_updates"] == ["message"]

"""Channel names: filled from the platform at setup (through the sandbox
stand-ins and the real SDK calls), kept once an admin typed one, editable
through the API and shown by the inbox."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from conversations.tests.factories import ConversationFactory
from sandbox.platforms.instagram.payloads import DEMO_ACCOUNT as DEMO_INSTAGRAM
from sandbox.platforms.sms.payloads import DEMO_ACCOUNT as DEMO_TWILIO
from sandbox.platforms.telegram.standin import DEMO_BOT
from sandbox.platforms.whatsapp.payloads import DEMO_NUMBER
from sandbox.platforms.x.payloads import DEMO_APP

pytestmark = pytest.mark.django_db


def create(admin_api, channel_type: str, config: dict, **extra):
    response = admin_api.post(
        "/api/v1/channels/",
        {"type": channel_type, "config": config, **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.parametrize(
    ("channel_type", "config", "name"),
    [
        ("telegram", {"bot_token": DEMO_BOT.token}, "@pingback_demo_bot"),
        (
            "whatsapp",
            DEMO_NUMBER.as_config(verify_token="chosen-verify-token-1234"),
            "PingBack Demo (+1 555-010-4477)",
        ),
        ("instagram", DEMO_INSTAGRAM.as_config(), "@pingback_demo"),
        ("sms", DEMO_TWILIO.as_config(), "+1 500-555-0006"),
        ("x", DEMO_APP.as_config(), "@pingback_demo"),
        (
            "webchat",
            {"allowed_domains": ["shop.example.com", "help.example.com"]},
            "shop.example.com",
        ),
    ],
    ids=["telegram", "whatsapp", "instagram", "sms", "x", "webchat"],
)
def test_setup_names_the_channel_as_the_platform_knows_it(
    admin_api, sandbox, business, channel_type, config, name
):
    business.plan = "pro"
    business.save(update_fields=["plan"])

    body = create(admin_api, channel_type, config)

    assert body["name"] == name
    channel = Channel.objects.get(pk=body["id"])
    assert channel.name == name
    assert str(channel) == name


def test_an_unnamed_channel_is_still_shown_by_type_and_id():
    channel = ChannelFactory(type="telegram", config={})

    assert str(channel) == f"Telegram {str(channel.id)[:8]}"


def test_a_typed_name_is_kept_when_setup_runs_again(admin_api, sandbox):
    body = create(
        admin_api, "telegram", {"bot_token": DEMO_BOT.token}, name="Support bot"
    )
    assert body["name"] == "Support bot"

    again = admin_api.post(f"/api/v1/channels/{body['id']}/setup/")

    assert again.status_code == 200
    assert again.json()["setup"]["state"] == "ready"
    assert again.json()["name"] == "Support bot"


def test_a_name_typed_after_setup_is_kept_and_clearing_it_lets_setup_name_it(
    admin_api, sandbox
):
    body = create(admin_api, "telegram", {"bot_token": DEMO_BOT.token})
    url = f"/api/v1/channels/{body['id']}"

    renamed = admin_api.patch(url, {"name": "Night shift bot"}, format="json")
    admin_api.post(f"{url}/setup/")

    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Night shift bot"
    assert Channel.objects.get(pk=body["id"]).name == "Night shift bot"

    admin_api.patch(url, {"name": ""}, format="json")
    again = admin_api.post(f"{url}/setup/")

    assert again.json()["name"] == "@pingback_demo_bot"


def test_a_name_setup_gave_follows_the_account_on_the_next_setup(admin_api, sandbox):
    body = create(admin_api, "telegram", {"bot_token": DEMO_BOT.token})
    channel = Channel.objects.get(pk=body["id"])
    # The bot was renamed on Telegram's side since the last setup.
    channel.config = {**channel.config, "bot_username": "old_name_bot"}
    channel.name = "@old_name_bot"
    channel.save()

    again = admin_api.post(f"/api/v1/channels/{body['id']}/setup/")

    assert again.json()["name"] == "@pingback_demo_bot"


def test_a_name_over_200_characters_is_400_naming_the_field(admin_api, sandbox):
    body = create(admin_api, "telegram", {"bot_token": DEMO_BOT.token})

    response = admin_api.patch(
        f"/api/v1/channels/{body['id']}", {"name": "n" * 201}, format="json"
    )

    assert response.status_code == 400
    assert "name" in response.json()
    assert Channel.objects.get(pk=body["id"]).name == "@pingback_demo_bot"


def test_agents_cannot_rename_a_channel(agent_member, api_client_for, business):
    channel = ChannelFactory(business=business, name="Front desk")

    response = api_client_for(agent_member).patch(
        f"/api/v1/channels/{channel.pk}", {"name": "Mine"}, format="json"
    )

    assert response.status_code == 403
    channel.refresh_from_db()
    assert channel.name == "Front desk"


@pytest.fixture
def agent_client(agent_member) -> Client:
    client = Client()
    client.force_login(agent_member.user)
    return client


def test_the_inbox_shows_the_channel_name_in_the_filter_and_the_thread(
    agent_client, business
):
    channel = ChannelFactory(business=business, type="telegram", name="@acme_help_bot")
    conversation = ConversationFactory(business=business, channel=channel)

    inbox = agent_client.get(reverse("inbox")).content.decode()
    thread = agent_client.get(
        reverse("conversation", kwargs={"conversation_id": conversation.pk})
    ).content.decode()

    assert "@acme_help_bot" in inbox
    assert f"Telegram {str(channel.id)[:8]}" not in inbox
    assert "<bdi>@acme_help_bot</bdi>" in thread


def test_the_delivery_problems_page_names_the_channel(admin_member, business):
    from conversations.tests.factories import ReplyFactory

    client = Client()
    client.force_login(admin_member.user)
    channel = ChannelFactory(business=business, type="telegram", name="@acme_help_bot")
    conversation = ConversationFactory(business=business, channel=channel)
    ReplyFactory(
        conversation=conversation, channel=channel, status="failed", error="Nope."
    )

    html = client.get(reverse("delivery-problems")).content.decode()

    assert "<bdi>@acme_help_bot</bdi>" in html

"""The channels API contract (PingBack channels reference), case by case."""

import uuid

import pytest
import requests
from django.db import connection
from rest_framework.test import APIClient

from billing.tests.factories import BusinessFactory
from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation
from conversations.tests.factories import ConversationFactory
from sandbox.platforms.sms.payloads import DEMO_ACCOUNT as TWILIO_DEMO_ACCOUNT
from sandbox.platforms.telegram.standin import DEMO_BOT as TELEGRAM_DEMO_BOT
from sandbox.platforms.x.payloads import DEMO_APP

pytestmark = pytest.mark.django_db

VALID_CONFIGS = {
    "webchat": {},
    "widget": {"welcome_message": "Hi there!"},
    "email": {
        "address": "support@acme.test",
        "smtp_host": "smtp.acme.test",
        "smtp_username": "support@acme.test",
        "smtp_password": "smtp-password-123",
    },
    "whatsapp": {
        "phone_number_id": "106540352242922",
        "access_token": "EAAG-token-0001",
        "verify_token": "my-verify",
        "app_secret": "meta-app-secret-0001",
    },
    # Platforms that check credentials at creation get the sandbox's accounts.
    "telegram": {"bot_token": TELEGRAM_DEMO_BOT.token},
    "instagram": {
        "access_token": "EAAG-ig-token-0001",
        "page_id": "17841400000000000",
        "app_secret": "meta-app-secret-0001",
    },
    "x": {
        "api_key": "demo-api-key",
        "access_token": "1500000000000000001-demoaccesstoken",
    },
    "sms": TWILIO_DEMO_ACCOUNT.as_config(),
}


def create(api, channel_type, config, **extra):
    return api.post(
        "/api/v1/channels/",
        {"type": channel_type, "config": config, **extra},
        format="json",
    )


# ------------------------------------------------------------------------ create


@pytest.mark.parametrize("channel_type", sorted(VALID_CONFIGS))
def test_create_each_type_answers_201_with_the_reference_shape(
    admin_api, business, channel_type, sandbox
):
    business.plan = "pro"
    business.save()

    response = create(admin_api, channel_type, VALID_CONFIGS[channel_type])

    assert response.status_code == 201, response.json()
    body = response.json()
    assert uuid.UUID(body["id"])
    assert body["business_id"] == str(business.id)
    assert body["type"] == channel_type
    assert body["is_active"] is True
    assert body["created_at"].endswith("Z")
    assert set(body) >= {
        "id",
        "business_id",
        "type",
        "config",
        "is_active",
        "created_at",
    }
    assert Channel.objects.get(pk=body["id"]).business == business


def test_is_active_may_be_given_on_create(admin_api):
    response = create(admin_api, "webchat", {}, is_active=False)

    assert response.json()["is_active"] is False


@pytest.mark.parametrize(
    ("channel_type", "config", "missing"),
    [
        ("x", {"access_token": "1-abc"}, "api_key"),
        ("x", {"api_key": "abc"}, "access_token"),
        ("telegram", {}, "bot_token"),
        (
            "whatsapp",
            {"access_token": "t", "verify_token": "v", "app_secret": "s"},
            "phone_number_id",
        ),
        (
            "whatsapp",
            {"phone_number_id": "1", "verify_token": "v", "app_secret": "s"},
            "access_token",
        ),
        (
            "whatsapp",
            {"phone_number_id": "1", "access_token": "t", "app_secret": "s"},
            "verify_token",
        ),
        (
            "whatsapp",
            {"phone_number_id": "1", "access_token": "t", "verify_token": "v"},
            "app_secret",
        ),
        ("instagram", {"access_token": "t", "app_secret": "s"}, "page_id"),
        ("instagram", {"page_id": "1", "app_secret": "s"}, "access_token"),
        ("instagram", {"page_id": "1", "access_token": "t"}, "app_secret"),
        ("sms", {"auth_token": "t", "phone_number": "+15551234567"}, "account_sid"),
        (
            "sms",
            {"account_sid": "AC" + "0" * 32, "phone_number": "+15551234567"},
            "auth_token",
        ),
        ("sms", {"account_sid": "AC" + "0" * 32, "auth_token": "t"}, "phone_number"),
        (
            "email",
            {"smtp_host": "h", "smtp_username": "u", "smtp_password": "p"},
            "address",
        ),
    ],
)
def test_missing_required_config_field_is_400_naming_it(
    admin_api, channel_type, config, missing
):
    response = create(admin_api, channel_type, config)

    assert response.status_code == 400
    assert response.json() == {"config": {missing: ["This field is required."]}}
    assert Channel.objects.count() == 0


def test_unknown_type_is_400(admin_api):
    response = create(admin_api, "myspace", {})

    assert response.status_code == 400
    assert response.json() == {"type": ['"myspace" is not a valid choice.']}


def test_unknown_config_field_is_400_naming_it(admin_api):
    response = create(admin_api, "telegram", {"bot_token": "1:abc", "chat": "x"})

    assert response.status_code == 400
    assert response.json() == {
        "config": {"chat": ["Unknown field for telegram channels."]}
    }


def test_missing_type_is_400(admin_api):
    response = admin_api.post("/api/v1/channels/", {"config": {}}, format="json")

    assert response.status_code == 400
    assert response.json() == {"type": ["This field is required."]}


# ------------------------------------------------------------------------ secrets


def test_credentials_are_masked_in_responses_and_encrypted_at_rest(admin_api, sandbox):
    config = DEMO_APP.as_config()

    created = create(admin_api, "x", config).json()
    listed = admin_api.get("/api/v1/channels/").json()[0]
    shown = admin_api.get(f"/api/v1/channels/{created['id']}").json()

    for body in (created, listed, shown):
        assert body["config"]["api_key"] == "****-key"
        assert body["config"]["api_secret"] == "****6789"
        assert body["config"]["access_token"] == "****oken"
        for secret in config.values():
            assert secret not in str(body)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM channels_app_channel")
        (stored,) = cursor.fetchone()
    for secret in config.values():
        assert secret not in str(stored)
    assert Channel.objects.get().secrets == config


def test_patch_with_masked_values_keeps_the_secrets(admin_api, business):
    channel = ChannelFactory(
        business=business,
        type="telegram",
        secrets={"bot_token": "1234:secret-token-abcdef"},
        config={},
    )
    shown = admin_api.get(f"/api/v1/channels/{channel.id}").json()

    response = admin_api.patch(
        f"/api/v1/channels/{channel.id}", {"config": shown["config"]}, format="json"
    )

    assert response.status_code == 200
    channel.refresh_from_db()
    assert channel.secrets == {"bot_token": "1234:secret-token-abcdef"}


# --------------------------------------------------------------------- auth, 401


@pytest.mark.parametrize(
    ("_case", "header"),
    [
        ("no header", None),
        ("unknown token", "Bearer pb_nope"),
        ("wrong scheme", "Token abc"),
        ("bare", "Bearer"),
    ],
)
def test_without_a_valid_token_the_api_answers_401(admin_member, _case, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/channels/")

    assert response.status_code == 401


def test_agents_may_list_channels_but_not_create_them(agent_member, api_client_for):
    api = api_client_for(agent_member)

    assert api.get("/api/v1/channels/").status_code == 200
    assert create(api, "webchat", {}).status_code == 403


# ------------------------------------------------------------------ plans, 402


@pytest.mark.parametrize(
    "channel_type", ["x", "telegram", "whatsapp", "instagram", "sms", "email"]
)
def test_free_plan_refuses_other_types_with_402(admin_api, business, channel_type):
    business.plan = "free"
    business.save()

    response = create(admin_api, channel_type, VALID_CONFIGS[channel_type])

    assert response.status_code == 402
    assert response.json()["code"] == "plan_limit_exceeded"
    assert Channel.objects.count() == 0


def test_free_plan_allows_one_web_widget(admin_api, business):
    business.plan = "free"
    business.save()

    assert create(admin_api, "widget", {}).status_code == 201
    assert create(admin_api, "webchat", {}).status_code == 402


def test_mini_plan_allows_three_channels(admin_api, business):
    for _ in range(3):
        assert create(admin_api, "webchat", {}).status_code == 201

    response = create(admin_api, "webchat", {})

    assert response.status_code == 402
    assert "allows 3 channel" in response.json()["detail"]


def test_pro_plan_allows_a_hundred_channels(admin_api, business):
    business.plan = "pro"
    business.save()
    ChannelFactory.create_batch(
        99, business=business, type="webchat", secrets={}, config={}
    )

    assert create(admin_api, "webchat", {}).status_code == 201
    assert create(admin_api, "webchat", {}).status_code == 402


def test_patch_that_changes_type_is_checked_against_the_plan(admin_api, business):
    business.plan = "free"
    business.save()
    channel = create(admin_api, "webchat", {}).json()

    response = admin_api.patch(
        f"/api/v1/channels/{channel['id']}",
        {"type": "telegram", "config": VALID_CONFIGS["telegram"]},
        format="json",
    )

    assert response.status_code == 402
    assert Channel.objects.get().type == "webchat"


def test_patch_type_change_needs_the_new_types_config(admin_api, business):
    channel = create(admin_api, "webchat", {}).json()

    response = admin_api.patch(
        f"/api/v1/channels/{channel['id']}", {"type": "telegram"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"config": {"bot_token": ["This field is required."]}}


# ------------------------------------------------------------------ 404, delete


def test_another_business_channel_is_404_never_403(admin_api):
    other = ChannelFactory(business=BusinessFactory())

    for method in ("get", "patch", "delete"):
        response = getattr(admin_api, method)(
            f"/api/v1/channels/{other.id}", {}, format="json"
        )
        assert response.status_code == 404, method
    assert Channel.objects.filter(pk=other.pk).exists()


@pytest.mark.parametrize(
    "channel_id", ["6f1c2a4e-0b7d-4c1e-9a53-2d8e7f90b1c4", "not-a-uuid"]
)
def test_unknown_channel_is_404(admin_api, channel_id):
    assert admin_api.get(f"/api/v1/channels/{channel_id}").status_code == 404


def test_list_shows_only_the_callers_channels(admin_api, business):
    mine = ChannelFactory(business=business)
    ChannelFactory(business=BusinessFactory())

    response = admin_api.get("/api/v1/channels/")

    assert [c["id"] for c in response.json()] == [str(mine.id)]


def test_delete_answers_the_reference_message_and_keeps_conversations(
    admin_api, business
):
    conversation = ConversationFactory(business=business)
    channel = conversation.channel

    response = admin_api.delete(f"/api/v1/channels/{channel.id}")

    assert response.status_code == 200
    assert response.json() == {"message": "Channel deleted"}
    assert not Channel.objects.filter(pk=channel.pk).exists()
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert conversation.channel is None
    assert conversation.channel_type == "x"


def test_deactivating_keeps_conversations_and_refuses_replies(admin_api, business):
    conversation = ConversationFactory(business=business)

    response = admin_api.patch(
        f"/api/v1/channels/{conversation.channel.id}",
        {"is_active": False},
        format="json",
    )
    reply = admin_api.post(
        f"/api/v1/conversations/{conversation.id}/messages",
        {"text": "hello"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert admin_api.get(f"/api/v1/conversations/{conversation.id}").status_code == 200
    assert reply.status_code == 409
    assert reply.json()["code"] == "channel_inactive"
    assert conversation.messages.count() == 0


# --------------------------------------------------------------- X setup, live


@pytest.mark.django_db(transaction=True)
def test_creating_an_x_channel_verifies_credentials_and_registers_the_webhook(
    admin_api, sandbox, live_server, settings
):
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url

    body = create(admin_api, "x", DEMO_APP.as_config()).json()

    webhook_url = f"{live_server.url}/api/v1/webhooks/x/{body['id']}"
    assert body["webhook_url"] == webhook_url
    assert body["setup"]["state"] == "ready", body["setup"]
    assert body["config"]["account_id"] == DEMO_APP.account.id
    assert body["config"]["handle"] == DEMO_APP.account.screen_name
    state = requests.get(f"{sandbox.url}/_sandbox/x/state", timeout=5).json()
    assert [w["url"] for w in state["webhooks"]] == [webhook_url]
    assert state["subscriptions"] == [
        {"webhook_id": body["config"]["webhook_id"], "user_id": DEMO_APP.account.id}
    ]


def test_x_credentials_x_refuses_still_create_the_channel_with_the_reason(
    admin_api, sandbox
):
    config = {**DEMO_APP.as_config(), "api_secret": "wrong-secret-0000"}

    response = create(admin_api, "x", config)

    assert response.status_code == 201
    assert response.json()["setup"]["state"] == "failed"
    assert response.json()["setup"]["message"].startswith(
        "X did not accept the credentials: Unauthorized"
    )


def test_x_without_bearer_token_asks_the_admin_to_register_the_webhook(
    admin_api, sandbox
):
    config = {k: v for k, v in DEMO_APP.as_config().items() if k != "bearer_token"}

    body = create(admin_api, "x", config).json()

    assert body["setup"]["state"] == "action_required"
    assert "Add bearer_token" in body["setup"]["message"]
    assert body["webhook_url"] in body["setup"]["message"]
    assert body["config"]["account_id"] == DEMO_APP.account.id


def test_x_webhook_registration_refused_is_reported(admin_api, sandbox):
    # The sandbox's CRC call cannot reach a server at the default public URL.
    body = create(admin_api, "x", DEMO_APP.as_config()).json()

    assert body["setup"]["state"] == "action_required"
    assert (
        "X refused the webhook setup: CrcValidationFailed" in body["setup"]["message"]
    )


def test_changing_x_credentials_runs_setup_again(admin_api, sandbox):
    body = create(
        admin_api,
        "x",
        {k: v for k, v in DEMO_APP.as_config().items() if k != "bearer_token"},
    ).json()
    assert body["setup"]["state"] == "action_required"

    response = admin_api.patch(
        f"/api/v1/channels/{body['id']}",
        {"config": {"api_secret": "wrong-secret-0000"}},
        format="json",
    )

    assert response.json()["setup"]["state"] == "failed"
    assert response.json()["config"]["api_key"] == "****-key"


@pytest.mark.django_db(transaction=True)
def test_deactivating_removes_the_x_webhook_and_reactivating_registers_it_again(
    admin_api, sandbox, live_server, settings
):
    # given
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url
    body = create(admin_api, "x", DEMO_APP.as_config()).json()
    assert body["setup"]["state"] == "ready", body["setup"]

    def registered_webhooks() -> list[str]:
        state = requests.get(f"{sandbox.url}/_sandbox/x/state", timeout=5).json()
        return [webhook["url"] for webhook in state["webhooks"]]

    # when
    admin_api.patch(
        f"/api/v1/channels/{body['id']}", {"is_active": False}, format="json"
    )

    # then
    assert registered_webhooks() == []

    # when
    response = admin_api.patch(
        f"/api/v1/channels/{body['id']}", {"is_active": True}, format="json"
    )

    # then
    assert response.json()["setup"]["state"] == "ready"
    assert registered_webhooks() == [body["webhook_url"]]


def test_deleting_a_deactivated_channel_makes_no_platform_call(
    admin_api, business, sandbox
):
    channel = ChannelFactory(
        business=business, is_active=False, config={"webhook_id": "1"}
    )

    response = admin_api.delete(f"/api/v1/channels/{channel.id}")

    assert response.status_code == 200
    assert sandbox.requests() == []


def test_patching_the_config_as_shown_keeps_setup_secrets_and_does_not_reconnect(
    admin_api, business, sandbox
):
    # given: a secret setup created, which is not a config field
    channel = ChannelFactory(business=business, setup_message="kept")
    channel.secrets = {**channel.secrets, "webhook_secret": "created-by-setup"}
    channel.save()
    shown = admin_api.get(f"/api/v1/channels/{channel.id}").json()["config"]

    # when
    response = admin_api.patch(
        f"/api/v1/channels/{channel.id}", {"config": shown}, format="json"
    )

    # then
    assert response.status_code == 200
    assert response.json()["setup"]["message"] == "kept"
    channel.refresh_from_db()
    assert channel.secrets["webhook_secret"] == "created-by-setup"
    assert sandbox.requests() == []

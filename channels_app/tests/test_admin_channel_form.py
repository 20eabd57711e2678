"""The channel form of Django admin, as a business admin uses it: one field
per config key of the channel type, secrets kept when left blank, the
platform's own words for a bad value, the plan's 402 message, and the setup
run through the real SDK against the sandbox stand-in."""

from __future__ import annotations

import pytest
from django.urls import reverse

from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from sandbox.platforms.telegram.standin import DEMO_BOT

pytestmark = pytest.mark.django_db

ADD = "/admin/channels_app/channel/add/"


@pytest.fixture
def admin_client(client, admin_member):
    client.force_login(admin_member.user)
    return client


def change_url(channel: Channel) -> str:
    return reverse("admin:channels_app_channel_change", args=[channel.pk])


def add_telegram(client, business, token: str, **extra):
    return client.post(
        ADD,
        {
            "business": business.pk,
            "type": "telegram",
            "telegram__bot_token": token,
            "is_active": "on",
            **extra,
        },
        follow=True,
    )


def bot_api_calls(sandbox) -> list[str]:
    return [
        request["path"].rsplit("/", 1)[-1]
        for request in sandbox.requests()
        if "/bot" in request["path"]
    ]


def test_the_add_form_has_a_field_per_config_key_with_secrets_as_passwords(
    admin_client,
):
    page = admin_client.get(ADD).content.decode()

    assert 'name="telegram__bot_token"' in page
    assert 'type="password" name="telegram__bot_token"' in page
    assert 'type="password" name="whatsapp__verify_token"' in page
    assert 'name="whatsapp__phone_number_id"' in page
    assert 'name="email__smtp_security"' in page
    assert "Telegram settings" in page and "WhatsApp settings" in page
    # No raw JSON any more, and no field for what setup learns.
    assert "config_json" not in page
    assert "telegram__bot_username" not in page
    # The help text is the platform serializer's.
    assert "@BotFather" in page


def test_adding_a_telegram_channel_runs_setup_through_the_sdk(
    admin_client, business, sandbox
):
    response = add_telegram(admin_client, business, DEMO_BOT.token)

    channel = Channel.objects.get()
    page = response.content.decode()
    assert response.redirect_chain[-1][1] == 302
    assert channel.business == business
    assert channel.setup_state == "ready"
    assert "setup ready" in page
    assert "Connected as @pingback_demo_bot" in page
    assert "getMe" in bot_api_calls(sandbox)
    assert "setWebhook" in bot_api_calls(sandbox)
    webhook = sandbox.telegram.webhook()
    assert webhook["url"].endswith(f"/api/v1/webhooks/telegram/{channel.pk}")
    assert webhook["secret_token"] == channel.secrets["webhook_secret"]

    changed = admin_client.get(change_url(channel)).content.decode()
    assert webhook["url"] in changed
    assert 'data-copy-target="webhook-url"' in changed
    assert "Ready" in changed
    assert DEMO_BOT.token not in changed
    assert channel.secrets["webhook_secret"] not in changed


def test_a_blank_secret_keeps_the_stored_one(admin_client, business, sandbox):
    add_telegram(admin_client, business, DEMO_BOT.token)
    channel = Channel.objects.get()
    calls = len(sandbox.requests())

    response = admin_client.post(
        change_url(channel),
        {
            "type": "telegram",
            "telegram__bot_token": "",
            "is_active": "on",
            "auto_assign": "on",
        },
        follow=True,
    )

    channel.refresh_from_db()
    assert response.status_code == 200
    assert channel.secrets["bot_token"] == DEMO_BOT.token
    assert channel.auto_assign is True
    # Nothing changed on Telegram's side: no new check, no new webhook.
    assert len(sandbox.requests()) == calls
    assert sandbox.telegram.webhook()["url"].endswith(str(channel.pk))


# Bad bot tokens and the words the form shows for each (the serializer's, or
# the sandbox Telegram's refusal).
BAD_TOKENS = pytest.mark.parametrize(
    ("token", "words"),
    [
        ("not-a-token", "Expected a bot token like 123456:ABC-DEF..."),
        ("", "This field is required."),
        ("7000000099:AAnot-a-real-bot-token", "Telegram refused the token"),
    ],
    ids=["malformed", "missing", "refused"],
)


@BAD_TOKENS
def test_a_bad_value_shows_the_platforms_words_on_its_field(
    admin_client, business, sandbox, token, words
):
    response = add_telegram(admin_client, business, token)

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert any(words in error for error in form.errors["telegram__bot_token"])
    assert words in response.content.decode()
    assert Channel.objects.count() == 0
    assert sandbox.telegram.webhook() is None


def test_over_the_plan_limit_shows_the_402_message(admin_client, business, sandbox):
    business.plan = "free"
    business.save(update_fields=["plan"])

    response = add_telegram(admin_client, business, DEMO_BOT.token)

    assert response.status_code == 200
    assert (
        "The Free plan does not include telegram channels; upgrade to Mini or "
        "Pro to add it." in response.context["adminform"].form.errors["type"]
    )
    assert Channel.objects.count() == 0
    # Refused before Telegram was asked anything.
    assert bot_api_calls(sandbox) == []


def test_the_count_limit_shows_the_402_message(admin_client, business, sandbox):
    for _ in range(3):
        ChannelFactory(business=business)

    response = add_telegram(admin_client, business, DEMO_BOT.token)

    assert (
        "The Mini plan allows 3 channels and this business uses 3"
        in response.content.decode()
    )
    assert Channel.objects.filter(type="telegram").count() == 0


def test_a_meta_channel_shows_its_callback_url_and_verify_token_in_clear(
    admin_client, business, admin_api
):
    channel = ChannelFactory(
        business=business,
        type="whatsapp",
        config={"phone_number_id": "1234567890"},
        secrets={
            "access_token": "EAAG-long-lived-access-token-0001",
            "verify_token": "chosen-verify-token-4321",
            "app_secret": "app-secret-0123456789",
        },
    )

    page = admin_client.get(change_url(channel)).content.decode()
    api = admin_api.get(f"/api/v1/channels/{channel.pk}").content.decode()

    assert "Callback URL" in page
    assert f"/api/v1/webhooks/whatsapp/{channel.pk}" in page
    assert "Verify token" in page and "chosen-verify-token-4321" in page
    assert page.count('class="button" data-copy-target="setup-') == 2
    assert "EAAG-long-lived-access-token-0001" not in page
    assert "app-secret-0123456789" not in page
    # The API keeps masking it.
    assert "chosen-verify-token-4321" not in api


def test_run_setup_again_reports_the_outcome(admin_client, business, sandbox):
    add_telegram(admin_client, business, DEMO_BOT.token)
    channel = Channel.objects.get()
    before = bot_api_calls(sandbox).count("setWebhook")

    response = admin_client.post(
        "/admin/channels_app/channel/",
        {"action": "recheck_setup", "_selected_action": [str(channel.pk)]},
        follow=True,
    )

    assert "setup ready" in response.content.decode()
    assert bot_api_calls(sandbox).count("setWebhook") == before + 1


def test_a_widget_takes_its_domains_one_per_line(admin_client, business):
    response = admin_client.post(
        ADD,
        {
            "business": business.pk,
            "type": "webchat",
            "webchat__allowed_domains": "shop.example.com\n\n.example.org\n",
            "webchat__brand_color": "#12abef",
            "is_active": "on",
        },
        follow=True,
    )
    channel = Channel.objects.get()
    refused = admin_client.post(
        change_url(channel),
        {
            "type": "webchat",
            "webchat__allowed_domains": "shop.example.com\nnot a domain!",
            "webchat__brand_color": "",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert channel.config["allowed_domains"] == ["shop.example.com", ".example.org"]
    assert channel.config["brand_color"] == "#12abef"
    errors = refused.context["adminform"].form.errors["webchat__allowed_domains"]
    assert errors == [
        "Item 2: Enter a domain such as shop.example.com, optionally with a port "
        "(shop.example.com:8443)."
    ]
    channel.refresh_from_db()
    assert channel.config["allowed_domains"] == ["shop.example.com", ".example.org"]
    page = admin_client.get(change_url(channel)).content.decode()
    assert "shop.example.com\n.example.org</textarea>" in page

"""Connecting an e-mail channel through the API, against real SMTP and IMAP
servers: credentials are checked before saving, setup says how mail arrives,
secrets stay masked."""

import pytest

from channels_app.models import Channel
from channels_app.tests.email.conftest import SMTP_PASSWORD, SUPPORT_ADDRESS, free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def config(smtp_server, mailbox):
    """A complete config: SMTP on the aiosmtpd server, IMAP on Dovecot."""
    return {
        "address": SUPPORT_ADDRESS,
        "from_name": "Acme Support",
        **smtp_server.config(),
        **mailbox.config(),
        "imap_password": mailbox.password,
    }


def create(api, config):
    return api.post(
        "/api/v1/channels/", {"type": "email", "config": config}, format="json"
    )


def test_working_servers_make_a_ready_channel_that_polls_its_mailbox(
    admin_api, config, settings
):
    settings.EMAIL_POLL_INTERVAL = 30

    response = create(admin_api, config)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["setup"]["state"] == "ready"
    assert body["setup"]["message"] == (
        f"Replies go out through 127.0.0.1:{config['smtp_port']} from "
        f"{SUPPORT_ADDRESS}. Mail arrives by polling INBOX on 127.0.0.1 every 30 s."
    )
    assert body["webhook_url"] is None
    assert body["config"]["smtp_password"] == "****" + SMTP_PASSWORD[-4:]
    assert body["config"]["imap_password"].startswith("****")
    assert SMTP_PASSWORD not in response.content.decode()
    channel = Channel.objects.get()
    assert channel.secrets["smtp_password"] == SMTP_PASSWORD


@pytest.mark.parametrize(
    ("_case", "change", "field", "words"),
    [
        (
            "smtp password",
            {"smtp_password": "wrong"},
            "smtp_password",
            "The SMTP server refused the login: 535 5.7.8 Authentication "
            "credentials invalid",
        ),
        (
            "imap password",
            {"imap_password": "wrong"},
            "imap_password",
            "The IMAP server 127.0.0.1 refused the login: [AUTHENTICATIONFAILED] "
            "Authentication failed.",
        ),
        (
            "imap folder",
            {"imap_folder": "Nowhere"},
            "imap_folder",
            "The IMAP server 127.0.0.1 has no folder Nowhere:",
        ),
    ],
)
def test_a_refused_setting_is_400_naming_the_field_with_the_servers_words(
    admin_api, config, _case, change, field, words
):
    response = create(admin_api, {**config, **change})

    assert response.status_code == 400
    [message] = response.json()["config"][field]
    assert message.startswith(words)
    assert "wrong" not in message
    assert Channel.objects.count() == 0


def test_an_unreachable_server_is_saved_with_setup_failed(admin_api, config):
    response = create(admin_api, {**config, "smtp_port": free_port()})

    assert response.status_code == 201
    setup = response.json()["setup"]
    assert setup["state"] == "failed"
    assert setup["message"].startswith("Could not reach the SMTP server:")


def test_without_imap_or_a_provider_setup_asks_for_an_inbound_path(
    admin_api, smtp_server
):
    response = create(admin_api, {"address": SUPPORT_ADDRESS, **smtp_server.config()})

    setup = response.json()["setup"]
    assert setup["state"] == "action_required"
    assert "Nothing brings mail in yet" in setup["message"]


def test_a_mailgun_channel_shows_the_route_to_create(admin_api, smtp_server, settings):
    settings.PINGBACK_PUBLIC_BASE_URL = "https://inbox.acme.test"

    response = create(
        admin_api,
        {
            "address": SUPPORT_ADDRESS,
            **smtp_server.config(),
            "inbound_provider": "mailgun",
            "inbound_webhook_key": "key-mailgun-signing-0a1b2c3d",
        },
    )

    body = response.json()
    url = (
        f"https://inbox.acme.test/api/v1/webhooks/email/{body['id']}"
        "/mailgun/inbound/mime"
    )
    assert body["setup"]["state"] == "ready"
    assert body["webhook_url"] == url
    assert f'forward("{url}")' in body["setup"]["message"]
    assert body["config"]["inbound_webhook_key"] == "****2c3d"


@pytest.mark.parametrize(
    ("_case", "config", "errors"),
    [
        (
            "imap without password",
            {"imap_host": "imap.acme.test", "imap_username": "support"},
            {"imap_password": ["Required when imap_host is set."]},
        ),
        (
            "provider without key",
            {"inbound_provider": "mailgun"},
            {"inbound_webhook_key": ["Required when inbound_provider is mailgun."]},
        ),
        (
            "postmark key without user",
            {"inbound_provider": "postmark", "inbound_webhook_key": "secret"},
            {
                "inbound_webhook_key": [
                    "For Postmark, a user:password pair for the webhook's basic auth."
                ]
            },
        ),
        (
            "unknown provider",
            {"inbound_provider": "sendmail"},
            {"inbound_provider": ['"sendmail" is not a valid choice.']},
        ),
    ],
)
def test_an_incomplete_inbound_config_is_400_naming_the_field(
    admin_api, smtp_server, _case, config, errors
):
    response = create(
        admin_api, {"address": SUPPORT_ADDRESS, **smtp_server.config(), **config}
    )

    assert response.status_code == 400
    assert response.json() == {"config": errors}
    assert Channel.objects.count() == 0


def test_setup_names_the_channel_after_its_mailbox(admin_api, config):
    response = create(admin_api, config)

    assert response.status_code == 201, response.json()
    assert response.json()["name"] == SUPPORT_ADDRESS
    assert str(Channel.objects.get()) == SUPPORT_ADDRESS

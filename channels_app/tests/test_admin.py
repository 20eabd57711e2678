"""Channels in Django admin: same validation, plan limits and masking as the API."""

import pytest

from billing.tests.factories import BusinessFactory, UserFactory
from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def add(client, business, channel_type, config):
    """Post the add form: one field per config key (`<type>__<key>`)."""
    fields = {f"{channel_type}__{key}": value for key, value in config.items()}
    return client.post(
        "/admin/channels_app/channel/add/",
        {"business": business.pk, "type": channel_type, "is_active": "on", **fields},
    )


def test_admin_adds_a_channel_with_validated_config(admin_client_logged_in):
    business = BusinessFactory(plan="mini")

    response = add(
        admin_client_logged_in,
        business,
        "telegram",
        {"bot_token": "123:abcdefghijklmnop"},
    )

    assert response.status_code == 302
    channel = Channel.objects.get()
    assert channel.secrets == {"bot_token": "123:abcdefghijklmnop"}


def test_admin_names_the_missing_config_field(admin_client_logged_in):
    business = BusinessFactory(plan="mini")

    response = add(admin_client_logged_in, business, "x", {"api_key": "k"})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["x__access_token"] == ["This field is required."]
    assert Channel.objects.count() == 0


def test_admin_enforces_the_plan(admin_client_logged_in):
    business = BusinessFactory(plan="free")

    response = add(
        admin_client_logged_in,
        business,
        "telegram",
        {"bot_token": "123:abcdefghijklmnop"},
    )

    assert Channel.objects.count() == 0
    followed = (
        admin_client_logged_in.get(response["Location"])
        if response.status_code == 302
        else response
    )
    assert "does not include telegram channels" in followed.content.decode()


def test_admin_change_page_masks_credentials_and_shows_the_webhook_url(
    admin_client_logged_in,
):
    channel = ChannelFactory()

    page = admin_client_logged_in.get(
        f"/admin/channels_app/channel/{channel.pk}/change/"
    ).content.decode()

    for secret in channel.secrets.values():
        assert secret not in page
    assert "****6789" in page
    assert f"/api/v1/webhooks/x/{channel.pk}" in page

"""Channel credentials at rest: encrypted with PINGBACK_ENCRYPTION_KEYS, keys
rotated without losing a credential, a missing key reported loudly, and
installs encrypted with the key earlier versions derived kept readable."""

import logging
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from encrypted_fields.fields import EncryptedJSONField

from channels_app.models import Channel, InboundEvent
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import fixture_bytes
from pingback.encryption import (
    CredentialsUndecryptable,
    StoredCiphertext,
    legacy_encryption_keys,
)
from pingback.settings import DEV_ENCRYPTION_KEY, DEV_SECRET_KEY

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()
CREDENTIALS = {"bot_token": "7000000001:AAE-bot-token", "webhook_secret": "s3cret"}


def stored(channel: Channel) -> str:
    """The secrets column as stored, not decrypted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CAST(secrets AS TEXT) FROM channels_app_channel WHERE id = %s",
            [channel.pk.hex if connection.vendor == "sqlite" else channel.pk],
        )
        return cursor.fetchone()[0]


def reencrypt(*arguments: str) -> str:
    out = StringIO()
    call_command("reencrypt_credentials", *arguments, stdout=out)
    return out.getvalue()


def test_credentials_are_stored_encrypted_and_read_back(settings):
    # given
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_A]

    # when
    channel = ChannelFactory(type="telegram", secrets=CREDENTIALS)

    # then
    assert CREDENTIALS["bot_token"] not in stored(channel)
    assert "s3cret" not in stored(channel)
    assert Channel.objects.get(pk=channel.pk).secrets == CREDENTIALS


def test_a_value_written_under_a_key_is_read_after_rotating_to_a_new_first_key(
    settings,
):
    # given: written under A
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_A]
    channel = ChannelFactory(type="telegram", secrets=CREDENTIALS)

    # when: B comes first, A stays to decrypt
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    # then
    assert Channel.objects.get(pk=channel.pk).secrets == CREDENTIALS


def test_after_reencrypt_credentials_the_old_key_can_be_dropped(settings):
    # given: three channels under A, then B put first
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_A]
    channels = [
        ChannelFactory(type="telegram", secrets={**CREDENTIALS, "n": str(n)})
        for n in range(3)
    ]
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    # when: one row per transaction, so the batches are exercised
    output = reencrypt("--batch-size", "1")

    # then: readable with B alone
    assert output == (
        "Re-encrypted: 3; already under the current key: 0; undecryptable: 0\n"
    )
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B]
    for n, channel in enumerate(channels):
        assert Channel.objects.get(pk=channel.pk).secrets == {
            **CREDENTIALS,
            "n": str(n),
        }


def test_reencrypt_credentials_run_again_changes_nothing(settings):
    # given: rotated and re-encrypted once
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_A]
    channel = ChannelFactory(type="telegram", secrets=CREDENTIALS)
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    reencrypt()
    before = stored(channel)

    # when
    output = reencrypt()

    # then
    assert output == (
        "Re-encrypted: 0; already under the current key: 1; undecryptable: 0\n"
    )
    assert stored(channel) == before


def test_reencrypt_credentials_names_rows_no_key_decrypts_and_leaves_them(settings):
    # given: one channel under A, one under C, and only B and A configured
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_A]
    readable = ChannelFactory(type="telegram", secrets=CREDENTIALS)
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_C]
    lost = ChannelFactory(type="telegram", secrets=CREDENTIALS)
    lost_before = stored(lost)
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    out = StringIO()

    # when
    with pytest.raises(CommandError) as raised:
        call_command("reencrypt_credentials", stdout=out)

    # then: the others are re-encrypted, the undecryptable one untouched
    assert out.getvalue() == (
        "Re-encrypted: 1; already under the current key: 0; undecryptable: 1\n"
    )
    assert str(raised.value) == (
        "No key in PINGBACK_ENCRYPTION_KEYS decrypts these rows, left unchanged: "
        f"channels_app.Channel {lost.pk}. Add the key that encrypted them after "
        "the current one and run this command again."
    )
    assert stored(lost) == lost_before
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B]
    assert Channel.objects.get(pk=readable.pk).secrets == CREDENTIALS
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_C]
    assert Channel.objects.get(pk=lost.pk).secrets == CREDENTIALS


@pytest.mark.parametrize(
    "use",
    [
        pytest.param(lambda secrets: secrets.get("bot_token"), id="get"),
        pytest.param(lambda secrets: secrets["bot_token"], id="item"),
        pytest.param(lambda secrets: dict(secrets), id="dict"),
        pytest.param(lambda secrets: {**secrets}, id="unpacked"),
        pytest.param(lambda secrets: list(secrets.items()), id="items"),
        pytest.param(lambda secrets: bool(secrets), id="truth"),
        pytest.param(lambda secrets: secrets == {}, id="compared"),
        pytest.param(lambda secrets: "bot_token" in secrets, id="contains"),
    ],
)
def test_without_the_key_that_encrypted_them_credentials_fail_loudly(
    settings, caplog, use
):
    # given: written under A, and A dropped before re-encryption
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_A]
    channel = ChannelFactory(type="telegram", secrets=CREDENTIALS)
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B]

    # when
    with caplog.at_level(logging.ERROR, logger="pingback.encryption"):
        loaded = Channel.objects.get(pk=channel.pk)

    # then: not empty, not the ciphertext: every use raises, naming the fix
    with pytest.raises(CredentialsUndecryptable) as raised:
        use(loaded.secrets)
    assert str(raised.value) == (
        "Stored credentials cannot be decrypted with any key in "
        "PINGBACK_ENCRYPTION_KEYS: the key that encrypted them was removed or "
        "changed. Put that key back after the current one and run "
        "`python manage.py reencrypt_credentials` (docs/deployment.md, "
        '"Rotating the encryption key").'
    )
    assert [
        (r.levelname, r.getMessage(), r.model, r.field) for r in caplog.records
    ] == [("ERROR", "credentials.undecryptable", "channels_app.Channel", "secrets")]
    assert "AAE-bot-token" not in caplog.text


def test_saving_a_channel_whose_credentials_cannot_be_decrypted_keeps_them(settings):
    # given: loaded without the key that encrypted its credentials
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_A]
    channel = ChannelFactory(type="telegram", secrets=CREDENTIALS)
    before = stored(channel)
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B]
    loaded = Channel.objects.get(pk=channel.pk)

    # when: another field is changed and the whole row saved
    loaded.is_active = False
    loaded.save()

    # then: the stored credentials are what they were, readable once A is back
    assert stored(channel) == before
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    assert Channel.objects.get(pk=channel.pk).secrets == CREDENTIALS


def test_an_install_encrypted_with_the_derived_key_keeps_its_credentials(settings):
    # given: credentials written by an earlier version, whose key
    # django-fernet-encrypted-fields derived from SECRET_KEY and SALT_KEY
    settings.SECRET_KEY = "an-earlier-installs-secret-key-4f1d0c2b9a8e7d6c5b4a3928"
    settings.SALT_KEY = ["its-salt"]
    settings.PINGBACK_LEGACY_SALT_KEYS = ["its-salt"]
    earlier = EncryptedJSONField()
    channel = ChannelFactory(type="telegram", secrets={})
    Channel.objects.filter(pk=channel.pk).update(
        secrets=StoredCiphertext(earlier.get_prep_value(CREDENTIALS))
    )

    # when: upgrading, the legacy key is put after a new one
    out = StringIO()
    call_command("legacy_encryption_key", stdout=out)
    legacy = out.getvalue().strip()
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B, legacy]

    # then: readable, and after re-encryption readable with the new key alone
    assert Channel.objects.get(pk=channel.pk).secrets == CREDENTIALS
    reencrypt()
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B]
    assert Channel.objects.get(pk=channel.pk).secrets == CREDENTIALS


def test_the_development_key_is_the_one_earlier_versions_derived_in_development():
    # so a development database made before keeps its channels' credentials
    assert legacy_encryption_keys(DEV_SECRET_KEY, ["pingback-dev-salt"]) == [
        DEV_ENCRYPTION_KEY
    ]


def test_a_webhook_for_credentials_no_key_decrypts_fails_so_the_platform_retries(
    settings, caplog
):
    # given: a Telegram channel written under A, and only B configured
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_A]
    channel = ChannelFactory(type="telegram", secrets=CREDENTIALS)
    settings.PINGBACK_ENCRYPTION_KEYS = [KEY_B]
    client = Client(raise_request_exception=False)

    # when: a correctly signed update arrives
    with caplog.at_level(logging.ERROR):
        response = client.post(
            f"/api/v1/webhooks/telegram/{channel.id}",
            data=fixture_bytes("telegram", "message__text"),
            content_type="application/json",
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="s3cret",
        )

    # then: a server error (platforms retry those), not a refused signature;
    # nothing stored, and the cause in the logs
    assert response.status_code == 500
    assert InboundEvent.objects.count() == 0
    assert "credentials.undecryptable" in [r.getMessage() for r in caplog.records]
    assert "s3cret" not in caplog.text

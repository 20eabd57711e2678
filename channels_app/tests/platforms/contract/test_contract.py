"""The contract every platform of the registry keeps, run over each platform's
kit (`kits/<platform>.py`): parsing every fixture to its expectation file,
webhooks (handshake, signatures, redelivery, malformed bodies, inactive and
unknown channels) and sends to the sandbox stand-in with refusals classified.

Signatures are made with the sandbox stand-ins' own signers (the ones that sign
the webhooks they deliver), which are checked against the documented test
vectors here (docs/platforms/x.md, "CRC challenge" and "Signature";
docs/platforms/whatsapp.md, "Signature"; docs/platforms/sms.md, "Signature").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from channels_app.models import Channel, InboundEvent
from channels_app.platforms import REGISTRY, get_platform
from channels_app.platforms.base import MalformedPayload, OutboundMessage
from channels_app.tests.platforms.contract.expectations import (
    NOW,
    expectation_path,
    read,
)
from channels_app.tests.platforms.contract.kits import KITS
from channels_app.tests.platforms.contract.kits.base import closed_port_url
from channels_app.tests.platforms.contract.outcome import outcome
from conversations.models import Conversation, Message

WEBHOOK_KITS = [kit for kit in KITS.values() if kit.signer]
HANDSHAKE_KITS = [kit for kit in WEBHOOK_KITS if kit.handshake]
SENDING_KITS = [kit for kit in KITS.values() if kit.sending]
SETUP_KITS = [kit for kit in KITS.values() if kit.setup]
REGISTERING_KITS = [kit for kit in SETUP_KITS if kit.setup.registered]


def cases(kits, table) -> list:
    """pytest params `(kit, case)` for every case of `table(kit)`, with ids
    `platform-case`."""
    return [
        pytest.param(kit, case, id=f"{kit.platform}-{case}")
        for kit in kits
        for case in table(kit)
    ]


def by_platform(kits) -> dict:
    return {"argvalues": kits, "ids": [kit.platform for kit in kits]}


def webhook_path(channel) -> str:
    return f"/api/v1/webhooks/{channel.type}/{channel.id}"


def post(client, kit, channel, body: bytes, headers: dict | None = None):
    return client.post(
        webhook_path(channel),
        data=body,
        content_type=kit.content_type,
        **(headers or {}),
    )


def post_signed(client, kit, channel, body: bytes):
    return post(client, kit, channel, body, kit.signed(channel, body))


def assert_acknowledged(response, kit, status: str) -> None:
    content_type, content = kit.acknowledgement(status)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == content_type
    assert response.content == content


# ----------------------------------------------------------------- the registry


def test_every_platform_of_the_registry_has_a_kit():
    served = {type(get_platform(kit.platform)) for kit in KITS.values()}

    assert {type(platform) for platform in REGISTRY.values()} == served


# ---------------------------------------------------------------- parsing, pure


@pytest.mark.parametrize("kit", **by_platform(list(KITS.values())))
def test_every_fixture_has_an_expectation_file_and_no_file_is_left_over(kit):
    names = kit.names()
    expected = {path.name for path in kit.fixtures.glob("*.expected.json")}

    missing = [n for n in names if not expectation_path(kit.fixture(n)).exists()]
    assert missing == [], (
        "write them with: python -m channels_app.tests.platforms.contract "
        f"--write {kit.platform} {' '.join(missing)}"
    )
    assert expected == {expectation_path(kit.fixture(n)).name for n in names}


@pytest.mark.parametrize(("kit", "name"), cases(KITS.values(), lambda kit: kit.names()))
def test_the_fixture_parses_to_its_expectation_file(kit, name):
    """After a deliberate change, rewrite the file with `python -m
    channels_app.tests.platforms.contract --write <platform> <name>` and review
    the diff."""
    assert outcome(kit, name) == read(kit.fixture(name))


@pytest.mark.parametrize(("kit", "case"), cases(KITS.values(), lambda k: k.malformed))
def test_a_malformed_body_is_refused_naming_the_bad_path(kit, case):
    body, error = kit.malformed[case]

    with pytest.raises(MalformedPayload) as raised:
        get_platform(kit.platform).parse(kit.build(), body)

    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("kit", "index"),
    cases(KITS.values(), lambda kit: range(len(kit.vectors))),
)
def test_the_signer_reproduces_the_documented_test_vector(kit, index):
    sign, args, documented = kit.vectors[index]

    assert sign(*args) == documented


# --------------------------------------------------------------------- webhooks


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(WEBHOOK_KITS))
def test_a_signed_delivery_is_stored_then_becomes_a_conversation(
    client, kit, django_capture_on_commit_callbacks
):
    # given
    channel = kit.create()
    body = kit.body(kit.delivery)
    expected = read(kit.fixture(kit.delivery))
    [item] = expected["items"]

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, kit, channel, body)

    # then
    assert_acknowledged(response, kit, "accepted")
    event = InboundEvent.objects.get()
    assert (event.event_key, event.status) == (expected["event_key"], "processed")
    assert bytes(event.body) == body
    conversation = Conversation.objects.get()
    assert (conversation.channel_type, conversation.thread_key) == (
        kit.platform,
        item["thread_key"],
    )
    identity = conversation.contact_identity
    assert identity.external_id == item["contact"]["external_id"]
    assert identity.handle == item["contact"]["handle"]
    assert conversation.contact.name == (
        item["contact"]["name"] or item["contact"]["handle"]
    )
    message = conversation.messages.get()
    assert (message.direction, message.text, message.platform_message_id) == (
        "inbound",
        item["text"],
        item["platform_message_id"],
    )
    if item["sent_at"] != NOW:
        assert message.sent_at == datetime.fromisoformat(item["sent_at"])


def expectations(kit) -> dict[str, dict]:
    """The kit's expectation files by fixture name (a fixture without one is
    left out here: `test_every_fixture_has_an_expectation_file...` says so)."""
    return {
        name: read(kit.fixture(name))
        for name in kit.names()
        if expectation_path(kit.fixture(name)).exists()
    }


def ignored_fixtures(kit) -> list[str]:
    """The fixtures whose every event is deliberately skipped."""
    return [
        name
        for name, expected in expectations(kit).items()
        if expected.get("items") == [] and expected["ignored"]
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("kit", "name"), cases(WEBHOOK_KITS, ignored_fixtures))
def test_a_delivery_pingback_does_not_serve_is_kept_as_ignored_with_the_reasons(
    client, kit, name, django_capture_on_commit_callbacks
):
    channel = kit.create()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, kit, channel, kit.body(name))

    assert_acknowledged(response, kit, "accepted")
    event = InboundEvent.objects.get()
    reasons = "; ".join(read(kit.fixture(name))["ignored"])
    assert (event.status, event.error) == ("ignored", reasons)
    assert Conversation.objects.count() == 0


def refused_headers(kit, channel, body: bytes) -> dict[str, dict]:
    return {
        "missing": {},
        "signed with another secret": kit.signed(channel, body, "another-secret"),
        **kit.forged,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kit", "case"),
    cases(WEBHOOK_KITS, lambda kit: refused_headers(kit, kit.build(), b"")),
)
def test_a_delivery_without_the_channels_signature_is_403_and_stores_nothing(
    client, kit, case
):
    channel = kit.create()
    body = kit.body(kit.delivery)

    response = post(
        client, kit, channel, body, refused_headers(kit, channel, body)[case]
    )

    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(WEBHOOK_KITS))
def test_a_channel_without_its_secret_refuses_every_delivery(
    client, kit, django_capture_on_commit_callbacks
):
    """A channel stored before the secret was set (or required) has nothing
    to check a delivery against: refused, signed or not."""
    channel = kit.create()
    signed = kit.signed(channel, kit.body(kit.delivery))
    del channel.secrets[kit.secret]
    channel.save()

    with django_capture_on_commit_callbacks(execute=True):
        unsigned = post(client, kit, channel, kit.body(kit.delivery))
        with_the_old_secret = post(client, kit, channel, kit.body(kit.delivery), signed)

    assert (unsigned.status_code, with_the_old_secret.status_code) == (403, 403)
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(WEBHOOK_KITS))
def test_a_redelivery_adds_nothing(client, kit, django_capture_on_commit_callbacks):
    channel = kit.create()
    body = kit.body(kit.delivery)
    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, kit, channel, body)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, kit, channel, body)

    assert_acknowledged(response, kit, "duplicate")
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def malformed_deliveries(kit) -> dict[str, tuple[bytes, str]]:
    """The kit's malformed bodies and its malformed fixtures."""
    fixtures = {
        name: (kit.body(name), expected["error"])
        for name, expected in expectations(kit).items()
        if "malformed" in expected
    }
    return {**kit.malformed, **fixtures}


@pytest.mark.django_db
@pytest.mark.parametrize(("kit", "case"), cases(WEBHOOK_KITS, malformed_deliveries))
def test_a_malformed_delivery_is_kept_with_its_error_and_answered_400(
    client, kit, case
):
    channel = kit.create()
    body, error = malformed_deliveries(kit)[case]

    response = post_signed(client, kit, channel, body)

    assert response.status_code == 400
    assert response.json() == {"detail": error}
    event = InboundEvent.objects.get()
    assert (event.status, event.error) == ("malformed", error)
    assert bytes(event.body) == body
    assert Message.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(WEBHOOK_KITS))
def test_a_delivery_to_an_inactive_channel_is_kept_but_not_processed(
    client, kit, django_capture_on_commit_callbacks
):
    channel = kit.create(is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, kit, channel, kit.body(kit.delivery))

    assert_acknowledged(response, kit, "ignored")
    assert InboundEvent.objects.get().status == "ignored"
    assert Message.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(WEBHOOK_KITS))
def test_a_delivery_to_an_unknown_channel_is_404(client, kit):
    channel = kit.build(id="7c9e6679-7425-40de-944b-e07fc1f90ae7")

    response = post(client, kit, channel, kit.body(kit.delivery))

    assert response.status_code == 404
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(WEBHOOK_KITS))
def test_a_get_that_is_not_a_handshake_is_405(client, kit):
    assert client.get(webhook_path(kit.create())).status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(HANDSHAKE_KITS))
def test_the_handshake_is_answered_as_the_platform_expects(client, kit):
    channel = kit.create()

    response = client.get(webhook_path(channel), kit.handshake.query(channel))

    content_type, content = kit.handshake.answer(channel)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response.content == content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kit", "case"), cases(HANDSHAKE_KITS, lambda kit: kit.handshake.refused)
)
def test_a_handshake_with_the_wrong_token_is_refused(client, kit, case):
    channel = kit.create()
    query = kit.handshake.refused[case](channel)

    response = client.get(webhook_path(channel), query)

    assert response.status_code == 403
    assert kit.handshake.answer(channel)[1] not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(HANDSHAKE_KITS))
def test_a_handshake_for_a_channel_without_its_secret_is_refused(client, kit):
    channel = kit.create()
    query = kit.handshake.query(channel)
    del channel.secrets[kit.handshake.secret]
    channel.save()

    assert client.get(webhook_path(channel), query).status_code == 403


# ------------------------------------------------------------------------ sends


def outbound(kit, **changes) -> OutboundMessage:
    """A reply to the customer of the kit's delivery fixture, in its thread."""
    [item] = read(kit.fixture(kit.delivery))["items"]
    message = OutboundMessage(
        message_id=1,
        text="Your replacement ships today.",
        recipient_external_id=item["contact"]["external_id"],
        thread_key=item["thread_key"],
    )
    return replace(message, **changes)


def sending_channel(kit):
    """A channel the kit's stand-in knows."""
    return kit.create(**(kit.sending.channel() if kit.sending.channel else {}))


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(SENDING_KITS))
def test_a_reply_goes_through_the_sdk_to_the_stand_in(kit, sandbox):
    kit.sending.set_modes(sandbox, {})
    message = outbound(kit)

    result = get_platform(kit.platform).send(sending_channel(kit), message)

    [send] = kit.sending.sends(sandbox)
    id_key, text_key = kit.sending.sent
    assert (send[id_key], send[text_key]) == (result.platform_message_id, message.text)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kit", "case"), cases(SENDING_KITS, lambda kit: kit.sending.errors)
)
def test_a_refused_send_is_transient_or_permanent_in_the_platforms_words(
    kit, case, sandbox
):
    refusal = kit.sending.errors[case]
    kit.sending.set_modes(sandbox, refusal.modes)

    with pytest.raises(refusal.error) as raised:
        get_platform(kit.platform).send(
            sending_channel(kit), outbound(kit, **refusal.message)
        )

    assert type(raised.value) is refusal.error
    assert raised.value.reason == refusal.reason
    for name, value in refusal.fields.items():
        assert getattr(raised.value, name) == value
    assert kit.sending.sends(sandbox) == []


# ---------------------------------------------------------- setup and teardown


def create(api, kit, config: dict):
    return api.post(
        "/api/v1/channels/", {"type": kit.platform, "config": config}, format="json"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(SETUP_KITS))
def test_creating_the_channel_sets_up_the_platform_side(admin_api, kit, sandbox):
    response = create(admin_api, kit, kit.setup.config())

    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["setup"]["state"] == kit.setup.state
    if kit.setup.registered:
        assert kit.setup.registered(sandbox, created)


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(REGISTERING_KITS))
def test_deactivating_undoes_the_setup_and_reactivating_does_it_again(
    admin_api, kit, sandbox
):
    created = create(admin_api, kit, kit.setup.config()).json()
    url = f"/api/v1/channels/{created['id']}"

    admin_api.patch(url, {"is_active": False}, format="json")
    registered_while_inactive = kit.setup.registered(sandbox, None)
    response = admin_api.patch(url, {"is_active": True}, format="json")

    assert not registered_while_inactive
    assert response.json()["setup"]["state"] == kit.setup.state
    assert kit.setup.registered(sandbox, created)


@pytest.mark.django_db
@pytest.mark.parametrize("kit", **by_platform(REGISTERING_KITS))
def test_deleting_the_channel_undoes_the_setup(admin_api, kit, sandbox):
    created = create(admin_api, kit, kit.setup.config()).json()

    response = admin_api.delete(f"/api/v1/channels/{created['id']}")

    assert response.status_code == 200
    assert not kit.setup.registered(sandbox, None)


@pytest.mark.django_db
@pytest.mark.parametrize(("kit", "case"), cases(SETUP_KITS, lambda k: k.setup.refused))
def test_credentials_the_platform_refuses_are_400_naming_the_field_in_its_words(
    admin_api, kit, case, sandbox
):
    config, field, words = kit.setup.refused[case]

    response = create(admin_api, kit, config)

    assert response.status_code == 400
    assert response.json() == {"config": {field: [words]}}
    secrets = get_platform(kit.platform).secret_fields & set(config)
    assert [config[name] for name in secrets if config[name] in response.text] == []
    assert Channel.objects.count() == 0
    if kit.setup.registered:
        assert not kit.setup.registered(sandbox, None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kit", **by_platform([kit for kit in SETUP_KITS if kit.setup.unreachable])
)
def test_an_unreachable_platform_is_no_refusal_and_setup_says_so(
    admin_api, kit, settings
):
    """Creating is allowed (the credentials may be fine); setup says what
    happened, without the credentials."""
    setting, state, message = kit.setup.unreachable
    setattr(settings, setting, closed_port_url())
    config = kit.setup.config()

    response = create(admin_api, kit, config)

    assert response.status_code == 201
    setup = response.json()["setup"]
    assert setup["state"] == state
    assert setup["message"].startswith(message)
    secrets = get_platform(kit.platform).secret_fields & set(config)
    assert [name for name in secrets if config[name] in setup["message"]] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kit", **by_platform([kit for kit in SETUP_KITS if kit.setup.secret_missing])
)
def test_setup_of_a_channel_without_its_webhook_secret_says_webhooks_are_refused(
    admin_api, kit, sandbox
):
    """A channel stored before the secret was required."""
    created = create(admin_api, kit, kit.setup.config()).json()
    channel = Channel.objects.get()
    del channel.secrets[kit.secret]
    channel.save()

    body = admin_api.post(f"/api/v1/channels/{created['id']}/setup").json()

    assert body["setup"]["state"] == "action_required"
    assert body["setup"]["message"].startswith(kit.setup.secret_missing)

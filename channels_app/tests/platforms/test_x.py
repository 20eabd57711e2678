"""What only X does: one DM delivered by either webhook product (Account
Activity or X Activity) is one message, and events for another account are
ignored. Signatures, CRC, parsing of every fixture, redelivery and malformed
bodies are in the contract suite (`contract/`, kit `kits/x.py`)."""

import json

import pytest

from channels_app.platforms import get_platform
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.contract.kits.x import KIT
from channels_app.tests.platforms.fixtures import fixture_bytes
from conversations.models import Message

ACCOUNT = "1500000000000000001"


@pytest.mark.django_db
def test_same_dm_in_aaa_and_xaa_form_is_one_message(
    client, django_capture_on_commit_callbacks
):
    """The dedupe key is the inner DM id, whichever webhook product delivers it."""
    channel = ChannelFactory()
    aaa = json.loads(fixture_bytes("x", "xaa__dm_received"))["data"]["payload"]
    aaa = {
        "for_user_id": ACCOUNT,
        "direct_message_events": aaa["direct_message_events"],
    }
    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, json.dumps(aaa).encode())
        response = KIT.deliver(client, channel, fixture_bytes("x", "xaa__dm_received"))

    assert response.json() == {"status": "duplicate"}
    assert Message.objects.count() == 1


def test_events_for_another_account_are_ignored():
    channel = ChannelFactory.build(config={"account_id": "999"})

    parsed = get_platform("x").parse(channel, fixture_bytes("x", "dm__text"))

    assert parsed.items == ()
    assert parsed.ignored == (f"event for another account ({ACCOUNT})",)

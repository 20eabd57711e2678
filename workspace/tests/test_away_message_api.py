"""`/api/v1/channels/{id}/away_message`: every member reads a channel's away
message, admins set it; refusals name the field and store nothing; another
business's channel is 404."""

from __future__ import annotations

import pytest

from billing.tests.factories import BusinessFactory
from channels_app.tests.factories import ChannelFactory
from workspace.models import AwayMessage

pytestmark = pytest.mark.django_db


def url(channel) -> str:
    return f"/api/v1/channels/{channel.pk}/away_message"


def test_an_admin_sets_it_and_every_member_reads_it(
    business, admin_api, api_client_for, agent_member
):
    channel = ChannelFactory(business=business, type="telegram")
    assert admin_api.get(url(channel)).json() == {"enabled": False, "body": ""}

    answer = admin_api.put(
        url(channel),
        {"enabled": True, "body": "  We answer from 9:00, Monday to Friday.  "},
        format="json",
    )

    assert answer.status_code == 200
    assert answer.json() == {
        "enabled": True,
        "body": "We answer from 9:00, Monday to Friday.",
    }
    agent = api_client_for(agent_member)
    assert agent.get(url(channel) + "/").json() == answer.json()
    refused = agent.put(url(channel), {"enabled": False, "body": ""}, format="json")
    assert refused.status_code == 403
    assert AwayMessage.objects.get(channel=channel).enabled is True


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        ({"enabled": True, "body": "   "}, "body"),
        ({"enabled": True, "body": "x" * 1001}, "body"),
        ({"enabled": "maybe", "body": "Hi"}, "enabled"),
        ({"body": "Hi"}, "enabled"),
    ],
)
def test_a_refusal_names_the_field_and_stores_nothing(business, admin_api, sent, field):
    channel = ChannelFactory(business=business, type="telegram")

    answer = admin_api.put(url(channel), sent, format="json")

    assert answer.status_code == 400
    assert list(answer.json()) == [field]
    assert not AwayMessage.objects.filter(channel=channel).exists()


def test_another_business_channel_is_not_found(admin_api):
    theirs = ChannelFactory(business=BusinessFactory(), type="telegram")

    assert admin_api.get(url(theirs)).status_code == 404
    assert (
        admin_api.put(
            url(theirs), {"enabled": False, "body": ""}, format="json"
        ).status_code
        == 404
    )
    assert admin_api.get("/api/v1/channels/not-a-uuid/away_message").status_code == 404

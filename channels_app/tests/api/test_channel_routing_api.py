"""A channel's routing over the API and in Django admin: `auto_assign` and
`team_id` (a team of the same business only); a member's capacity and the
business's time zone in admin."""

import pytest

from billing.models import Business, Member
from billing.tests.factories import BusinessFactory, MemberFactory, UserFactory
from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from workspace.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


def test_a_channel_is_created_with_auto_assign_and_a_team(admin_api, business):
    team = TeamFactory(business=business)

    response = admin_api.post(
        "/api/v1/channels/",
        {"type": "webchat", "config": {}, "auto_assign": True, "team_id": team.pk},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["auto_assign"], body["team_id"]) == (True, team.pk)
    channel = Channel.objects.get(pk=body["id"])
    assert (channel.auto_assign, channel.team_id) == (True, team.pk)


def test_routing_is_off_by_default_and_patched_alone(admin_api, business):
    channel = ChannelFactory(business=business, type="webchat", secrets={}, config={})
    team = TeamFactory(business=business)
    assert (
        admin_api.get(f"/api/v1/channels/{channel.pk}").json()["auto_assign"] is False
    )

    on = admin_api.patch(
        f"/api/v1/channels/{channel.pk}",
        {"auto_assign": True, "team_id": team.pk},
        format="json",
    )
    off = admin_api.patch(
        f"/api/v1/channels/{channel.pk}", {"team_id": None}, format="json"
    )

    assert on.status_code == 200, on.json()
    assert (on.json()["auto_assign"], on.json()["team_id"]) == (True, team.pk)
    assert (off.json()["auto_assign"], off.json()["team_id"]) == (True, None)
    channel.refresh_from_db()
    assert (channel.auto_assign, channel.team_id) == (True, None)


@pytest.mark.parametrize("whose", ["another business's", "unknown"])
def test_a_team_not_of_the_business_is_400_naming_team_id(admin_api, business, whose):
    channel = ChannelFactory(business=business, type="webchat", secrets={}, config={})
    team_id = (
        TeamFactory(business=BusinessFactory()).pk if whose != "unknown" else 99999999
    )

    patched = admin_api.patch(
        f"/api/v1/channels/{channel.pk}",
        {"team_id": team_id, "auto_assign": True},
        format="json",
    )
    created = admin_api.post(
        "/api/v1/channels/",
        {"type": "webchat", "config": {}, "team_id": team_id},
        format="json",
    )

    for response in (patched, created):
        assert response.status_code == 400
        assert response.json()["team_id"] == ["No such team in this business."]
    channel.refresh_from_db()
    assert (channel.auto_assign, channel.team_id) == (False, None)
    assert Channel.objects.filter(business=business).count() == 1


# ------------------------------------------------------------------ admin


@pytest.fixture
def admin_client_logged_in(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_sets_routing_and_refuses_another_business_team(admin_client_logged_in):
    business = BusinessFactory(plan="mini")
    ours = TeamFactory(business=business)
    theirs = TeamFactory(business=BusinessFactory())

    def add(team):
        return admin_client_logged_in.post(
            "/admin/channels_app/channel/add/",
            {
                "business": business.pk,
                "type": "webchat",
                "is_active": "on",
                "auto_assign": "on",
                "team": team.pk,
            },
        )

    refused = add(theirs)
    added = add(ours)

    assert refused.status_code == 200
    assert "No such team in this business." in refused.content.decode()
    assert added.status_code == 302
    channel = Channel.objects.get(business=business)
    assert (channel.auto_assign, channel.team_id) == (True, ours.pk)


def test_admin_validates_the_business_time_zone(admin_client_logged_in):
    business = BusinessFactory()

    def change(zone):
        return admin_client_logged_in.post(
            f"/admin/billing/business/{business.pk}/change/",
            {
                "name": business.name,
                "plan": business.plan,
                "time_zone": zone,
                "members-TOTAL_FORMS": "0",
                "members-INITIAL_FORMS": "0",
            },
        )

    refused = change("Europe/Atlantis")
    saved = change("Europe/Lisbon")

    assert refused.status_code == 200
    assert "is not a time zone name" in refused.content.decode()
    assert saved.status_code == 302
    assert Business.objects.get(pk=business.pk).time_zone == "Europe/Lisbon"


def test_admin_sets_a_member_capacity(admin_client_logged_in):
    member = MemberFactory()

    response = admin_client_logged_in.post(
        f"/admin/billing/member/{member.pk}/change/",
        {
            "user": member.user_id,
            "business": member.business_id,
            "role": "agent",
            "max_open_conversations": "3",
            "notify_new_conversation": "on",
            "notify_customer_reply": "on",
            "notify_mention": "on",
        },
    )

    assert response.status_code == 302
    assert Member.objects.get(pk=member.pk).max_open_conversations == 3

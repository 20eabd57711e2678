"""`/api/v1/members/`: admins invite, list, change and deactivate members
through the services the settings pages use; agents get 403."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from billing.models import Member
from billing.tests.factories import BusinessFactory, MemberFactory
from conversations.tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/members/"


def test_an_admin_invites_a_member_who_is_emailed_a_link(admin_api, admin_member):
    response = admin_api.post(
        URL, {"email": "api.agent@example.test", "role": "agent"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "api.agent@example.test"
    assert body["role"] == "agent"
    assert body["state"] == "invited"
    assert body["invitation_sent"] is True
    assert mail.outbox[-1].to == ["api.agent@example.test"]
    assert re.search(r"/invitations/[\w-]+/", mail.outbox[-1].body)
    token = re.search(r"/invitations/([\w-]+)/", mail.outbox[-1].body)[1]
    assert token not in response.content.decode()


def test_a_refused_invitation_names_the_field(admin_api):
    response = admin_api.post(URL, {"email": "nope", "role": "agent"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["email"]

    response = admin_api.post(
        URL, {"email": "ok@example.test", "role": "boss"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["role"]
    assert mail.outbox == []


def test_the_list_shows_only_the_business_members_with_states(admin_api, admin_member):
    gone = MemberFactory(business=admin_member.business)
    gone.user.is_active = False
    gone.user.save()
    MemberFactory(business=BusinessFactory())

    rows = admin_api.get(URL).json()["results"]

    assert [(row["id"], row["state"]) for row in rows] == [
        (admin_member.pk, "active"),
        (gone.pk, "deactivated"),
    ]


def test_role_change_and_the_last_admin_409(admin_api, admin_member, api_client_for):
    agent = MemberFactory(business=admin_member.business)

    response = admin_api.patch(f"{URL}{agent.pk}/", {"role": "admin"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "admin"

    agent_api = api_client_for(agent)
    assert (
        agent_api.patch(f"{URL}{admin_member.pk}/", {"role": "agent"}, format="json")
    ).status_code == 200
    response = agent_api.patch(f"{URL}{agent.pk}/", {"role": "agent"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "last_admin"
    assert Member.objects.get(pk=agent.pk).is_admin


def test_deactivate_unassigns_and_reactivate(admin_api, admin_member):
    agent = MemberFactory(business=admin_member.business)
    ConversationFactory(business=admin_member.business, assignee=agent.user)

    response = admin_api.post(f"{URL}{agent.pk}/deactivate/")

    assert response.status_code == 200
    assert response.json()["state"] == "deactivated"
    assert response.json()["unassigned_conversations"] == 1
    response = admin_api.post(f"{URL}{agent.pk}/reactivate/")
    assert response.json()["state"] == "active"


def test_agents_get_403_and_strangers_404(agent_member, api_client_for, admin_api):
    agent_api = api_client_for(agent_member)
    assert agent_api.get(URL).status_code == 403
    assert (
        agent_api.post(URL, {"email": "x@example.test"}, format="json").status_code
        == 403
    )
    assert agent_api.post(f"{URL}{agent_member.pk}/deactivate/").status_code == 403

    stranger = MemberFactory(business=BusinessFactory())
    assert admin_api.get(f"{URL}{stranger.pk}/").status_code == 404
    assert admin_api.post(f"{URL}{stranger.pk}/deactivate/").status_code == 404
    assert admin_api.get(f"{URL}abc/").status_code == 404
    stranger.user.refresh_from_db()
    assert stranger.user.is_active


def test_resend_sends_a_new_link_only_to_invited_members(admin_api, admin_member):
    invited = admin_api.post(URL, {"email": "later@example.test"}, format="json")
    member_id = invited.json()["id"]
    first = mail.outbox[-1].body

    response = admin_api.post(f"{URL}{member_id}/resend_invitation/")

    assert response.status_code == 200
    assert mail.outbox[-1].body != first
    response = admin_api.post(f"{URL}{admin_member.pk}/resend_invitation/")
    assert response.status_code == 400

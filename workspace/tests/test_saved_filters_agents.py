"""`/api/v1/agents/` (the business's active members) and `/api/v1/saved_filters/`
(each agent's own saved inbox filters)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.tests.factories import BusinessFactory, MemberFactory, UserFactory
from workspace.models import SavedFilter
from workspace.selectors import saved_filter_list
from workspace.tests.factories import LabelFactory, TeamFactory

pytestmark = pytest.mark.django_db

AGENTS = "/api/v1/agents/"
SAVED = "/api/v1/saved_filters/"


def test_agents_lists_the_business_members_with_their_teams(
    admin_api, admin_member, business
):
    ana = MemberFactory(
        business=business,
        user=UserFactory(username="ana", first_name="Ana", last_name="Silva"),
    )
    team = TeamFactory(business=business, members=[ana])
    MemberFactory(business=BusinessFactory())
    # A deactivated member can be neither assigned nor put in a team.
    MemberFactory(business=business, user=UserFactory(is_active=False))

    response = admin_api.get(AGENTS)

    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "id": admin_member.user_id,
            "name": admin_member.user.username,
            "email": admin_member.user.email,
            "role": "admin",
            "teams": [],
        },
        {
            "id": ana.user_id,
            "name": "Ana Silva",
            "email": ana.user.email,
            "role": "agent",
            "teams": [team.pk],
        },
    ]


def test_agents_queries_do_not_grow_with_members(admin_api, business):
    def queries() -> int:
        admin_api.get(AGENTS)
        with CaptureQueriesContext(connection) as captured:
            assert admin_api.get(AGENTS).status_code == 200
        return len(captured)

    with_few = queries()
    for _ in range(10):
        TeamFactory(business=business, members=[MemberFactory(business=business)])

    assert queries() == with_few


@pytest.fixture
def agent_api(agent_member, api_client_for):
    return api_client_for(agent_member)


def test_an_agent_saves_lists_changes_and_deletes_their_filter(
    agent_api, agent_member, business
):
    LabelFactory(business=business, name="vip")
    team = TeamFactory(business=business)

    created = agent_api.post(
        SAVED,
        {"name": "My VIPs", "query": f"?assignee=me&label=VIP&team={team.pk}"},
        format="json",
    )
    assert created.status_code == 201, created.content
    saved_id = created.json()["id"]
    assert created.json()["query"] == f"assignee=me&label=VIP&team={team.pk}"

    changed = agent_api.patch(
        f"{SAVED}{saved_id}", {"query": "status=pending&mentioned=me"}, format="json"
    )
    assert changed.status_code == 200
    assert [
        (row["name"], row["query"]) for row in agent_api.get(SAVED).json()["results"]
    ] == [("My VIPs", "status=pending&mentioned=me")]
    assert [s.name for s in saved_filter_list(agent_member)] == ["My VIPs"]

    assert agent_api.delete(f"{SAVED}{saved_id}").status_code == 204
    assert not SavedFilter.objects.exists()


def test_saved_filters_are_each_agent_own(agent_api, admin_api, admin_member, business):
    theirs = SavedFilter.objects.create(
        member=admin_member, name="Admin's", query="status=open"
    )

    assert agent_api.get(SAVED).json()["results"] == []
    assert agent_api.get(f"{SAVED}{theirs.pk}").status_code == 404
    assert (
        agent_api.patch(f"{SAVED}{theirs.pk}", {"name": "Mine"}, format="json")
    ).status_code == 404
    assert agent_api.delete(f"{SAVED}{theirs.pk}").status_code == 404
    # The same name is free for another agent.
    assert (
        agent_api.post(SAVED, {"name": "admin's", "query": ""}, format="json")
    ).status_code == 201
    theirs.refresh_from_db()
    assert theirs.name == "Admin's"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "open", "query": "status=open"}, "name"),
        ({"name": "x", "query": "colour=red"}, "query"),
        ({"name": "x", "query": "status=asleep"}, "query"),
        ({"name": "x", "query": "label=no-such"}, "query"),
        ({"name": "x", "query": "team=their_team"}, "query"),
        ({"name": "x", "query": "assignee=someone"}, "query"),
        ({"name": "x", "query": "cursor=abc"}, "query"),
    ],
)
def test_a_bad_saved_filter_is_refused_naming_the_field(
    agent_api, agent_member, body, field
):
    SavedFilter.objects.create(member=agent_member, name="Open", query="status=open")
    their_team = TeamFactory(business=BusinessFactory())
    body = {**body, "query": body["query"].replace("their_team", str(their_team.pk))}

    response = agent_api.post(SAVED, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert SavedFilter.objects.count() == 1

"""`/api/v1/automation-rules/`: admins list, create, read, change, reorder,
disable and delete rules; bad values are a 400 naming the field; another
business's rule is a 404 and its ids are refused."""

from __future__ import annotations

import pytest

from automation.models import Rule
from automation.services import rule_create
from billing.tests.factories import BusinessFactory
from workspace.tests.factories import LabelFactory, TeamFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/automation-rules/"


def refund_rule(team, label) -> dict:
    return {
        "name": "WhatsApp refunds",
        "trigger": "message_created",
        "conditions": {"channel_types": ["whatsapp"], "text_contains": ["refund"]},
        "actions": {"assign_team_id": team.pk, "add_label_id": label.pk},
    }


def test_an_admin_creates_lists_and_reads_a_rule(admin_api, billing_team, refund_label):
    created = admin_api.post(
        URL, refund_rule(billing_team, refund_label), format="json"
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["conditions"] == {
        "channel_types": ["whatsapp"],
        "text_contains": ["refund"],
    }
    assert body["actions"] == {
        "assign_team_id": billing_team.pk,
        "add_label_id": refund_label.pk,
    }
    assert (body["position"], body["is_active"]) == (0, True)
    assert admin_api.get(URL).json() == [body]
    assert admin_api.get(f"{URL}{body['id']}").json() == body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"trigger": "message_deleted"}, "trigger"),
        ({"actions": {}}, "actions"),
        ({"actions": {"priority": "critical"}}, "actions.priority"),
        ({"actions": {"snooze_minutes": 10, "resolve": True}}, "actions.resolve"),
        ({"conditions": {"channel_types": ["fax"]}}, "conditions.channel_types"),
        ({"conditions": {"business_hours": "lunch"}}, "conditions.business_hours"),
        ({"conditions": {"colour": "red"}}, "conditions"),
        ({"trigger": "unanswered"}, "unanswered_minutes"),
        ({"actions": {"add_label_id": 10**30}}, "actions.add_label_id"),
        ({"actions": {"snooze_minutes": -5}}, "actions.snooze_minutes"),
        ({"conditions": {"text_contains": "refund"}}, "conditions.text_contains"),
    ],
)
def test_a_bad_rule_is_a_400_naming_the_field(
    admin_api, billing_team, refund_label, change, field
):
    answer = admin_api.post(
        URL, refund_rule(billing_team, refund_label) | change, format="json"
    )

    assert answer.status_code == 400
    assert field in answer.json(), answer.json()
    assert not Rule.objects.exists()


def test_ids_of_another_business_are_refused(admin_api, billing_team, refund_label):
    other = BusinessFactory()
    body = refund_rule(billing_team, refund_label)
    body["actions"] = {
        "assign_team_id": TeamFactory(business=other).pk,
        "add_label_id": LabelFactory(business=other).pk,
    }

    answer = admin_api.post(URL, body, format="json")

    assert answer.status_code == 400
    assert answer.json() == {
        "actions.assign_team_id": ["No such team in this business."],
        "actions.add_label_id": ["No such label in this business."],
    }


def test_another_business_rule_is_a_404(admin_api, billing_team):
    other = BusinessFactory()
    theirs = rule_create(
        business=other,
        data={"name": "x", "trigger": "message_created", "actions": {"resolve": True}},
    )

    assert admin_api.get(f"{URL}{theirs.pk}/").status_code == 404
    assert (
        admin_api.patch(f"{URL}{theirs.pk}/", {"name": "y"}, format="json").status_code
        == 404
    )
    assert admin_api.delete(f"{URL}{theirs.pk}/").status_code == 404
    assert admin_api.get(f"{URL}abc/").status_code == 404
    assert Rule.objects.get(pk=theirs.pk).name == "x"


def test_reorder_disable_and_delete(admin_api, business):
    ids = [
        admin_api.post(
            URL,
            {
                "name": name,
                "trigger": "conversation_created",
                "actions": {"priority": "low"},
            },
            format="json",
        ).json()["id"]
        for name in ("a", "b", "c")
    ]

    moved = admin_api.patch(f"{URL}{ids[2]}/", {"position": 0}, format="json")
    disabled = admin_api.patch(f"{URL}{ids[1]}/", {"is_active": False}, format="json")

    assert moved.status_code == 200
    assert disabled.json()["is_active"] is False
    listed = admin_api.get(URL).json()
    assert [(r["name"], r["position"]) for r in listed] == [
        ("c", 0),
        ("a", 1),
        ("b", 2),
    ]
    assert admin_api.delete(f"{URL}{ids[0]}/").status_code == 204
    assert [r["name"] for r in admin_api.get(URL).json()] == ["c", "b"]


def test_agents_and_anonymous_callers_cannot_manage_rules(
    agent_member, api_client_for, client
):
    agent = api_client_for(agent_member)

    assert agent.get(URL).status_code == 403
    assert agent.post(URL, {"name": "x"}, format="json").status_code == 403
    assert client.get(URL).status_code in (401, 403)


def test_the_schema_documents_the_endpoint(admin_api):
    schema = admin_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    listing = schema["paths"]["/api/v1/automation-rules/"]
    detail = schema["paths"]["/api/v1/automation-rules/{rule_id}/"]
    assert sorted(listing["post"]["responses"]) == ["201", "400", "401", "403", "415"]
    assert sorted(detail["patch"]["responses"]) == [
        "200",
        "400",
        "401",
        "403",
        "404",
        "415",
    ]
    assert listing["get"]["description"]

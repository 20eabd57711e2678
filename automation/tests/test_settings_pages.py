"""Settings → Automation pages: an admin lists, creates, edits, reorders,
disables and deletes rules; a refused value is shown beside its field with
what was typed kept; agents get 403, another business's rule 404."""

from __future__ import annotations

import pytest

from automation.models import Rule
from automation.services import rule_create
from billing.tests.factories import BusinessFactory
from workspace.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

URL = "/settings/automation/"


@pytest.fixture
def admin_client(client, admin_member):
    client.force_login(admin_member.user)
    return client


def form(**changes) -> dict:
    return {"name": "Refunds", "trigger": "message_created", **changes}


def test_an_admin_creates_a_rule_from_the_form(
    admin_client, business, whatsapp, billing_team, refund_label
):
    answer = admin_client.post(
        f"{URL}new/",
        form(
            channel_types=["whatsapp"],
            text_contains="refund, money back",
            assign_team_id=str(billing_team.pk),
            add_label_id=str(refund_label.pk),
            priority="high",
        ),
    )

    assert answer.status_code == 302
    rule = Rule.objects.get(business=business)
    assert rule.conditions == {
        "channel_types": ["whatsapp"],
        "text_contains": ["refund", "money back"],
    }
    assert rule.actions == {
        "assign_team_id": billing_team.pk,
        "add_label_id": refund_label.pk,
        "priority": "high",
    }
    page = admin_client.get(URL).content.decode()
    page = page.replace("\u2068", "").replace("\u2069", "")  # isolates
    assert "Refunds" in page
    assert "channel type is WhatsApp" in page
    assert "route to team Billing; add label refund; set priority high" in page
    assert "text contains “refund” or “money back”" in page


def test_a_refused_rule_shows_the_reason_and_keeps_the_input(admin_client, business):
    foreign_team = TeamFactory(business=BusinessFactory())

    answer = admin_client.post(
        f"{URL}new/",
        form(text_contains="very specific words", assign_team_id=str(foreign_team.pk)),
    )

    assert answer.status_code == 400
    page = answer.content.decode()
    assert (
        '<ul class="errors" id="assign_team_id-errors">'
        "<li>No such team in this business.</li>" in page
    )
    assert 'value="very specific words"' in page
    assert not Rule.objects.exists()


def test_move_toggle_edit_and_delete(admin_client, business, billing_team):
    rules = [
        rule_create(
            business=business,
            data={
                "name": n,
                "trigger": "message_created",
                "actions": {"resolve": True},
            },
        )
        for n in ("first", "second")
    ]

    admin_client.post(f"{URL}{rules[1].pk}/move/", {"direction": "up"})
    admin_client.post(f"{URL}{rules[0].pk}/toggle/")
    edited = admin_client.post(
        f"{URL}{rules[1].pk}/",
        form(name="renamed", assign_team_id=str(billing_team.pk), is_active="on"),
    )

    assert edited.status_code == 302
    assert [(r.name, r.is_active) for r in Rule.objects.order_by("position")] == [
        ("renamed", True),
        ("first", False),
    ]
    assert Rule.objects.get(pk=rules[1].pk).actions == {
        "assign_team_id": billing_team.pk
    }
    assert admin_client.get(f"{URL}{rules[0].pk}/delete/").status_code == 200
    admin_client.post(f"{URL}{rules[0].pk}/delete/")
    assert list(Rule.objects.values_list("name", flat=True)) == ["renamed"]


def test_agents_get_403_and_another_business_rule_is_404(
    client, admin_client, agent_member
):
    theirs = rule_create(
        business=BusinessFactory(),
        data={"name": "x", "trigger": "message_created", "actions": {"resolve": True}},
    )
    assert admin_client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert admin_client.post(f"{URL}{theirs.pk}/toggle/").status_code == 404
    client.force_login(agent_member.user)
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}new/").status_code == 403

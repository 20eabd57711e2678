import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from workspace.models import CannedResponse, Label, Team
from workspace.services import canned_response_render


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_demo_has_agents_in_a_team_labels_and_canned_responses(
    live_server, sandbox, settings
):
    # given
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url

    # when: run twice, as `bin/run` does on each start
    for _ in range(2):
        out = io.StringIO()
        call_command(
            "setup_demo", sandbox_url=sandbox.url, password="demo-pass", stdout=out
        )

    # then
    printed = out.getvalue().splitlines()
    assert "Agent login: agent1@demo.pingback.test / demo-pass" in printed
    assert "Agent login: agent2@demo.pingback.test / demo-pass" in printed
    users = get_user_model().objects
    for login in ("agent1@demo.pingback.test", "agent2@demo.pingback.test"):
        agent = users.get(username=login)
        assert agent.check_password("demo-pass")
        assert agent.member.role == "agent"
        assert agent.member.business.name == "Demo Support"
    team = Team.objects.get()
    assert team.name == "Support"
    assert sorted(m.user.username for m in team.members.all()) == [
        "agent1@demo.pingback.test",
        "agent2@demo.pingback.test",
    ]
    assert sorted(Label.objects.values_list("name", flat=True)) == [
        "billing",
        "bug",
        "vip",
    ]
    hello = CannedResponse.objects.get(short_code="hello")
    assert CannedResponse.objects.count() == 2
    assert canned_response_render(
        hello.content, contact_name="Ada", agent_name="Ana Silva", conversation_id=1
    ) == ("Hi Ada, this is Ana Silva from Demo Support. How can I help?")

import pytest
from django.contrib.auth import get_user_model

from billing.tests.factories import BusinessFactory, MemberFactory
from workspace.models import Team
from workspace.tests.factories import (
    CannedResponseFactory,
    LabelFactory,
    TeamFactory,
)


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.test", "pw")
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/admin/workspace/team/", "Escalations"),
        ("/admin/workspace/label/", "vip-customers"),
        ("/admin/workspace/cannedresponse/", "refund-policy"),
    ],
    ids=["teams", "labels", "canned-responses"],
)
def test_the_admin_lists_and_searches_each_model(staff_client, path, shown):
    # given
    business = BusinessFactory(name="Acme")
    TeamFactory(business=business, name="Escalations")
    LabelFactory(business=business, name="vip-customers")
    CannedResponseFactory(
        business=business,
        short_code="refund-policy",
        created_by=MemberFactory(business=business),
    )

    # when
    listed = staff_client.get(path)
    found = staff_client.get(path, {"q": shown[:5]})
    missed = staff_client.get(path, {"q": "nothing-like-it"})

    # then
    assert listed.status_code == found.status_code == 200
    assert shown in listed.content.decode()
    assert shown in found.content.decode()
    assert shown not in missed.content.decode()


@pytest.mark.django_db
def test_the_admin_refuses_a_team_member_of_another_business(staff_client):
    # given
    business = BusinessFactory()
    own = MemberFactory(business=business)
    stranger = MemberFactory(business=BusinessFactory())

    # when
    response = staff_client.post(
        "/admin/workspace/team/add/",
        {
            "business": business.pk,
            "name": "Support",
            "description": "",
            "members": [own.pk, stranger.pk],
        },
    )

    # then
    assert response.status_code == 200  # the form again, with the error
    assert "Only members of the team&#x27;s business" in response.content.decode()
    assert not Team.objects.exists()


@pytest.mark.django_db
def test_the_admin_refuses_a_duplicate_team_name_in_other_case(staff_client):
    # given
    team = TeamFactory(name="Support")

    # when
    response = staff_client.post(
        "/admin/workspace/team/add/",
        {"business": team.business.pk, "name": "SUPPORT", "description": ""},
    )

    # then
    assert response.status_code == 200
    assert "A team with this name already exists." in response.content.decode()
    assert Team.objects.count() == 1

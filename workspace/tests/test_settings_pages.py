"""The settings pages for canned responses, labels and teams: every member
reads them, admins create, edit and delete through the same validation as the
API, and each list costs a fixed number of queries."""

from __future__ import annotations

import pytest
from django.test import Client

from billing.tests.factories import BusinessFactory, MemberFactory, UserFactory
from conversations.tests.factories import ConversationFactory
from workspace.models import CannedResponse, Label, Team
from workspace.tests.factories import (
    CannedResponseFactory,
    LabelFactory,
    TeamFactory,
)

pytestmark = pytest.mark.django_db

LISTS = ["/settings/canned-responses/", "/settings/labels/", "/settings/teams/"]


def client_for(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def admin(admin_member) -> Client:
    return client_for(admin_member)


@pytest.fixture
def agent(agent_member) -> Client:
    return client_for(agent_member)


def text(response) -> str:
    return response.content.decode()


# ------------------------------------------------------------------ access


@pytest.mark.parametrize("url", LISTS)
def test_anonymous_visitors_are_sent_to_log_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", LISTS + [u + "new/" for u in LISTS])
def test_a_user_who_is_not_a_member_gets_403(url):
    client = Client()
    client.force_login(UserFactory())

    assert client.get(url).status_code == 403


def test_the_topbar_links_every_member_to_the_settings(agent):
    page = text(agent.get("/"))

    assert 'href="/settings/canned-responses/">Settings</a>' in page


@pytest.mark.parametrize("url", LISTS)
def test_agents_see_the_lists_read_only(agent, business, url):
    LabelFactory(business=business, name="vip")
    TeamFactory(business=business, name="Billing")
    CannedResponseFactory(business=business, short_code="refund")

    response = agent.get(url)

    page = text(response).split("<main>")[1]
    assert response.status_code == 200
    assert "Only admins can change these." in page
    assert 'method="post"' not in page
    assert "/new/" not in page and "/delete/" not in page
    assert any(name in page for name in ("vip", "Billing", "/refund"))


@pytest.mark.parametrize(
    ("url", "data", "model"),
    [
        (
            "/settings/canned-responses/new/",
            {"short_code": "x", "content": "y"},
            CannedResponse,
        ),
        ("/settings/labels/new/", {"name": "x", "color": "#123456"}, Label),
        ("/settings/teams/new/", {"name": "x"}, Team),
    ],
)
def test_an_agent_cannot_create(agent, url, data, model):
    assert agent.get(url).status_code == 403
    assert agent.post(url, data).status_code == 403
    assert not model.objects.exists()


def test_an_agent_cannot_edit_or_delete(agent, business):
    label = LabelFactory(business=business, name="vip", color="#112233")
    team = TeamFactory(business=business, name="Billing")
    canned = CannedResponseFactory(business=business, short_code="refund")
    for url, data in [
        (f"/settings/labels/{label.pk}/", {"name": "changed", "color": "#000000"}),
        (f"/settings/teams/{team.pk}/", {"name": "changed"}),
        (
            f"/settings/canned-responses/{canned.pk}/",
            {"short_code": "c", "content": "c"},
        ),
    ]:
        assert agent.post(url, data).status_code == 403
        assert agent.post(url + "delete/").status_code == 403

    label.refresh_from_db()
    team.refresh_from_db()
    canned.refresh_from_db()
    assert (label.name, label.color) == ("vip", "#112233")
    assert team.name == "Billing"
    assert canned.short_code == "refund"


def test_another_business_rows_are_404(admin):
    other = BusinessFactory()
    rows = {
        "labels": LabelFactory(business=other),
        "teams": TeamFactory(business=other),
        "canned-responses": CannedResponseFactory(business=other),
    }
    for segment, row in rows.items():
        base = f"/settings/{segment}/{row.pk}/"
        assert admin.get(base).status_code == 404
        assert (
            admin.post(base, {"name": "mine", "short_code": "mine"}).status_code == 404
        )
        assert admin.get(base + "delete/").status_code == 404
        assert admin.post(base + "delete/").status_code == 404
    assert Label.objects.filter(pk=rows["labels"].pk).exists()
    assert Team.objects.filter(pk=rows["teams"].pk).exists()
    assert CannedResponse.objects.filter(pk=rows["canned-responses"].pk).exists()
    # And they are not listed.
    for segment, row in rows.items():
        assert f"/{row.pk}/" not in text(admin.get(f"/settings/{segment}/"))


# ------------------------------------------------------------------ canned responses


def test_admin_creates_edits_searches_and_deletes_a_canned_response(
    admin, admin_member
):
    admin_member.user.first_name = "Grace"
    admin_member.user.last_name = "Hopper"
    admin_member.user.save()
    form = text(admin.get("/settings/canned-responses/new/"))
    assert "{{contact.name}}" in form and "{{agent.name}}" in form
    assert "{{conversation.id}}" in form

    response = admin.post(
        "/settings/canned-responses/new/",
        {"short_code": "refund", "content": "Hi {{contact.name}}, refunded."},
        follow=True,
    )

    page = text(response)
    assert "/refund" in page and "Hi {{contact.name}}, refunded." in page
    assert "Created by <bdi>Grace Hopper</bdi>" in page
    canned = CannedResponse.objects.get()
    assert canned.created_by == admin_member

    admin.post(
        f"/settings/canned-responses/{canned.pk}/",
        {"short_code": "refunded", "content": "Done."},
    )
    canned.refresh_from_db()
    assert (canned.short_code, canned.content) == ("refunded", "Done.")

    CannedResponseFactory(
        business=canned.business, short_code="shipping", content="Sent"
    )
    found = text(admin.get("/settings/canned-responses/?q=DONE"))
    assert "/refunded" in found and "/shipping" not in found
    found = text(admin.get("/settings/canned-responses/?q=ship"))
    assert "/refunded" not in found and "/shipping" in found

    confirm = text(admin.get(f"/settings/canned-responses/{canned.pk}/delete/"))
    assert "Delete the canned response" in confirm
    assert CannedResponse.objects.filter(pk=canned.pk).exists()
    response = admin.post(
        f"/settings/canned-responses/{canned.pk}/delete/", follow=True
    )
    assert not CannedResponse.objects.filter(pk=canned.pk).exists()
    assert "deleted" in text(response)


def test_a_refused_canned_response_keeps_what_was_typed(admin, business):
    CannedResponseFactory(business=business, short_code="refund")
    long_text = "Thanks! " * 300

    response = admin.post(
        "/settings/canned-responses/new/",
        {"short_code": "Bad Code", "content": long_text},
    )

    page = text(response)
    assert response.status_code == 400
    assert 'id="short_code-errors"' in page
    assert "1 to 40 characters among lowercase letters" in page
    assert 'aria-describedby="short_code-help short_code-errors"' in page
    assert 'value="Bad Code"' in page
    assert long_text.strip() in page

    response = admin.post(
        "/settings/canned-responses/new/", {"short_code": "refund", "content": "x"}
    )
    assert response.status_code == 400
    assert "A canned response with this short code already exists." in text(response)
    assert CannedResponse.objects.count() == 1


# ------------------------------------------------------------------ labels


def test_admin_creates_edits_and_deletes_a_label(admin, business):
    response = admin.post(
        "/settings/labels/new/",
        {"name": "VIP", "color": "#AABBCC", "description": "Big customers"},
        follow=True,
    )

    page = text(response)
    label = Label.objects.get()
    assert label.color == "#aabbcc"
    assert 'data-color="#aabbcc"' in page and "Big customers" in page
    assert "On 0 conversations" in page
    edit = text(admin.get(f"/settings/labels/{label.pk}/"))
    assert 'type="color"' in edit and 'value="#aabbcc"' in edit

    admin.post(
        f"/settings/labels/{label.pk}/",
        {"name": "Gold", "color": "#000000", "description": ""},
    )
    label.refresh_from_db()
    assert (label.name, label.color, label.description) == ("Gold", "#000000", "")

    conversation = ConversationFactory(business=business)
    conversation.labels.add(label)
    assert "On 1 conversation<" in text(admin.get("/settings/labels/"))
    confirm = text(admin.get(f"/settings/labels/{label.pk}/delete/"))
    assert "It is removed from the 1 conversation that carries it" in confirm

    admin.post(f"/settings/labels/{label.pk}/delete/")
    assert not Label.objects.exists()
    assert conversation.labels.count() == 0


def test_a_duplicate_label_name_in_another_case_is_refused_beside_the_field(
    admin, business
):
    LabelFactory(business=business, name="vip")

    response = admin.post(
        "/settings/labels/new/",
        {"name": "VIP", "color": "#123456", "description": "typed text"},
    )

    page = text(response)
    assert response.status_code == 400
    assert (
        '<ul class="errors" id="name-errors"><li>A label with this name already exists.'
        in page
    )
    assert 'aria-describedby="name-help name-errors"' in page
    assert 'value="VIP"' in page and 'value="#123456"' in page
    assert "typed text</textarea>" in page
    assert Label.objects.count() == 1


def test_a_bad_label_colour_is_refused_beside_the_field(admin, business):
    label = LabelFactory(business=business, name="vip", color="#112233")

    response = admin.post(
        f"/settings/labels/{label.pk}/", {"name": "vip2", "color": "red"}
    )

    page = text(response)
    assert response.status_code == 400
    assert 'id="color-errors"' in page
    assert "A colour as #rrggbb" in page and 'value="red"' in page
    label.refresh_from_db()
    assert (label.name, label.color) == ("vip", "#112233")


# ------------------------------------------------------------------ teams


def test_admin_creates_edits_and_deletes_a_team(admin, admin_member, business):
    ada = MemberFactory(business=business, user__first_name="Ada", user__last_name="L")
    form = text(admin.get("/settings/teams/new/"))
    assert f'name="member_ids" value="{ada.user_id}"' in form
    assert "<bdi>Ada L</bdi>" in form

    response = admin.post(
        "/settings/teams/new/",
        {"name": "Billing", "description": "Money", "member_ids": [ada.user_id]},
        follow=True,
    )

    team = Team.objects.get()
    assert list(team.members.all()) == [ada]
    assert "Members: <bdi>Ada L</bdi>" in text(response)
    edit = text(admin.get(f"/settings/teams/{team.pk}/"))
    assert f'value="{ada.user_id}" checked' in edit

    admin.post(
        f"/settings/teams/{team.pk}/",
        {"name": "Payments", "member_ids": [admin_member.user_id]},
    )
    team.refresh_from_db()
    assert team.name == "Payments" and team.description == ""
    assert list(team.members.all()) == [admin_member]

    conversation = ConversationFactory(business=business, team=team)
    confirm = text(admin.get(f"/settings/teams/{team.pk}/delete/"))
    assert "Its 1 conversation will have no team" in confirm
    admin.post(f"/settings/teams/{team.pk}/delete/")
    assert not Team.objects.exists()
    conversation.refresh_from_db()
    assert conversation.team is None


def test_a_team_refuses_a_duplicate_name_and_another_business_member(admin, business):
    TeamFactory(business=business, name="Billing")
    stranger = MemberFactory(business=BusinessFactory())
    colleague = MemberFactory(business=business)

    response = admin.post(
        "/settings/teams/new/",
        {"name": "BILLING", "description": "kept", "member_ids": [colleague.user_id]},
    )
    page = text(response)
    assert response.status_code == 400
    assert "A team with this name already exists." in page
    assert 'value="BILLING"' in page and "kept</textarea>" in page
    assert f'value="{colleague.user_id}" checked' in page

    response = admin.post(
        "/settings/teams/new/",
        {"name": "Support", "member_ids": [stranger.user_id]},
    )
    page = text(response)
    assert response.status_code == 400
    assert 'id="member_ids-errors"' in page
    assert f"No such member in this business: {stranger.user_id}." in page
    assert Team.objects.count() == 1


# ------------------------------------------------------------------ query counts


def _rows(business, count: int, first: int) -> None:
    conversations = [ConversationFactory(business=business) for _ in range(2)]
    for n in range(first, first + count):
        label = LabelFactory(business=business, name=f"label {n}")
        for conversation in conversations:
            conversation.labels.add(label)
        members = [MemberFactory(business=business) for _ in range(2)]
        TeamFactory(business=business, name=f"team {n}", members=members)
        CannedResponseFactory(
            business=business, short_code=f"code-{n}", created_by=members[0]
        )


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("who", ["admin", "agent"])
def test_list_pages_cost_a_fixed_number_of_queries(
    request, business, django_assert_max_num_queries, url, who
):
    client = request.getfixturevalue(who)
    _rows(business, 1, 0)
    client.get(url)  # the session and the like, warmed
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200

    _rows(business, 6, 1)
    with django_assert_max_num_queries(len(one)):
        page = text(client.get(url))
    assert page.count('class="settings-row"') == 7


def test_an_empty_colour_is_the_default_grey_and_names_are_isolated_in_the_flash(
    admin,
):
    name = "\u202eevil"

    response = admin.post(
        "/settings/labels/new/", {"name": name, "color": " "}, follow=True
    )

    assert Label.objects.get().color == "#9ca3af"
    assert "Label “\u2068\u202eevil\u2069” created." in text(response)

"""The teams, labels and canned responses API as its users see it."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from billing.tests.factories import BusinessFactory, MemberFactory
from workspace.models import CannedResponse, Label, Team
from workspace.tests.factories import (
    CannedResponseFactory,
    LabelFactory,
    TeamFactory,
)

MODELS = {"teams": Team, "labels": Label, "canned_responses": CannedResponse}
VALID = {
    "teams": {"name": "Support", "description": "First line"},
    "labels": {"name": "vip", "color": "#FF0000"},
    "canned_responses": {"short_code": "thanks", "content": "Thanks {{contact.name}}!"},
}
CHANGE = {
    "teams": {"name": "Escalations"},
    "labels": {"name": "urgent"},
    "canned_responses": {"content": "Changed."},
}
KINDS = list(MODELS)


def _make(kind: str, business, **fields):
    factory = {
        "teams": TeamFactory,
        "labels": LabelFactory,
        "canned_responses": CannedResponseFactory,
    }[kind]
    return factory(business=business, **fields)


def _snapshot(kind: str) -> list[tuple]:
    return list(MODELS[kind].objects.order_by("pk").values_list())


# ------------------------------------------------------------------ admins write


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_an_admin_creates_reads_changes_and_deletes(admin_api, business, kind):
    # when
    created = admin_api.post(f"/api/v1/{kind}/", VALID[kind], format="json")

    # then
    assert created.status_code == 201, created.json()
    row_id = created.json()["id"]
    assert MODELS[kind].objects.get(pk=row_id).business == business
    shown = admin_api.get(f"/api/v1/{kind}/{row_id}/")
    assert shown.status_code == 200
    assert shown.json() == created.json()
    changed = admin_api.patch(f"/api/v1/{kind}/{row_id}/", CHANGE[kind], format="json")
    assert changed.status_code == 200
    for name, value in CHANGE[kind].items():
        assert changed.json()[name] == value
    deleted = admin_api.delete(f"/api/v1/{kind}/{row_id}/")
    assert deleted.status_code == 204
    assert not MODELS[kind].objects.filter(pk=row_id).exists()


@pytest.mark.django_db
def test_a_created_label_answers_its_lowercase_colour_and_a_grey_default(admin_api):
    # when
    red = admin_api.post("/api/v1/labels/", {"name": "vip", "color": "#FF00aa"})
    plain = admin_api.post("/api/v1/labels/", {"name": "bug"})

    # then
    assert red.json()["color"] == "#ff00aa"
    assert plain.json()["color"] == "#9ca3af"


@pytest.mark.django_db
def test_a_canned_response_remembers_who_created_it(admin_api, admin_member):
    # when
    response = admin_api.post(
        "/api/v1/canned_responses/", VALID["canned_responses"], format="json"
    )

    # then
    assert response.status_code == 201
    assert response.json()["created_by"] == {
        "id": admin_member.user_id,
        "name": admin_member.user.username,
        "email": admin_member.user.email,
    }
    assert response.json()["content"] == "Thanks {{contact.name}}!"


@pytest.mark.django_db
def test_a_team_lists_its_members_by_user_id(admin_api, business, agent_member):
    # given
    other_agent = MemberFactory(business=business)

    # when
    response = admin_api.post(
        "/api/v1/teams/",
        {"name": "Support", "member_ids": [agent_member.user_id, other_agent.user_id]},
        format="json",
    )

    # then
    assert response.status_code == 201
    assert sorted(m["id"] for m in response.json()["members"]) == sorted(
        [agent_member.user_id, other_agent.user_id]
    )
    team = Team.objects.get(pk=response.json()["id"])
    assert set(team.members.all()) == {agent_member, other_agent}

    # when: the members are replaced
    changed = admin_api.patch(
        f"/api/v1/teams/{team.pk}/",
        {"member_ids": [other_agent.user_id]},
        format="json",
    )

    # then
    assert [m["id"] for m in changed.json()["members"]] == [other_agent.user_id]
    assert list(team.members.all()) == [other_agent]


# ------------------------------------------------------------------ agents read


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_an_agent_reads_but_every_write_is_403_and_changes_nothing(
    agent_member, api_client_for, business, kind
):
    # given
    row = _make(kind, business)
    agent_api = api_client_for(agent_member)
    before = _snapshot(kind)

    # when
    listed = agent_api.get(f"/api/v1/{kind}/")
    shown = agent_api.get(f"/api/v1/{kind}/{row.pk}/")
    writes = [
        agent_api.post(f"/api/v1/{kind}/", VALID[kind], format="json"),
        agent_api.patch(f"/api/v1/{kind}/{row.pk}/", CHANGE[kind], format="json"),
        agent_api.delete(f"/api/v1/{kind}/{row.pk}/"),
    ]

    # then
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["results"]] == [row.pk]
    assert shown.status_code == 200
    assert [w.status_code for w in writes] == [403, 403, 403]
    assert writes[0].json() == {"detail": "Only a business admin may change this."}
    assert _snapshot(kind) == before


# ------------------------------------------------------------------ tenancy


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("method", "body"),
    [("get", None), ("patch", "change"), ("delete", None)],
    ids=["show", "change", "delete"],
)
def test_another_business_s_row_is_404_like_a_missing_one_and_is_untouched(
    admin_api, kind, method, body
):
    # given
    foreign = _make(kind, BusinessFactory())
    before = _snapshot(kind)
    data = CHANGE[kind] if body else None

    # when
    theirs = getattr(admin_api, method)(
        f"/api/v1/{kind}/{foreign.pk}/", data, format="json"
    )
    missing = getattr(admin_api, method)(
        f"/api/v1/{kind}/{foreign.pk + 1000}/", data, format="json"
    )
    malformed = getattr(admin_api, method)(f"/api/v1/{kind}/1.5/", data, format="json")

    # then
    assert theirs.status_code == missing.status_code == malformed.status_code == 404
    assert theirs.json() == missing.json() == malformed.json()
    assert _snapshot(kind) == before


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_a_list_shows_only_the_caller_s_business(admin_api, business, kind):
    # given
    own = _make(kind, business)
    _make(kind, BusinessFactory())

    # when
    response = admin_api.get(f"/api/v1/{kind}/")

    # then
    assert [row["id"] for row in response.json()["results"]] == [own.pk]


# ------------------------------------------------------------------ bad input


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "existing", "body", "field"),
    [
        ("teams", {"name": "Support"}, {"name": "SUPPORT"}, "name"),
        ("labels", {"name": "VIP"}, {"name": "vip"}, "name"),
        (
            "canned_responses",
            {"short_code": "thanks"},
            {"short_code": "thanks", "content": "Again"},
            "short_code",
        ),
    ],
    ids=["team-name", "label-name", "short-code"],
)
def test_a_name_the_business_already_uses_is_400_naming_the_field(
    admin_api, business, kind, existing, body, field
):
    # given
    row = _make(kind, business, **existing)
    other = _make(kind, business)
    _make(kind, BusinessFactory(), **body if kind != "canned_responses" else existing)
    before = _snapshot(kind)

    # when
    created = admin_api.post(f"/api/v1/{kind}/", body, format="json")
    renamed = admin_api.patch(
        f"/api/v1/{kind}/{other.pk}/", {field: body[field]}, format="json"
    )
    kept = admin_api.patch(
        f"/api/v1/{kind}/{row.pk}/", {field: body[field]}, format="json"
    )

    # then
    assert created.status_code == 400
    assert list(created.json()) == [field]
    assert renamed.status_code == 400
    assert list(renamed.json()) == [field]
    # Renaming a row to its own name in other case is no clash.
    assert kept.status_code == 200
    after = _snapshot(kind)
    assert len(after) == len(before)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a,b"}, "name"),
        ({"name": "   "}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 41}, "name"),
        ({"name": "ok", "color": "red"}, "color"),
        ({"name": "ok", "color": "#12345g"}, "color"),
        ({"name": "ok", "color": "#1234567"}, "color"),
    ],
    ids=[
        "comma",
        "spaces",
        "empty",
        "41-chars",
        "color-word",
        "color-not-hex",
        "color-too-long",
    ],
)
def test_a_bad_label_is_400_naming_the_field_and_stores_nothing(admin_api, body, field):
    # when
    response = admin_api.post("/api/v1/labels/", body, format="json")

    # then
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Label.objects.exists()


@pytest.mark.django_db
def test_a_forty_character_label_is_accepted(admin_api):
    # when
    response = admin_api.post("/api/v1/labels/", {"name": "x" * 40}, format="json")

    # then
    assert response.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"short_code": "Thanks", "content": "x"}, "short_code"),
        ({"short_code": "thank you", "content": "x"}, "short_code"),
        ({"short_code": "a" * 41, "content": "x"}, "short_code"),
        ({"short_code": "", "content": "x"}, "short_code"),
        ({"short_code": "ok", "content": "x" * 4001}, "content"),
        ({"short_code": "ok", "content": ""}, "content"),
        ({"short_code": "ok", "content": " \n\t "}, "content"),
    ],
    ids=[
        "uppercase",
        "space",
        "41-chars",
        "empty",
        "content-4001",
        "content-empty",
        "content-spaces",
    ],
)
def test_a_bad_canned_response_is_400_naming_the_field_and_stores_nothing(
    admin_api, body, field
):
    # when
    response = admin_api.post("/api/v1/canned_responses/", body, format="json")

    # then
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not CannedResponse.objects.exists()


@pytest.mark.django_db
def test_the_longest_canned_response_is_accepted(admin_api):
    # when
    response = admin_api.post(
        "/api/v1/canned_responses/",
        {"short_code": "a_b-" + "c" * 36, "content": "x" * 4000},
        format="json",
    )

    # then
    assert response.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("whose", ["another-business", "missing"])
def test_a_team_member_who_is_not_of_the_business_is_400_and_nothing_changes(
    admin_api, business, agent_member, whose
):
    # given
    team = TeamFactory(business=business, name="Support", members=[agent_member])
    stranger_id = (
        MemberFactory(business=BusinessFactory()).user_id
        if whose == "another-business"
        else agent_member.user_id + 1000
    )
    expected = {"member_ids": [f"No such member in this business: {stranger_id}."]}

    # when
    created = admin_api.post(
        "/api/v1/teams/",
        {"name": "Sales", "member_ids": [agent_member.user_id, stranger_id]},
        format="json",
    )
    changed = admin_api.patch(
        f"/api/v1/teams/{team.pk}/",
        {"name": "Renamed", "member_ids": [stranger_id]},
        format="json",
    )

    # then
    assert (created.status_code, created.json()) == (400, expected)
    assert (changed.status_code, changed.json()) == (400, expected)
    assert list(Team.objects.values_list("name", flat=True)) == ["Support"]
    assert list(team.members.all()) == [agent_member]


# ------------------------------------------------------------------ search, pages


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("", ["billing", "bug", "VIP"]),
        ("b", ["billing", "bug"]),
        ("IP", ["VIP"]),
        ("ill", ["billing"]),
        ("none", []),
    ],
    ids=["empty", "prefix", "case-insensitive", "contains", "no-match"],
)
def test_labels_search_by_name(admin_api, business, search, expected):
    # given
    for name in ("VIP", "billing", "bug"):
        LabelFactory(business=business, name=name)
    LabelFactory(business=BusinessFactory(), name="bills")

    # when
    response = admin_api.get("/api/v1/labels/", {"search": search})

    # then
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("search", "expected"),
    [("REF", ["refund"]), ("shipping", ["delay"]), ("", ["delay", "refund"])],
    ids=["short-code", "content", "empty"],
)
def test_canned_responses_search_by_short_code_and_content(
    admin_api, business, search, expected
):
    # given
    CannedResponseFactory(business=business, short_code="refund", content="Refunded.")
    CannedResponseFactory(
        business=business, short_code="delay", content="Shipping is late."
    )

    # when
    response = admin_api.get("/api/v1/canned_responses/", {"search": search})

    # then
    assert [row["short_code"] for row in response.json()["results"]] == expected


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["labels", "canned_responses"])
def test_a_search_too_long_is_400_naming_it(admin_api, kind):
    # when
    response = admin_api.get(f"/api/v1/{kind}/", {"search": "x" * 101})

    # then
    assert response.status_code == 400
    assert list(response.json()) == ["search"]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_lists_page_with_a_cursor(admin_api, business, kind):
    # given
    rows = [_make(kind, business) for _ in range(3)]

    # when
    first = admin_api.get(f"/api/v1/{kind}/", {"page_size": 2}).json()
    second = admin_api.get(first["next"]).json()

    # then
    seen = [r["id"] for r in first["results"]] + [r["id"] for r in second["results"]]
    assert sorted(seen) == sorted(row.pk for row in rows)
    assert len(first["results"]) == 2
    assert second["next"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_a_list_costs_the_same_queries_for_one_row_as_for_many(
    admin_api, business, kind
):
    # given
    def rows(count: int) -> None:
        for _ in range(count):
            members = MemberFactory.create_batch(2, business=business)
            if kind == "teams":
                TeamFactory(business=business, members=members)
            elif kind == "canned_responses":
                CannedResponseFactory(business=business, created_by=members[0])
            else:
                LabelFactory(business=business)

    rows(1)
    admin_api.get(f"/api/v1/{kind}/")  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as one:
        assert len(admin_api.get(f"/api/v1/{kind}/").json()["results"]) == 1
    rows(9)

    # when
    with CaptureQueriesContext(connection) as ten:
        response = admin_api.get(f"/api/v1/{kind}/")

    # then
    assert len(response.json()["results"]) == 10
    assert len(ten) == len(one)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("factory", "first", "second"),
    [
        (TeamFactory, {"name": "Support"}, {"name": "sUPPORT"}),
        (LabelFactory, {"name": "VIP"}, {"name": "vip"}),
        (CannedResponseFactory, {"short_code": "hi"}, {"short_code": "hi"}),
    ],
    ids=["team", "label", "canned-response"],
)
def test_the_database_itself_refuses_a_second_name_in_a_business(
    factory, first, second
):
    # given: what a write racing past the services' check would insert
    row = factory(**first)

    # when / then
    with pytest.raises(IntegrityError):
        factory(business=row.business, **second)
    assert factory._meta.model.objects.count() == 1

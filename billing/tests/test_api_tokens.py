"""API tokens: a member lists, creates and revokes their own; revoked tokens are
refused at once; Django admin and `manage.py revoke_api_token` revoke too."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from billing.models import ApiToken
from billing.services import api_token_create
from billing.tests.factories import BusinessFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

TOKENS_URL = "/api/v1/tokens/"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_list_shows_own_tokens_without_secrets(agent_member):
    # given: two tokens of the caller, one of a colleague
    first, clear = api_token_create(member=agent_member, name="zapier")
    second, _ = api_token_create(member=agent_member, name="crm")
    colleague = MemberFactory(business=agent_member.business)
    api_token_create(member=colleague, name="theirs")

    # when
    response = bearer(clear).get(TOKENS_URL)

    # then
    assert response.status_code == 200
    rows = response.json()
    assert [row["id"] for row in rows] == [second.pk, first.pk]
    assert set(rows[0]) == {
        "id",
        "prefix",
        "name",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    assert rows[1]["prefix"] == clear[:10]
    assert rows[1]["name"] == "zapier"
    assert rows[1]["revoked_at"] is None
    assert clear not in response.content.decode()
    assert first.digest not in response.content.decode()


def test_create_shows_the_clear_token_once_and_it_works(agent_member, api_client_for):
    # given
    client = api_client_for(agent_member)

    # when
    response = client.post(TOKENS_URL, {"name": "billing sync"}, format="json")

    # then
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    clear = body["token"]
    assert clear.startswith("pb_")
    assert body["prefix"] == clear[:10]
    assert body["name"] == "billing sync"
    stored = ApiToken.objects.get(pk=body["id"])
    assert stored.member == agent_member
    assert stored.digest == ApiToken.hash(clear)
    assert bearer(clear).get("/api/v1/channels/").status_code == 200
    listed = client.get(TOKENS_URL).content.decode()
    assert clear not in listed
    assert "billing sync" in listed


def test_create_rejects_a_too_long_name(agent_member, api_client_for):
    client = api_client_for(agent_member)
    before = ApiToken.objects.count()

    response = client.post(TOKENS_URL, {"name": "x" * 101}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "name": ["Ensure this field has no more than 100 characters."]
    }
    assert ApiToken.objects.count() == before


@pytest.mark.parametrize("method", ["post-revoke", "delete"])
def test_revoked_token_is_refused_at_once(agent_member, method):
    # given: a token used by an integration, and the member's other token
    doomed, doomed_clear = api_token_create(member=agent_member, name="leaked")
    _, other_clear = api_token_create(member=agent_member, name="kept")
    integration = bearer(doomed_clear)
    assert integration.get("/api/v1/conversations/").status_code == 200

    # when
    if method == "delete":
        response = bearer(other_clear).delete(f"{TOKENS_URL}{doomed.pk}/")
        assert response.status_code == 204
    else:
        response = bearer(other_clear).post(f"{TOKENS_URL}{doomed.pk}/revoke/")
        assert response.status_code == 200
        assert response.json()["revoked_at"] is not None

    # then
    refused = integration.get("/api/v1/conversations/")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "This token has been revoked."}
    assert bearer(other_clear).get("/api/v1/conversations/").status_code == 200
    doomed.refresh_from_db()
    assert doomed.revoked_at is not None


def test_revoking_twice_keeps_the_first_revocation_time(agent_member, api_client_for):
    token, _ = api_token_create(member=agent_member)
    client = api_client_for(agent_member)
    first = client.post(f"{TOKENS_URL}{token.pk}/revoke/").json()["revoked_at"]

    second = client.post(f"{TOKENS_URL}{token.pk}/revoke/")

    assert second.status_code == 200
    assert second.json()["revoked_at"] == first


@pytest.mark.parametrize(
    "owner",
    ["colleague in the same business", "member of another business", "no such id"],
)
def test_someone_elses_token_is_404_like_a_missing_one(
    agent_member, api_client_for, owner
):
    # given
    client = api_client_for(agent_member)
    if owner == "no such id":
        token_id = 999_999
    else:
        business = (
            agent_member.business
            if owner.startswith("colleague")
            else BusinessFactory()
        )
        token, _ = api_token_create(member=MemberFactory(business=business))
        token_id = token.pk

    # when
    shown = client.get(f"{TOKENS_URL}{token_id}/")
    revoked = client.post(f"{TOKENS_URL}{token_id}/revoke/")
    deleted = client.delete(f"{TOKENS_URL}{token_id}/")

    # then
    for response in (shown, revoked, deleted):
        assert response.status_code == 404
        assert response.json() == {"detail": "No such token."}
    assert ApiToken.objects.filter(revoked_at__isnull=False).count() == 0


def test_admin_action_revokes_selected_tokens(agent_member):
    # given
    picked, picked_clear = api_token_create(member=agent_member, name="a")
    left, left_clear = api_token_create(member=agent_member, name="b")
    browser = Client()
    browser.force_login(UserFactory(is_staff=True, is_superuser=True))

    # when
    response = browser.post(
        "/admin/billing/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [picked.pk]},
        follow=True,
    )

    # then
    assert response.status_code == 200
    assert "Revoked 1 token(s)." in response.content.decode()
    assert bearer(picked_clear).get("/api/v1/channels/").status_code == 401
    assert bearer(left_clear).get("/api/v1/channels/").status_code == 200
    left.refresh_from_db()
    assert left.revoked_at is None


def test_revoke_command_revokes_by_prefix(agent_member):
    token, clear = api_token_create(member=agent_member)
    out = StringIO()

    call_command("revoke_api_token", clear[:10], stdout=out)

    assert out.getvalue().startswith(f"Revoked token {clear[:10]}… (default) of ")
    assert bearer(clear).get("/api/v1/channels/").status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_revoke_command_refuses_an_unknown_prefix(agent_member):
    token, _ = api_token_create(member=agent_member)

    with pytest.raises(CommandError, match="No API token has the prefix 'pb_nope'"):
        call_command("revoke_api_token", "pb_nope", stdout=StringIO())

    token.refresh_from_db()
    assert token.revoked_at is None

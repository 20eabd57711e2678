"""The API token and plan settings pages, and the 402 that says what to do:
the plan, its limit, the channels used and the plans that allow more, in the
API body, the OpenAPI schema and on the plan page alike."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from billing.models import ApiToken
from billing.services import api_token_create
from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

SECRET = re.compile(r'id="token-secret"[^>]*value="(pb_[\w-]+)"')


def client_of(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# ------------------------------------------------------------------ tokens


def test_a_token_made_in_settings_is_shown_once_and_works(admin_member):
    client = client_of(admin_member)

    response = client.post("/settings/tokens/", {"name": "CRM sync"})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = SECRET.search(response.content.decode())[1]
    token = ApiToken.objects.get(member=admin_member)
    assert token.name == "CRM sync"
    assert token.digest == ApiToken.hash(secret)
    assert bearer(secret).get("/api/v1/tokens/").status_code == 200
    listing = client.get("/settings/tokens/").content.decode()
    assert "CRM sync" in listing
    assert secret not in listing
    assert secret[:10] in listing  # the prefix tells it apart


def test_the_list_shows_last_use_and_revoking_stops_the_token(admin_member):
    token, secret = api_token_create(member=admin_member, name="zapier")
    client = client_of(admin_member)
    assert "never used" in client.get("/settings/tokens/").content.decode()
    bearer(secret).get("/api/v1/tokens/")
    assert "last used" in client.get("/settings/tokens/").content.decode()

    response = client.post(f"/settings/tokens/{token.pk}/revoke/", follow=True)

    assert "revoked: it no longer works" in response.content.decode()
    assert bearer(secret).get("/api/v1/tokens/").status_code == 401


def test_a_token_needs_a_name(admin_member):
    response = client_of(admin_member).post("/settings/tokens/", {"name": "  "})

    assert response.status_code == 400
    assert "Give the token a name of 1 to 100 characters." in response.content.decode()
    assert not ApiToken.objects.filter(member=admin_member).exists()


def test_another_members_token_cannot_be_revoked_from_settings(admin_member):
    colleague = MemberFactory(business=admin_member.business, role="admin")
    theirs, secret = api_token_create(member=colleague)
    stranger_token, _ = api_token_create(
        member=MemberFactory(business=BusinessFactory())
    )
    client = client_of(admin_member)

    assert client.post(f"/settings/tokens/{theirs.pk}/revoke/").status_code == 404
    assert (
        client.post(f"/settings/tokens/{stranger_token.pk}/revoke/").status_code == 404
    )
    assert client.get(f"/settings/tokens/{theirs.pk}/revoke/").status_code == 405
    assert bearer(secret).get("/api/v1/tokens/").status_code == 200


# ------------------------------------------------------------------ the 402


def create_channel(api, channel_type="webchat", config=None):
    return api.post(
        "/api/v1/channels/",
        {"type": channel_type, "config": config or {}},
        format="json",
    )


def test_the_channel_limit_402_says_what_to_do(admin_api, business):
    for _ in range(3):
        ChannelFactory(business=business)

    response = create_channel(admin_api)

    assert response.status_code == 402
    assert response.json() == {
        "detail": "The Mini plan allows 3 channels and this business uses 3; "
        "upgrade to Pro to add more.",
        "code": "plan_limit_exceeded",
        "plan": "mini",
        "limit": 3,
        "used": 3,
        "upgrade_to": ["pro"],
        "channel_type": None,
    }
    assert Channel.objects.count() == 3


def test_a_free_plan_refusing_a_type_names_the_plans_that_allow_it(admin_api, business):
    business.plan = "free"
    business.save()

    response = create_channel(
        admin_api,
        "email",
        {
            "address": "support@acme.test",
            "smtp_host": "smtp.acme.test",
            "smtp_username": "support@acme.test",
            "smtp_password": "smtp-password-123",
        },
    )

    assert response.status_code == 402
    body = response.json()
    assert body["upgrade_to"] == ["mini", "pro"]
    assert body["channel_type"] == "email"
    assert body["plan"] == "free"
    assert (body["limit"], body["used"]) == (1, 0)
    assert body["detail"] == (
        "The Free plan does not include email channels; upgrade to Mini or Pro "
        "to add it."
    )


def test_a_full_pro_plan_says_no_plan_allows_more(admin_api, business):
    business.plan = "pro"
    business.save()
    Channel.objects.bulk_create(
        [
            Channel(business=business, type="webchat", config={}, secrets={})
            for _ in range(100)
        ]
    )

    body = create_channel(admin_api).json()

    assert body["upgrade_to"] == []
    assert "no plan allows more: remove a channel first." in body["detail"]


def test_the_schema_documents_the_402_body():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()

    answer = schema["paths"]["/api/v1/channels/"]["post"]["responses"]["402"]
    ref = answer["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(component["properties"]) >= {
        "detail",
        "code",
        "plan",
        "limit",
        "used",
        "upgrade_to",
    }
    assert component["properties"]["upgrade_to"]["type"] == "array"


# ------------------------------------------------------------------ plan page


def test_the_plan_page_shows_usage_and_the_402_message(admin_member, business):
    client = client_of(admin_member)
    ChannelFactory(business=business)
    page = client.get("/settings/plan/").content.decode()
    assert "1 of 3 channels on Mini" in page
    assert "plan-refusal" not in page

    for _ in range(2):
        ChannelFactory(business=business)
    page = client.get("/settings/plan/").content.decode()

    assert "3 of 3 channels on Mini" in page
    assert (
        "The Mini plan allows 3 channels and this business uses 3; upgrade to "
        "Pro to add more." in page
    )
    assert 'data-plan="pro"' in page

"""`manage.py create_business` and the Bearer token it prints."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from billing.models import ApiToken, Business

pytestmark = pytest.mark.django_db


def test_create_business_prints_a_working_token_as_its_last_line():
    out = StringIO()

    call_command(
        "create_business",
        "Acme",
        "--plan",
        "mini",
        "--admin-email",
        "ops@acme.test",
        stdout=out,
    )

    token = out.getvalue().strip().splitlines()[-1]
    business = Business.objects.get()
    assert (business.name, business.plan) == ("Acme", "mini")
    member = business.members.get()
    assert (member.user.email, member.role, member.user.is_staff) == (
        "ops@acme.test",
        "admin",
        True,
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/channels/").status_code == 200
    assert token not in ApiToken.objects.get().digest
    assert ApiToken.objects.get().prefix == token[:10]


def test_create_business_refuses_an_email_in_use():
    call_command(
        "create_business", "Acme", "--admin-email", "ops@acme.test", stdout=StringIO()
    )

    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "create_business",
            "Other",
            "--admin-email",
            "ops@acme.test",
            stdout=StringIO(),
        )


def test_a_token_acts_for_its_own_business_only():
    first, second = StringIO(), StringIO()
    call_command(
        "create_business",
        "A",
        "--plan",
        "mini",
        "--admin-email",
        "a@a.test",
        stdout=first,
    )
    call_command(
        "create_business",
        "B",
        "--plan",
        "mini",
        "--admin-email",
        "b@b.test",
        stdout=second,
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {first.getvalue().split()[-1]}")

    created = client.post(
        "/api/v1/channels/", {"type": "webchat", "config": {}}, format="json"
    )

    assert created.json()["business_id"] == str(Business.objects.get(name="A").id)

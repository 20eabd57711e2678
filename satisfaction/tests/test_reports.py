"""Scores in reports: `GET /api/v1/reports/csat/` and the reports page's
section, over the report's days, for admins only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.tests.factories import BusinessFactory, MemberFactory
from satisfaction.models import SatisfactionRating, SatisfactionRequest
from satisfaction.services import rating_submit
from satisfaction.tests.conftest import conversation_on

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated(csat_on, make_conversation, resolve):
    """Five resolutions asked, four rated (5, 5, 4 with comments, 1), one
    skipped (WhatsApp, window closed)."""
    for score, comment in ((5, "Great"), (5, ""), (4, "Good <b>job</b>"), (1, "")):
        conversation = make_conversation("telegram")
        resolve(conversation)
        request = SatisfactionRequest.objects.get(conversation=conversation)
        rating_submit(request=request, score=score, comment=comment)
    resolve(make_conversation("sms"))  # asked, not answered
    resolve(make_conversation("whatsapp", wrote_ago=timedelta(days=3)))


def test_the_api_gives_average_count_distribution_rate_and_comments(rated, admin_api):
    answer = admin_api.get("/api/v1/reports/csat/")

    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["count"] == 4
    assert data["average"] == 3.75
    assert data["distribution"] == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 2}
    assert data["asked"] == 5 and data["skipped"] == 1
    assert data["response_rate"] == 0.8
    assert [(c["score"], c["comment"]) for c in data["recent_comments"]] == [
        (4, "Good <b>job</b>"),
        (5, "Great"),
    ]


def test_the_range_counts_only_its_days(rated, admin_api, business):
    SatisfactionRating.objects.filter(score=1).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    today = timezone.now().date()

    data = admin_api.get(
        "/api/v1/reports/csat/",
        {"since": (today - timedelta(days=1)).isoformat(), "until": today.isoformat()},
    ).json()
    old = admin_api.get(
        "/api/v1/reports/csat/",
        {
            "since": (today - timedelta(days=45)).isoformat(),
            "until": (today - timedelta(days=35)).isoformat(),
        },
    ).json()

    assert data["count"] == 3 and data["average"] == 4.67
    assert old["count"] == 1 and old["asked"] == 0 and old["response_rate"] is None


def test_bad_dates_answer_400_naming_the_field(admin_api):
    answer = admin_api.get(
        "/api/v1/reports/csat/", {"since": "2026-05-02", "until": "2026-05-01"}
    )
    assert answer.status_code == 400
    assert "until" in answer.json()
    assert admin_api.get("/api/v1/reports/csat/", {"since": "May"}).status_code == 400


def test_the_schema_lists_the_parameters_the_report_reads(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    def query_parameters(path: str) -> list[str]:
        return [
            p["name"]
            for p in schema["paths"][path]["get"].get("parameters", [])
            if p["in"] == "query"
        ]

    assert sorted(query_parameters("/api/v1/reports/csat/")) == ["since", "until"]
    # the summary keeps its own
    assert sorted(query_parameters("/api/v1/reports/summary/")) == [
        "business_hours",
        "format",
        "group_by",
        "since",
        "until",
    ]


def test_the_summarys_parameters_change_nothing_here(rated, admin_api):
    # No business hours set up: the summary would answer 400 to
    # business_hours=true; ratings are not measured in business hours.
    plain = admin_api.get("/api/v1/reports/csat/").json()

    answer = admin_api.get(
        "/api/v1/reports/csat/", {"business_hours": "true", "group_by": "agent"}
    )

    assert answer.status_code == 200, answer.content
    assert answer.json() == plain
    assert (
        admin_api.get("/api/v1/reports/summary/", {"business_hours": "true"})
    ).status_code == 400


def test_agents_are_refused_and_another_business_sees_nothing(
    rated, agent_member, api_client_for
):
    assert api_client_for(agent_member).get("/api/v1/reports/csat/").status_code == 403
    other = MemberFactory(business=BusinessFactory(plan="mini"), role="admin")
    data = api_client_for(other).get("/api/v1/reports/csat/").json()
    assert data["count"] == 0 and data["asked"] == 0 and data["average"] is None


def test_the_reports_page_shows_the_section(rated, admin_member):
    client = Client()
    client.force_login(admin_member.user)

    body = client.get("/reports/").content.decode()

    assert "Customer satisfaction" in body
    assert 'data-csat="average">3.75' in body
    assert 'data-csat="response-rate">80 %' in body
    assert "Good &lt;b&gt;job&lt;/b&gt;" in body


def test_an_empty_range_reads_as_empty(business, admin_member):
    client = Client()
    client.force_login(admin_member.user)
    conversation_on(business, "telegram")

    body = client.get("/reports/").content.decode()

    assert 'data-csat="average">—' in body
    assert "No comments in these days." in body

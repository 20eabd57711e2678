"""`GET /api/v1/reports/summary/`: the fixture's figures as JSON and CSV,
400 naming the bad field, admins only, one business's data only, and a
fixed number of queries."""

from __future__ import annotations

import csv
import importlib
import io

import pytest
from django.apps import apps

from reports.models import ConversationDay, ConversationEvent
from reports.selectors import report
from workspace.tests.factories import LabelFactory

URL = "/api/v1/reports/summary/"
RANGE = {"since": "2026-03-01", "until": "2026-03-02"}


@pytest.fixture
def admin_client(fixture, api_client_for):
    return api_client_for(fixture.admin)


@pytest.mark.django_db
def test_json_rows_by_agent(admin_client, fixture):
    response = admin_client.get(URL, {**RANGE, "group_by": "agent"})
    assert response.status_code == 200
    data = response.json()
    assert data["time_zone"] == "America/Sao_Paulo"
    assert data["group_by"] == "agent" and data["business_hours"] is False
    names = [row["name"] for row in data["rows"]]
    assert names == ["Ana Silva", "Ben Okoro", "Unassigned"]
    ana = data["rows"][0]
    assert ana["key"] == str(fixture.ana.user_id)
    assert ana["first_response"] == {
        "count": 2,
        "median_seconds": 450.0,
        "p90_seconds": 570.0,
    }
    assert ana["failed_reasons"] == [
        {"reason": "No reason given", "count": 1},
        {"reason": "Rate limited", "count": 1},
    ]
    assert data["rows"][2]["key"] is None


@pytest.mark.django_db
def test_csv_download_of_the_days(admin_client):
    response = admin_client.get(URL, {**RANGE, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "report-day-2026-03-01-2026-03-02.csv" in response["Content-Disposition"]
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [line["key"] for line in lines] == ["2026-03-01", "2026-03-02"]
    first = lines[0]
    assert first["opened"] == "3" and first["resolved"] == "2"
    assert first["first_response_median_seconds"] == "1800.0"
    assert first["first_response_p90_seconds"] == "69480.0"
    assert first["resolution_median_seconds"] == "15300.0"
    assert lines[1]["failed_reasons"] == "No reason given: 1; Rate limited: 1"


@pytest.mark.django_db
def test_csv_cells_never_start_a_formula(admin_client, fixture):
    sneaky = LabelFactory(business=fixture.business, name="=HYPERLINK(1)")
    fixture.conversations["c3"].labels.add(sneaky)
    response = admin_client.get(URL, {**RANGE, "group_by": "label", "format": "csv"})
    names = [
        line["name"] for line in csv.DictReader(io.StringIO(response.content.decode()))
    ]
    assert "'=HYPERLINK(1)" in names
    assert "=HYPERLINK(1)" not in names


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-13-01"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"group_by": "weather"}, "group_by"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
        ({"since": "2024-01-01", "until": "2026-03-01"}, "since"),
        ({"business_hours": "maybe"}, "business_hours"),
        ({"business_hours": "true"}, "business_hours"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_values_answer_400_naming_the_field(admin_client, params, field):
    response = admin_client.get(URL, params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.django_db
def test_agents_and_strangers_are_refused(fixture, api_client_for, client):
    response = api_client_for(fixture.ana).get(URL, RANGE)
    assert response.status_code == 403
    assert client.get(URL, RANGE).status_code in (401, 403)


@pytest.mark.django_db
def test_only_the_callers_business_counts(fixture, api_client_for):
    from billing.models import Member

    other = Member.objects.exclude(business=fixture.business).filter(role="admin")
    data = api_client_for(other.get()).get(URL, {**RANGE, "group_by": "channel"})
    names = [row["name"] for row in data.json()["rows"]]
    # The other business is in UTC and has its own channels: the same
    # conversations, counted on UTC days.
    assert names == ["Other Alpha", "Other Beta"]
    mine = api_client_for(fixture.admin).get(URL, {**RANGE, "group_by": "channel"})
    assert [row["name"] for row in mine.json()["rows"]] == ["Alpha", "Beta"]
    assert sum(row["opened"] for row in mine.json()["rows"]) == 4


@pytest.mark.django_db
@pytest.mark.parametrize("group_by", ["day", "channel", "agent", "team", "label"])
def test_queries_do_not_grow_with_the_data(
    fixture, group_by, django_assert_max_num_queries
):
    with django_assert_max_num_queries(5):
        report(fixture.business, *_range(), group_by)


def _range():
    import datetime as dt

    return dt.date(2026, 2, 1), dt.date(2026, 3, 31)


@pytest.mark.django_db
def test_the_backfill_finds_the_same_figures(fixture):
    from dataclasses import replace

    groupings = ("day", "channel", "agent", "team", "label")
    before = {g: report(fixture.business, *_range(), g) for g in groupings}
    ConversationEvent.objects.all().delete()
    ConversationDay.objects.all().delete()
    for name in (
        "0002_backfill_events",
        "0004_backfill_days",
        "0006_backfill_dimensions",
    ):
        importlib.import_module(f"reports.migrations.{name}").backfill(apps, None)
    after = {g: report(fixture.business, *_range(), g) for g in groupings}
    assert ConversationEvent.objects.filter(kind="reopened").count() == 2
    assert not ConversationDay.objects.filter(channel_id=None).exists()
    for group_by in ("day", "channel", "team", "label"):
        assert after[group_by] == before[group_by], group_by
    # The backfill gives a day's messages to the conversation's assignee as
    # it is now; as they were stored, C5's first message (02-28, before Ben
    # was assigned) counted as unassigned. Everything else is the same.
    old, new = before["agent"].rows, after["agent"].rows
    assert [replace(r, messages_in=0) for r in new] == [
        replace(r, messages_in=0) for r in old
    ]
    assert [r.messages_in for r in old] == [3, 1, 2]
    assert [r.messages_in for r in new] == [3, 2, 1]


@pytest.mark.django_db
def test_business_hours_count_only_the_hours_set_in_settings(admin_client, fixture):
    # given: the business opens 09:00-18:00 every day (its time zone)
    from workspace.services import business_hours_set

    business_hours_set(
        business=fixture.business, week={day: [(9 * 60, 18 * 60)] for day in range(7)}
    )

    # when
    response = admin_client.get(URL, {**RANGE, "business_hours": "true"})

    # then: the hand-computed figures of test_figures' nine-to-six hours
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["business_hours"] is True
    march_1 = data["rows"][0]
    assert march_1["first_response"]["median_seconds"] == 1800
    assert march_1["resolution"]["median_seconds"] == 5400

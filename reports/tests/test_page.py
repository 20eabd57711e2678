"""The reports page (/reports/): admins see the day chart, the table of the
chosen grouping and CSV links; agents get 403; a bad value is shown beside
its field with a 400."""

from __future__ import annotations

import pytest

RANGE = "since=2026-03-01&until=2026-03-02"


@pytest.fixture
def admin_browser(client, fixture):
    client.force_login(fixture.admin.user)
    return client


@pytest.mark.django_db
def test_admins_see_the_table_chart_data_and_csv_links(admin_browser):
    response = admin_browser.get(f"/reports/?{RANGE}&group_by=agent")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<canvas id="reports-chart"' in page
    # The chart's data: the two days' counts.
    assert '"labels": ["2026-03-01", "2026-03-02"]' in page
    assert '"opened": [3, 1]' in page
    table = response.context["report"]
    assert [row.name for row in table.rows] == ["Ana Silva", "Ben Okoro", "Unassigned"]
    # Ana's first responses: 300 s and 600 s -> 7m / 9m.
    assert "<bdi>Ana Silva</bdi>" in page and "7m / 9m" in page
    assert (
        "/api/v1/reports/summary/?since=2026-03-01&amp;until=2026-03-02"
        "&amp;group_by=agent&amp;format=csv"
    ) in page
    assert "group_by=day&amp;format=csv" in page


@pytest.mark.django_db
def test_the_csv_link_downloads_with_the_session(admin_browser, fixture):
    response = admin_browser.get(
        f"/api/v1/reports/summary/?{RANGE}&group_by=team&format=csv"
    )
    assert response.status_code == 200
    lines = response.content.decode().splitlines()
    assert lines[1].startswith(f"{fixture.support.pk},Support,1,2,1,")
    assert lines[2].startswith(",No team,3,")


@pytest.mark.django_db
def test_a_bad_date_is_shown_beside_its_field(admin_browser):
    response = admin_browser.get("/reports/?since=2026-02-30")
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="since-errors"' in page
    assert 'aria-invalid="true"' in page


@pytest.mark.django_db
def test_agents_are_refused_and_visitors_log_in(client, fixture):
    assert client.get("/reports/").status_code == 302
    client.force_login(fixture.ana.user)
    assert client.get("/reports/").status_code == 403


@pytest.mark.django_db
def test_business_hours_only_counts_the_hours_set_in_settings(admin_browser, fixture):
    from workspace.services import business_hours_set

    # Without business hours the choice is off and says where to set them.
    page = admin_browser.get(f"/reports/?{RANGE}").content.decode()
    assert 'id="business_hours" name="business_hours" value="true" disabled' in page
    assert "Set the business hours in" in page

    business_hours_set(
        business=fixture.business, week={day: [(9 * 60, 18 * 60)] for day in range(7)}
    )
    response = admin_browser.get(f"/reports/?{RANGE}&group_by=day&business_hours=true")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="true" checked' in page
    march_1 = response.context["report"].rows[0]
    assert march_1.first_response.median == 1800  # 09:00-18:00 only
    assert "business_hours=true&amp;group_by=day&amp;format=csv" in page


@pytest.mark.django_db
@pytest.mark.parametrize("group_by", ["channel", "agent", "team", "label"])
def test_the_chart_beside_another_table_counts_as_the_day_report(
    admin_browser, fixture, group_by
):
    import datetime as dt

    from reports.selectors import report

    # when: the page groups the table otherwise, over a range wider than
    # the data (days with nothing, C5 opened on 02-28)
    response = admin_browser.get(
        f"/reports/?since=2026-02-27&until=2026-03-03&group_by={group_by}"
    )

    # then: the chart has the day report's counts, day by day
    assert response.status_code == 200
    days = report(fixture.business, dt.date(2026, 2, 27), dt.date(2026, 3, 3)).rows
    chart = response.context["chart"]
    assert chart == {
        "labels": [row.name for row in days],
        "opened": [row.opened for row in days],
        "resolved": [row.resolved for row in days],
        "reopened": [row.reopened for row in days],
    }
    assert chart["opened"] == [0, 1, 3, 1, 0]
    assert chart["resolved"] == [0, 0, 2, 1, 0]
    assert chart["reopened"] == [0, 0, 0, 1, 0]


@pytest.mark.django_db
def test_the_chart_days_take_two_queries(fixture, django_assert_num_queries):
    import datetime as dt

    from reports.selectors import day_counts

    with django_assert_num_queries(2):
        days = day_counts(fixture.business, dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert len(days) == 90
    assert sum(row.opened for row in days) == 5
    assert sum(row.resolved for row in days) == 3

"""The reports page (`/reports/`): a business's figures over a range of
days, as a day-by-day chart and a table, with CSV downloads. Admins only
(agents and non-members get 403; anonymous visitors the login page)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from billing.permissions import member_of
from reports.api.views import (
    ADMINS_ONLY,
    ReportParamsSerializer,
    business_open_seconds,
)
from reports.selectors import GROUPS, day_counts, report


def csv_link(api: str, query: dict[str, str], group_by: str) -> str:
    """The API's CSV download of the range grouped by `group_by`."""
    return f"{api}?{urlencode({**query, 'group_by': group_by, 'format': 'csv'})}"


@login_required
def reports_page(request: HttpRequest) -> HttpResponse:
    """The form (since, until, group by, business hours only), the chart of
    the days and the table of the chosen grouping; a bad value shows beside
    its field with the API's words (answer 400) and the default range's
    figures."""
    member = member_of(request.user)
    if member is None or not member.is_admin:
        raise PermissionDenied(ADMINS_ONLY)
    business = member.business
    params = ReportParamsSerializer(
        data=request.GET.dict(), context={"business": business}
    )
    errors: dict[str, list[str]] = {}
    if params.is_valid():
        cleaned = params.validated_data
    else:
        errors = {k: [str(e) for e in v] for k, v in params.errors.items()}
        fallback = ReportParamsSerializer(data={}, context={"business": business})
        fallback.is_valid(raise_exception=True)
        cleaned = fallback.validated_data
    since, until, group_by = cleaned["since"], cleaned["until"], cleaned["group_by"]
    open_seconds = cleaned["open_seconds"]
    table = report(business, since, until, group_by, open_seconds=open_seconds)
    # The chart's days: the table's rows when it is by day, else only their
    # three counts (two queries, not a second report).
    days = table.rows if group_by == "day" else day_counts(business, since, until)
    query = {"since": since.isoformat(), "until": until.isoformat()}
    if open_seconds is not None:
        query["business_hours"] = "true"
    api = reverse("api-reports-summary")
    chart = {
        "labels": [row.name for row in days],
        "opened": [row.opened for row in days],
        "resolved": [row.resolved for row in days],
        "reopened": [row.reopened for row in days],
    }
    return render(
        request,
        "reports/report.html",
        {
            "report": table,
            "since": since,
            "until": until,
            "group_by": group_by,
            "groups": list(GROUPS),
            "business_hours": open_seconds is not None,
            "has_hours": open_seconds is not None
            or business_open_seconds(business) is not None,
            "errors": errors,
            "chart": chart,
            "csv_days": csv_link(api, query, "day"),
            "csv_table": csv_link(api, query, group_by),
        },
        status=400 if errors else 200,
    )

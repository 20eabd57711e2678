"""`GET /api/v1/reports/summary/`: a business's report figures as JSON or
CSV (docs/reports.md)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Business
from billing.permissions import business_of, member_of
from conversations.services.snooze import zone_named
from pingback.api import error_responses
from reports.selectors import GROUPS, MAX_DAYS, OpenSeconds, Report, Row, report
from workspace.selectors import business_hours

DEFAULT_DAYS = 30
ADMINS_ONLY = "Only a business admin may see reports."
BAD_FORMAT = "json or csv."
NO_BUSINESS_HOURS = "This business has no business hours set up."


def business_open_seconds(business: Business) -> OpenSeconds | None:
    """The function measuring `business`'s open seconds between two instants
    (its business hours, `workspace.hours.WeeklyHours.open_seconds`), or None
    while it has none set up. One query."""
    hours = business_hours(business)
    return hours.open_seconds if hours is not None else None


class IsReportReader(BasePermission):
    """Reports are for a business's admins: agents get 403."""

    message = ADMINS_ONLY

    def has_permission(self, request, view) -> bool:
        member = member_of(request.user)
        return member is not None and member.is_admin


class DayRangeSerializer(serializers.Serializer):
    """A range of local days in the business's time zone (`context`:
    `{"business": Business}`): cleans to `{since, until}`, both filled in
    (default the last `DEFAULT_DAYS` days to today); `until` before `since`,
    or more than `MAX_DAYS` days, answers 400 naming the field."""

    since = serializers.DateField(
        required=False,
        help_text=f"First local day (YYYY-MM-DD); default {DEFAULT_DAYS - 1} "
        "days before `until`.",
    )
    until = serializers.DateField(
        required=False,
        help_text="Last local day, included (YYYY-MM-DD); default today in the "
        "business's time zone.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        business: Business = self.context["business"]
        today = timezone.now().astimezone(zone_named(business.time_zone))
        until = attrs.get("until") or today.date()
        since = attrs.get("since") or until - dt.timedelta(days=DEFAULT_DAYS - 1)
        if until < since:
            raise serializers.ValidationError({"until": "On or after since."})
        if (until - since).days + 1 > MAX_DAYS:
            raise serializers.ValidationError(
                {"since": f"At most {MAX_DAYS} days from since to until."}
            )
        attrs["since"], attrs["until"] = since, until
        return attrs


class ReportParamsSerializer(DayRangeSerializer):
    """The query of a report: a range of local days, a grouping and whether
    times count business hours only. Cleans to `{since, until, group_by,
    business_hours, open_seconds}`; a bad value answers 400 naming its
    field."""

    group_by = serializers.ChoiceField(
        choices=list(GROUPS),
        default="day",
        help_text="One row per day, channel, agent, team or label.",
    )
    business_hours = serializers.BooleanField(
        default=False,
        help_text="Measure response and resolution times in business hours only.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        attrs["open_seconds"] = None
        if attrs["business_hours"]:
            attrs["open_seconds"] = business_open_seconds(self.context["business"])
            if attrs["open_seconds"] is None:
                raise serializers.ValidationError({"business_hours": NO_BUSINESS_HOURS})
        return attrs


class TimesSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Conversations measured.")
    median_seconds = serializers.FloatField(allow_null=True, source="median")
    p90_seconds = serializers.FloatField(
        allow_null=True, source="p90", help_text="90th percentile."
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    count = serializers.IntegerField()


class RowSerializer(serializers.Serializer):
    key = serializers.CharField(
        allow_null=True,
        help_text="The day (YYYY-MM-DD), or the id of the channel, agent, team "
        "or label; null for none (unassigned, no team, no label).",
    )
    name = serializers.CharField()
    opened = serializers.IntegerField()
    resolved = serializers.IntegerField()
    reopened = serializers.IntegerField()
    first_response = TimesSerializer()
    resolution = TimesSerializer()
    messages_in = serializers.IntegerField()
    messages_out = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Replies that failed.")
    failed_reasons = serializers.SerializerMethodField()

    def get_failed_reasons(self, row: Row) -> list[dict[str, Any]]:
        return [{"reason": r, "count": n} for r, n in row.failed_reasons]


class ReportSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    time_zone = serializers.CharField()
    group_by = serializers.CharField()
    business_hours = serializers.BooleanField()
    rows = RowSerializer(many=True)


CSV_COLUMNS = (
    "key",
    "name",
    "opened",
    "resolved",
    "reopened",
    "first_response_count",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "resolution_count",
    "resolution_median_seconds",
    "resolution_p90_seconds",
    "messages_in",
    "messages_out",
    "failed",
    "failed_reasons",
)


def csv_cell(value: Any) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula (starting
    with = + - @ or a tab) gets a leading apostrophe."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def report_csv(data: dict[str, Any]) -> str:
    """A serialized report (`ReportSerializer.data`) as CSV: a header, then
    one line per row (columns `CSV_COLUMNS`; seconds with 1 decimal,
    reasons as `reason: n; ...`)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in data.get("rows", []):
        line = [row["key"], row["name"], row["opened"], row["resolved"]]
        line += [row["reopened"]]
        for name in ("first_response", "resolution"):
            times = row[name]
            line += [times["count"]]
            line += [
                None if times[k] is None else f"{times[k]:.1f}"
                for k in ("median_seconds", "p90_seconds")
            ]
        line += [row["messages_in"], row["messages_out"], row["failed"]]
        line += [
            "; ".join(f"{r['reason']}: {r['count']}" for r in row["failed_reasons"])
        ]
        writer.writerow([csv_cell(cell) for cell in line])
    return out.getvalue()


class CsvRenderer(BaseRenderer):
    """A report as CSV (`?format=csv`); errors stay JSON-shaped lines."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and "rows" in data:
            return report_csv(data)
        return JSONRenderer().render(data)


def report_data(result: Report) -> dict[str, Any]:
    """A `Report` as the API's JSON."""
    return ReportSerializer(result).data


class ReportSummaryView(APIView):
    """A business's report: counts, response and resolution times, messages
    and failed replies per day, channel, agent, team or label."""

    permission_classes = [IsReportReader]
    renderer_classes = [JSONRenderer, CsvRenderer]

    def perform_content_negotiation(self, request, force=False):
        """An unknown `?format=` answers 400 naming `format` (JSON), not
        DRF's 404."""
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            raise serializers.ValidationError({"format": [BAD_FORMAT]}) from None

    @extend_schema(
        operation_id="reports_summary",
        parameters=[ReportParamsSerializer],
        responses={
            (200, "application/json"): ReportSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
            **error_responses(400, 401, 403),
        },
        description="Figures of the caller's business over local days `since` "
        "to `until` (both included, in the business's time zone), one row per "
        "`group_by` (day, channel, agent, team, label; docs/reports.md defines "
        "each figure). Times are in seconds. `?format=csv` answers the same rows "
        "as CSV. Admins only (agents: 403). A bad date, an unknown grouping, "
        f"`until` before `since` or more than {MAX_DAYS} days: 400 naming the "
        "field.",
    )
    def get(self, request: Request) -> Response:
        business = business_of(request)
        params = ReportParamsSerializer(
            data=request.query_params, context={"business": business}
        )
        params.is_valid(raise_exception=True)
        cleaned = params.validated_data
        result = report(
            business,
            cleaned["since"],
            cleaned["until"],
            cleaned["group_by"],
            open_seconds=cleaned["open_seconds"],
        )
        response = Response(report_data(result))
        if request.accepted_renderer.format == "csv":
            name = f"report-{cleaned['group_by']}-{result.since}-{result.until}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

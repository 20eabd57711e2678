"""`GET /api/v1/reports/csat/`: a business's customer satisfaction figures
(docs/satisfaction.md)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.permissions import business_of
from pingback.api import error_responses
from reports.api.views import DayRangeSerializer, IsReportReader
from satisfaction.selectors import CsatReport, csat_report


class CsatParamsSerializer(DayRangeSerializer):
    """The report's range (`since`, `until`: local days, as the summary's).
    The summary's `group_by` and `business_hours` do not apply to ratings:
    they are not parameters of this report (sent anyway, they are
    ignored)."""


class RecentCommentSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    contact_name = serializers.CharField()
    score = serializers.IntegerField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class CsatReportSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    time_zone = serializers.CharField()
    asked = serializers.IntegerField(
        help_text="Resolutions the customer was asked to rate in the range."
    )
    skipped = serializers.IntegerField(
        help_text="Resolutions not asked about (closed window, deactivated "
        "channel, opted out…)."
    )
    count = serializers.IntegerField(help_text="Ratings given in the range.")
    average = serializers.FloatField(
        allow_null=True, help_text="Mean score, 1 to 5; null without ratings."
    )
    distribution = serializers.SerializerMethodField()
    response_rate = serializers.FloatField(
        allow_null=True,
        help_text="Share (0 to 1) of the requests asked in the range that were "
        "rated; null when none was asked.",
    )
    recent_comments = RecentCommentSerializer(many=True)

    def get_distribution(self, report: CsatReport) -> dict[str, int]:
        """Ratings per score: `{"1": n, …, "5": n}`."""
        return {str(score): n for score, n in report.distribution.items()}


class CsatReportView(APIView):
    """A business's CSAT over a range of days: average score, count,
    distribution, response rate and the newest comments."""

    permission_classes = [IsReportReader]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="reports_csat",
        parameters=[CsatParamsSerializer],
        responses={200: CsatReportSerializer, **error_responses(400, 401, 403)},
        description="Customer satisfaction of the caller's business over local "
        "days `since` to `until` (both included, in the business's time zone; "
        "default the last 30 days). Admins only (agents: 403). A bad date or "
        "`until` before `since`: 400 naming the field.",
    )
    def get(self, request: Request) -> Response:
        business = business_of(request)
        params = CsatParamsSerializer(
            data={
                k: v for k, v in request.query_params.items() if k in ("since", "until")
            },
            context={"business": business},
        )
        params.is_valid(raise_exception=True)
        cleaned = params.validated_data
        report = csat_report(business, cleaned["since"], cleaned["until"])
        return Response(CsatReportSerializer(report).data)

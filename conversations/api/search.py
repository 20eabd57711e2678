"""`GET /api/v1/search/`: search the caller's business (docs/search.md)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Business
from billing.permissions import business_of
from channels_app.models import Channel
from conversations.models import Conversation
from conversations.search import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_QUERY_LENGTH,
    SearchFilters,
    SearchQueryInvalid,
    SearchResults,
    query_cleaned,
    search,
)
from conversations.selectors import label_named
from pingback.api import error_responses
from workspace.models import Team


class SearchParamsSerializer(serializers.Serializer):
    """The query string of `GET /api/v1/search/` and of the page's search
    (`/inbox/search/`): `q` and the inbox filters. Cleans to
    `{"q", "filters": SearchFilters, "before", "limit"}`; a bad value answers
    400 naming its field (a channel, team or label of another business
    too)."""

    q = serializers.CharField(
        allow_blank=True,
        trim_whitespace=True,
        help_text=f"Words to find (1 to {MAX_QUERY_LENGTH} characters): message "
        "text (inbound, outbound, notes), e-mail subjects, contact names, "
        "companies, handles, e-mail addresses and phone numbers (any format).",
    )
    channel_type = serializers.ChoiceField(
        choices=Channel.Type.choices, required=False, allow_blank=True
    )
    channel = serializers.UUIDField(
        required=False, help_text="A channel of the business."
    )
    status = serializers.ChoiceField(
        choices=Conversation.Status.choices, required=False, allow_blank=True
    )
    assignee = serializers.RegexField(
        r"^(me|none|[0-9]{1,18})$",
        required=False,
        allow_blank=True,
        help_text='"me", "none" or a user id.',
    )
    team = serializers.RegexField(
        r"^(none|[0-9]{1,18})$",
        required=False,
        allow_blank=True,
        help_text='"none" or a team id of the business.',
    )
    label = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="A label name of the business (ignoring case).",
    )
    since = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Matches sent at or after this date (YYYY-MM-DD, from its "
        "start in the business's time zone) or ISO 8601 date-time.",
    )
    until = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Matches sent up to this date (YYYY-MM-DD, inclusive: to "
        "its end in the business's time zone) or before this ISO 8601 "
        "date-time.",
    )
    before = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="The cursor: `next_before` of the previous page.",
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_LIMIT,
        help_text=f"Conversations per page (default {DEFAULT_LIMIT}).",
    )

    def validate_q(self, value: str) -> str:
        try:
            return query_cleaned(value)
        except SearchQueryInvalid as error:
            raise serializers.ValidationError(str(error)) from error

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        business: Business = self.context["business"]
        user = self.context["user"]
        errors: dict[str, list[str]] = {}
        channel_id = attrs.get("channel")
        if (
            channel_id
            and not Channel.objects.filter(pk=channel_id, business=business).exists()
        ):
            errors["channel"] = ["No such channel in this business."]
        assignee: Any = attrs.get("assignee") or None
        if assignee == "me":
            assignee = user.pk
        elif assignee and assignee != "none":
            assignee = int(assignee)
        team: Any = attrs.get("team") or None
        if team and team != "none":
            team = int(team)
            if not Team.objects.filter(pk=team, business=business).exists():
                errors["team"] = ["No such team in this business."]
        label_id = None
        if attrs.get("label"):
            label = label_named(business, attrs["label"])
            if label is None:
                errors["label"] = ["No such label in this business."]
            else:
                label_id = label.pk
        since = until = None
        try:
            since = date_bound(attrs.get("since"), business, end=False)
        except ValueError as error:
            errors["since"] = [str(error)]
        try:
            until = date_bound(attrs.get("until"), business, end=True)
        except ValueError as error:
            errors["until"] = [str(error)]
        if errors:
            raise serializers.ValidationError(errors)
        return {
            "q": attrs["q"],
            "filters": SearchFilters(
                channel_type=attrs.get("channel_type") or None,
                channel_id=channel_id,
                status=attrs.get("status") or None,
                assignee_id=assignee,
                team_id=team,
                label_id=label_id,
                since=since,
                until=until,
            ),
            "before": attrs.get("before"),
            "limit": attrs.get("limit") or DEFAULT_LIMIT,
        }


DATE_FORMATS = "Enter a date (YYYY-MM-DD) or an ISO 8601 date-time."


def date_bound(raw: str | None, business: Business, *, end: bool) -> dt.datetime | None:
    """`raw` (a date or ISO date-time) as an aware datetime; a date is its
    start in the business's time zone, or with `end` the start of the day
    after (an inclusive end). Raises ValueError naming the formats."""
    if not raw:
        return None
    try:
        moment = parse_datetime(raw)
        day = None if moment else parse_date(raw)
    except ValueError:
        raise ValueError(DATE_FORMATS) from None
    try:
        zone = zoneinfo.ZoneInfo(business.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    if moment is not None:
        return make_aware(moment, zone) if is_naive(moment) else moment
    if day is None:
        raise ValueError(DATE_FORMATS)
    if end:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=zone)


class ContactRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class MatchSerializer(serializers.Serializer):
    """Why the conversation matched: a message, or (`kind: "subject"`,
    `message_id` null) its e-mail subject. `highlight` is HTML: the text
    escaped, the matched words in `<mark>`, cut around the first."""

    message_id = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField()
    direction = serializers.CharField(allow_null=True)
    sent_at = serializers.DateTimeField()
    highlight = serializers.CharField()


class SearchConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel_type = serializers.CharField()
    contact = ContactRefSerializer()
    subject = serializers.CharField()
    status = serializers.CharField()
    last_message_at = serializers.DateTimeField()
    match = MatchSerializer()


class SearchContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    company = serializers.CharField()
    emails = serializers.ListField(child=serializers.CharField())
    phones = serializers.ListField(child=serializers.CharField())


class SearchResultsSerializer(serializers.Serializer):
    """`conversations` newest match first; `contacts` (first page only);
    `next`: the URL of the next page of conversations, or null."""

    conversations = SearchConversationSerializer(many=True)
    contacts = SearchContactSerializer(many=True)
    next = serializers.URLField(allow_null=True)


def results_data(results: SearchResults) -> dict[str, Any]:
    """`results` in the API's shape (without `next`)."""
    return {
        "conversations": [
            {
                "id": entry.conversation.pk,
                "channel_type": entry.conversation.channel_type,
                "contact": {
                    "id": entry.conversation.contact_id,
                    "name": entry.conversation.contact.name,
                },
                "subject": entry.conversation.subject,
                "status": entry.conversation.status,
                "last_message_at": entry.conversation.last_message_at,
                "match": {
                    "message_id": entry.match.message_id,
                    "kind": entry.match.kind,
                    "direction": entry.match.direction,
                    "sent_at": entry.match.sent_at,
                    "highlight": str(entry.match.highlight),
                },
            }
            for entry in results.conversations
        ],
        "contacts": [
            {
                "id": contact.pk,
                "name": contact.name,
                "company": contact.company,
                "emails": contact.email_list,
                "phones": contact.phone_list,
            }
            for contact in results.contacts
        ],
    }


class SearchView(APIView):
    """Search the caller's business: conversations by message text (inbound,
    outbound, notes; never activity entries) and e-mail subject, each with
    its matching message highlighted, and contacts by name, company, handle,
    e-mail address or phone number."""

    @extend_schema(
        operation_id="search",
        parameters=[SearchParamsSerializer],
        responses={200: SearchResultsSerializer, **error_responses(400, 401, 403)},
        description="Conversations whose messages (inbound, outbound, notes) or "
        "e-mail subject hold every word of `q`, newest match first, each once "
        "with its newest matching message (`match.highlight`: HTML, the text "
        "escaped and the words in `<mark>`), combined with the inbox filters; "
        "and (first page) the contacts whose name, company, handle, e-mail "
        "address or phone number (typed in any format) contains `q`. Empty or "
        f"longer than {MAX_QUERY_LENGTH} characters `q`, or a channel, team or "
        "label of another business: 400 naming the field. Follow `next` for "
        "older matches.",
    )
    def get(self, request: Request) -> Response:
        business = business_of(request)
        params = SearchParamsSerializer(
            data=request.query_params,
            context={"business": business, "user": request.user},
        )
        params.is_valid(raise_exception=True)
        cleaned = params.validated_data
        results = search(
            business,
            cleaned["q"],
            cleaned["filters"],
            limit=cleaned["limit"],
            before=cleaned["before"],
        )
        data = results_data(results)
        data["next"] = None
        if results.next_before is not None:
            query = request.query_params.copy()
            query["before"] = str(results.next_before)
            data["next"] = request.build_absolute_uri(
                f"{request.path}?{query.urlencode()}"
            )
        return Response(SearchResultsSerializer(data).data)

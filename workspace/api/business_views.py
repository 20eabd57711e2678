"""`/api/v1/business/` with the business's weekly hours: the business
settings (`billing.api.business_views`) plus `business_hours`."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from billing.api.business_views import BusinessSettingsView
from billing.api.serializers import BusinessSettingsSerializer
from billing.permissions import business_of
from billing.services import business_settings_update
from pingback.api import error_responses
from workspace.hours import WEEKDAYS, BusinessHoursInvalid, week_parse, week_show
from workspace.selectors import business_hours
from workspace.services import business_hours_set

_INTERVAL = {
    "type": "object",
    "properties": {
        "opens": {"type": "string", "example": "09:00"},
        "closes": {"type": "string", "example": "18:00"},
    },
    "required": ["opens", "closes"],
}
_WEEK = {
    "type": "object",
    "nullable": True,
    "properties": {day: {"type": "array", "items": _INTERVAL} for day in WEEKDAYS},
    "example": {
        "monday": [
            {"opens": "09:00", "closes": "12:30"},
            {"opens": "13:30", "closes": "18:00"},
        ],
        "tuesday": [{"opens": "09:00", "closes": "18:00"}],
        "wednesday": [{"opens": "09:00", "closes": "18:00"}],
        "thursday": [{"opens": "09:00", "closes": "18:00"}],
        "friday": [{"opens": "09:00", "closes": "24:00"}],
        "saturday": [{"opens": "00:00", "closes": "02:00"}],
        "sunday": [],
    },
}


@extend_schema_field(_WEEK)
class BusinessHoursField(serializers.Field):
    """The business's weekly hours (`workspace.hours.week_parse`): all seven
    days, `monday` to `sunday`, each a list of `{"opens": "HH:MM", "closes":
    "HH:MM"}` in the business's time zone, `[]` for a closed day; `closes`
    may be `24:00`; hours past midnight are two intervals (Friday until
    24:00, Saturday from 00:00). `null`: no business hours (always open)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, required=False, **kwargs)

    def get_attribute(self, instance):
        hours = business_hours(instance)
        return None if hours is None else hours.week

    def to_representation(self, value):
        return None if value is None else week_show(value)

    def to_internal_value(self, data):
        try:
            return week_parse(data)
        except BusinessHoursInvalid as error:
            errors = error.errors
            if list(errors) == ["business_hours"]:
                raise serializers.ValidationError(errors["business_hours"]) from None
            raise serializers.ValidationError(errors) from None


# The schema keeps the component name clients already know.
@extend_schema_serializer(component_name="BusinessSettings")
class BusinessWithHoursSerializer(BusinessSettingsSerializer):
    """The caller's business as `GET/PATCH /api/v1/business/` shows it (see
    `BusinessSettingsSerializer`), with `business_hours` (see
    `BusinessHoursField`). A PATCH changes only the fields it sends; a
    `business_hours` it sends replaces the whole week."""

    business_hours = BusinessHoursField()


class BusinessView(BusinessSettingsView):
    """The caller's business: its name, plan, time zone, default country,
    search language and business hours. Every member reads it; only admins
    change it (403 for agents). Errors: 400 naming the refused field (for
    `business_hours`, an object naming each refused day, whose messages name
    the interval by number and times), 401, 403, 415."""

    @extend_schema(
        responses={200: BusinessWithHoursSerializer, **error_responses(401, 403)}
    )
    def get(self, request: Request) -> Response:
        """The business's settings and business hours."""
        return Response(BusinessWithHoursSerializer(business_of(request)).data)

    @extend_schema(
        request=BusinessWithHoursSerializer,
        responses={
            200: BusinessWithHoursSerializer,
            **error_responses(400, 401, 403, 415),
        },
    )
    def patch(self, request: Request) -> Response:
        """Change the fields sent, all or none; a new `search_language`
        re-indexes the business's messages in the background; a
        `business_hours` replaces the week (null removes it)."""
        serializer = BusinessWithHoursSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        business = business_of(request)
        with transaction.atomic():
            if "business_hours" in values:
                business_hours_set(business=business, week=values.pop("business_hours"))
            if values:
                business = business_settings_update(business=business, **values)
        return Response(BusinessWithHoursSerializer(business).data)

"""`/api/v1/business/`: the caller's business settings."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.serializers import BusinessSettingsSerializer
from billing.permissions import business_of
from billing.services import business_settings_update
from pingback.api import error_responses
from workspace.api.views import IsBusinessAdminForWrites


class BusinessSettingsView(APIView):
    """The caller's business: its name, plan, time zone, default country and
    search language. Every member reads it; only admins change it (403 for
    agents). Errors: 400 naming the refused field, 401, 403, 415."""

    permission_classes = [IsBusinessAdminForWrites]

    @extend_schema(
        responses={200: BusinessSettingsSerializer, **error_responses(401, 403)}
    )
    def get(self, request: Request) -> Response:
        """The business's settings."""
        return Response(BusinessSettingsSerializer(business_of(request)).data)

    @extend_schema(
        request=BusinessSettingsSerializer,
        responses={
            200: BusinessSettingsSerializer,
            **error_responses(400, 401, 403, 415),
        },
    )
    def patch(self, request: Request) -> Response:
        """Change the fields sent; a new `search_language` re-indexes the
        business's messages in the background (search keeps answering
        meanwhile, in the old language for messages not yet re-indexed)."""
        serializer = BusinessSettingsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        business = business_settings_update(
            business=business_of(request), **serializer.validated_data
        )
        return Response(BusinessSettingsSerializer(business).data)

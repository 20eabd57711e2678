"""`/api/v1/webhooks/`: a business's outgoing webhook endpoints (admins only).

Create answers the endpoint with its signing `secret`, shown this once;
`POST /api/v1/webhooks/{id}/rotate_secret/` makes a new one (the old one
keeps signing for a day). `GET .../attempts/` lists delivery attempts,
`POST .../redeliver/` sends an event again. Paths end with a slash: without
it, `/api/v1/webhooks/{a}/{b}` is the platforms' incoming webhook URL.
Another business's endpoint, or an id that is not a whole number, answers
404. See docs/webhooks.md.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from billing.permissions import IsBusinessAdmin, business_of
from conversations.api.views import StrictPageSizeMixin
from pingback.api import error_responses
from webhooks import selectors
from webhooks.api.serializers import (
    AttemptOutputSerializer,
    EndpointInputSerializer,
    EndpointOutputSerializer,
    EndpointWithSecretSerializer,
    RedeliverInputSerializer,
)
from webhooks.models import WebhookEndpoint, WebhookEvent
from webhooks.services import endpoints as services
from webhooks.services.deliveries import event_redeliver

WEBHOOK_ID = OpenApiParameter(
    "webhook_id",
    int,
    OpenApiParameter.PATH,
    description="Id of a webhook endpoint of the caller's business (anything "
    "else answers 404).",
)


class IsWebhookAdmin(IsBusinessAdmin):
    message = "Only a business admin may manage webhooks."


class AttemptPagination(StrictPageSizeMixin, CursorPagination):
    """Newest first; `?cursor=` from `next`; `page_size` up to 200 (50)."""

    ordering = ("-attempted_at", "-id")
    page_size = 50
    max_page_size = 200


def _valid(
    serializer_class: type[serializers.Serializer], request: Request, **kwargs: Any
) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> dict[str, Any]:
    endpoint.secret = secret
    return EndpointWithSecretSerializer(endpoint).data


class WebhookEndpointViewSet(viewsets.GenericViewSet):
    """The business's webhook endpoints. Errors: 400 bad body (field named),
    401, 403 (not an admin), 404 unknown endpoint or another business's, 415."""

    permission_classes = [IsWebhookAdmin]
    queryset = WebhookEndpoint.objects.none()  # for the schema only
    lookup_field = "webhook_id"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete"]

    def _endpoint(self, request: Request, webhook_id: str) -> WebhookEndpoint:
        try:
            return selectors.endpoint_get(business_of(request), int(webhook_id))
        except (WebhookEndpoint.DoesNotExist, ValueError) as error:
            raise Http404("No such webhook endpoint.") from error

    @extend_schema(
        responses={
            200: EndpointOutputSerializer(many=True),
            **error_responses(401, 403),
        }
    )
    def list(self, request: Request) -> Response:
        """The business's endpoints, oldest first (at most 20: not paginated)."""
        rows = selectors.endpoint_list(business_of(request))
        return Response(EndpointOutputSerializer(rows, many=True).data)

    @extend_schema(
        request=EndpointInputSerializer,
        responses={
            201: EndpointWithSecretSerializer,
            **error_responses(400, 401, 403, 415),
        },
    )
    def create(self, request: Request) -> Response:
        """Register an endpoint. The answer carries its `secret`, shown only
        now (and by `rotate_secret`)."""
        data = _valid(EndpointInputSerializer, request)
        try:
            endpoint, secret = services.endpoint_create(
                business=business_of(request),
                url=data["url"],
                events=data["events"],
                description=data.get("description", ""),
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        return Response(_with_secret(endpoint, secret), status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[WEBHOOK_ID],
        responses={200: EndpointOutputSerializer, **error_responses(401, 403, 404)},
    )
    def retrieve(self, request: Request, webhook_id: str) -> Response:
        """One endpoint (without its secret)."""
        return Response(
            EndpointOutputSerializer(self._endpoint(request, webhook_id)).data
        )

    @extend_schema(
        parameters=[WEBHOOK_ID],
        request=EndpointInputSerializer(partial=True),
        responses={
            200: EndpointOutputSerializer,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    def partial_update(self, request: Request, webhook_id: str) -> Response:
        """Change the URL, events, description; `is_active` false disables
        the endpoint, true enables it again."""
        endpoint = self._endpoint(request, webhook_id)
        data = _valid(EndpointInputSerializer, request, partial=True)
        try:
            services.endpoint_update(endpoint, **data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        parameters=[WEBHOOK_ID],
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def destroy(self, request: Request, webhook_id: str) -> Response:
        """Delete the endpoint with its events and attempts."""
        services.endpoint_delete(self._endpoint(request, webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[WEBHOOK_ID],
        request=None,
        responses={200: EndpointWithSecretSerializer, **error_responses(401, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="rotate_secret")
    def rotate_secret(self, request: Request, webhook_id: str) -> Response:
        """Give the endpoint a new secret, in the answer (shown only now).
        Deliveries carry a signature with the old secret too for a day
        (`previous_secret_expires_at`)."""
        endpoint = self._endpoint(request, webhook_id)
        secret = services.endpoint_rotate_secret(endpoint)
        return Response(_with_secret(endpoint, secret))

    @extend_schema(
        parameters=[WEBHOOK_ID],
        responses={
            200: AttemptOutputSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        },
    )
    @action(detail=True, methods=["get"], pagination_class=AttemptPagination)
    def attempts(self, request: Request, webhook_id: str) -> Response:
        """The endpoint's delivery attempts, newest first (paginated)."""
        endpoint = self._endpoint(request, webhook_id)
        page = self.paginate_queryset(selectors.attempt_list(endpoint))
        return self.get_paginated_response(
            AttemptOutputSerializer(page, many=True).data
        )

    @extend_schema(
        parameters=[WEBHOOK_ID],
        request=RedeliverInputSerializer,
        responses={
            202: None,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, webhook_id: str) -> Response:
        """Send event `event_id` again (same `webhook-id`), whatever became of
        it. 400 when the endpoint is disabled; 404 for an event of another
        endpoint."""
        endpoint = self._endpoint(request, webhook_id)
        data = _valid(RedeliverInputSerializer, request)
        try:
            event = selectors.event_get(endpoint, data["event_id"])
        except WebhookEvent.DoesNotExist as error:
            raise Http404("No such event.") from error
        event_redeliver(event)
        return Response(status=status.HTTP_202_ACCEPTED)

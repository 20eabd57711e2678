"""`/api/v1/channels/`: a business's channels (PingBack channels reference)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from billing.permissions import IsBusinessAdmin, IsBusinessMember, business_of
from channels_app.api.serializers import (
    ChannelDeletedSerializer,
    ChannelInputSerializer,
    ChannelOutputSerializer,
)
from channels_app.models import Channel
from channels_app.selectors import channel_get, channel_list
from channels_app.services import (
    channel_create,
    channel_delete,
    channel_setup,
    channel_update,
)
from channels_app.services.routing import UNCHANGED, channel_routing_update
from pingback.api import error_responses


def _routing_update(channel: Channel, data: dict) -> Channel:
    """Apply `auto_assign` / `team_id` when the body gave them."""
    if "auto_assign" not in data and "team_id" not in data:
        return channel
    return channel_routing_update(
        channel=channel,
        auto_assign=data.get("auto_assign"),
        team=data["team_id"] if "team_id" in data else UNCHANGED,
    )


class ChannelViewSet(viewsets.ViewSet):
    """Create, list, show, update and delete the caller's business's channels.

    Errors: 400 bad type or config (field named), 401 no valid token, 402 the plan
    does not allow the type or one more channel, 404 unknown channel or another
    business's. Members may read; only admins may change channels.
    """

    lookup_field = "channel_id"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete"]

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [IsBusinessMember()]
        return [IsBusinessAdmin()]

    def _channel(self, request: Request, channel_id: str) -> Channel:
        try:
            return channel_get(business_of(request), channel_id)
        except (Channel.DoesNotExist, ValueError, DjangoValidationError) as error:
            raise Http404("Channel not found.") from error

    @extend_schema(
        responses={200: ChannelOutputSerializer(many=True), **error_responses(401, 403)}
    )
    def list(self, request: Request) -> Response:
        channels = channel_list(business_of(request))
        return Response(ChannelOutputSerializer(channels, many=True).data)

    @extend_schema(
        request=ChannelInputSerializer,
        responses={
            201: ChannelOutputSerializer,
            **error_responses(400, 401, 402, 403, 415),
        },
    )
    def create(self, request: Request) -> Response:
        business = business_of(request)
        serializer = ChannelInputSerializer(
            data=request.data, context={"business": business}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        channel = channel_create(
            business=business,
            channel_type=data["type"],
            config=data["clean_config"],
            is_active=data["is_active"],
            name=data.get("name", ""),
        )
        channel = _routing_update(channel, data)
        # The create answer is the one place setup values the admin must paste
        # on the platform's side (Meta's verify token) are shown in clear.
        output = ChannelOutputSerializer(
            channel, context={"reveal_setup_secrets": True}
        )
        return Response(output.data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={200: ChannelOutputSerializer, **error_responses(401, 403, 404)}
    )
    def retrieve(self, request: Request, channel_id: str) -> Response:
        return Response(
            ChannelOutputSerializer(self._channel(request, channel_id)).data
        )

    @extend_schema(
        request=ChannelInputSerializer,
        responses={
            200: ChannelOutputSerializer,
            **error_responses(400, 401, 402, 403, 404, 415),
        },
    )
    def partial_update(self, request: Request, channel_id: str) -> Response:
        channel = self._channel(request, channel_id)
        serializer = ChannelInputSerializer(
            data=request.data,
            partial=True,
            context={"channel": channel, "business": business_of(request)},
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        channel = channel_update(
            channel=channel,
            channel_type=data.get("type"),
            config=data.get("clean_config"),
            is_active=data.get("is_active") if "is_active" in request.data else None,
            name=data.get("name"),
        )
        channel = _routing_update(channel, data)
        return Response(ChannelOutputSerializer(channel).data)

    @extend_schema(
        responses={200: ChannelDeletedSerializer, **error_responses(401, 403, 404)}
    )
    def destroy(self, request: Request, channel_id: str) -> Response:
        channel_delete(channel=self._channel(request, channel_id))
        return Response({"message": "Channel deleted"})

    @extend_schema(
        request=None,
        responses={200: ChannelOutputSerializer, **error_responses(401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def setup(self, request: Request, channel_id: str) -> Response:
        """Run the platform setup again (after fixing something on its side)."""
        channel = channel_setup(channel=self._channel(request, channel_id))
        return Response(ChannelOutputSerializer(channel).data)

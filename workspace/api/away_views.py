"""`/api/v1/channels/{channel_id}/away_message`: a channel's away message
(the answer a customer gets when they write outside business hours;
docs/business-hours.md), read by every member, set by admins."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.permissions import business_of
from channels_app.models import Channel
from pingback.api import error_responses
from workspace.api.views import IsBusinessAdminForWrites
from workspace.models import AWAY_MESSAGE_MAX_LENGTH, AwayMessage
from workspace.services import away_message_save


class AwayMessageSerializer(serializers.Serializer):
    """`{"enabled": bool, "body": str}`: whether the channel answers outside
    business hours, and with what (at most `AWAY_MESSAGE_MAX_LENGTH`
    characters, and what the channel carries in one message)."""

    enabled = serializers.BooleanField()
    body = serializers.CharField(
        allow_blank=True, trim_whitespace=True, max_length=AWAY_MESSAGE_MAX_LENGTH
    )


class AwayMessageView(APIView):
    """A channel of the caller's business: its away message. Off with no
    text until an admin sets one. Errors: 400 naming the refused field
    (`body`: empty while enabled, too long, more than the channel carries),
    401, 403 (an agent writing), 404 (no such channel in the business)."""

    permission_classes = [IsBusinessAdminForWrites]

    def _channel(self, request: Request, channel_id: str) -> Channel:
        try:
            return Channel.objects.get(pk=channel_id, business=business_of(request))
        except (Channel.DoesNotExist, ValidationError, ValueError) as error:
            raise Http404("No such channel in this business.") from error

    @extend_schema(responses={200: AwayMessageSerializer, **error_responses(401, 404)})
    def get(self, request: Request, channel_id: str) -> Response:
        """The channel's away message."""
        channel = self._channel(request, channel_id)
        away = AwayMessage.objects.filter(channel=channel).first()
        return Response(
            AwayMessageSerializer(
                {
                    "enabled": bool(away and away.enabled),
                    "body": away.body if away else "",
                }
            ).data
        )

    @extend_schema(
        request=AwayMessageSerializer,
        responses={
            200: AwayMessageSerializer,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    def put(self, request: Request, channel_id: str) -> Response:
        """Set the channel's away message (both fields); nothing changes on
        a 400."""
        channel = self._channel(request, channel_id)
        serializer = AwayMessageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            away = away_message_save(channel=channel, **serializer.validated_data)
        except ValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        return Response(
            AwayMessageSerializer({"enabled": away.enabled, "body": away.body}).data
        )

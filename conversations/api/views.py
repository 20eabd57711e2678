"""`/api/v1/conversations/`: the inbox over REST."""

from __future__ import annotations

import django_filters
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from billing.permissions import business_of
from channels_app.models import Channel
from conversations.api.serializers import (
    ConversationSerializer,
    ConversationUpdateSerializer,
    MessageSerializer,
    ReplySerializer,
)
from conversations.models import Conversation, Message
from conversations.selectors import (
    conversation_get,
    conversation_message_list,
    inbox_conversation_list,
)
from conversations.services import (
    conversation_update,
    message_mark_sent,
    message_retry,
    post_reply,
)


class ConversationFilter(django_filters.FilterSet):
    """Filters: `channel_type`, `status`, `assignee` (user id)."""

    channel_type = django_filters.ChoiceFilter(choices=Channel.Type.choices)
    status = django_filters.ChoiceFilter(choices=Conversation.Status.choices)
    assignee = django_filters.NumberFilter(field_name="assignee_id")

    class Meta:
        model = Conversation
        fields = ["channel_type", "status", "assignee"]


class InboxCursorPagination(CursorPagination):
    """Newest activity first; `?cursor=` from `next`; `page_size` up to 100."""

    ordering = ("-last_message_at", "-id")
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class MessageCursorPagination(CursorPagination):
    """Oldest first, so a thread reads top to bottom."""

    ordering = ("id",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ConversationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """List, show and update conversations; read and post their messages."""

    serializer_class = ConversationSerializer
    pagination_class = InboxCursorPagination
    filterset_class = ConversationFilter
    http_method_names = ["get", "post", "patch"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Conversation.objects.none()
        return inbox_conversation_list(business_of(self.request))

    def get_object(self) -> Conversation:
        try:
            return conversation_get(business_of(self.request), int(self.kwargs["pk"]))
        except (Conversation.DoesNotExist, ValueError) as error:
            raise Http404("Conversation not found.") from error

    @extend_schema(
        request=ConversationUpdateSerializer, responses=ConversationSerializer
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        serializer = ConversationUpdateSerializer(
            data=request.data, context={"business": business_of(request)}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        conversation = conversation_update(
            conversation=conversation,
            status=data.get("status"),
            assignee=data.get("assignee_id"),
            unassign="assignee_id" in data and data["assignee_id"] is None,
        )
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(
        methods=["GET"], responses=MessageSerializer(many=True), filters=False
    )
    @extend_schema(
        methods=["POST"], request=ReplySerializer, responses={202: MessageSerializer}
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def messages(self, request: Request, pk: str) -> Response:
        """GET: the thread, oldest first (cursor pagination). POST: an agent's
        reply; answers 202 with the message `queued` (delivery is async; 409 when
        the channel is deactivated)."""
        conversation = self.get_object()
        if request.method == "POST":
            data = request.data
            if hasattr(data, "getlist"):  # multipart: `files` repeats
                data = {**data.dict(), "files": request.FILES.getlist("files")}
            serializer = ReplySerializer(data=data)
            serializer.is_valid(raise_exception=True)
            valid = serializer.validated_data
            message = post_reply(
                conversation=conversation,
                author=request.user,
                text=valid.get("text", ""),
                files=valid.get("files", []),
                template=valid.get("template"),
            )
            return Response(
                MessageSerializer(message).data, status=status.HTTP_202_ACCEPTED
            )
        paginator = MessageCursorPagination()
        page = paginator.paginate_queryset(
            conversation_message_list(conversation), request, self
        )
        return paginator.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: MessageSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path=r"messages/(?P<message_id>\d+)/retry",
        filterset_class=None,
    )
    def retry(self, request: Request, pk: str, message_id: str) -> Response:
        """Send a `failed` or `uncertain` reply again: 202 with the message
        `queued`; 409 when it is in another state or its channel is
        deactivated; 404 when the conversation has no such message."""
        message = message_retry(message=self._message(message_id))
        return Response(
            MessageSerializer(message).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(request=None, responses=MessageSerializer)
    @action(
        detail=True,
        methods=["post"],
        url_path=r"messages/(?P<message_id>\d+)/mark-sent",
        filterset_class=None,
    )
    def mark_sent(self, request: Request, pk: str, message_id: str) -> Response:
        """Record that an `uncertain` reply did reach the customer: 200 with
        the message `sent`; 409 when it is not uncertain; 404 when the
        conversation has no such message."""
        message = message_mark_sent(message=self._message(message_id))
        return Response(MessageSerializer(message).data)

    def _message(self, message_id: str) -> Message:
        conversation = self.get_object()
        message = conversation_message_list(conversation).filter(pk=message_id).first()
        if message is None:
            raise Http404("Message not found.")
        return message

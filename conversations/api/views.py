"""`/api/v1/conversations/`: the inbox over REST."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.http import Http404, QueryDict
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from billing.permissions import business_of
from channels_app.models import Channel
from conversations.api.serializers import (
    ConversationBulkResultSerializer,
    ConversationBulkSerializer,
    ConversationSerializer,
    ConversationUpdateSerializer,
    InboxViewCountsSerializer,
    MessageSerializer,
    NoteSerializer,
    ReactionSerializer,
    ReplyJsonSerializer,
    ReplySerializer,
    ReplyUploadSerializer,
)
from conversations.models import Conversation, Message
from conversations.search import (
    MAX_QUERY_LENGTH,
    conversations_matching_q,
    search_words,
)
from conversations.selectors import (
    INBOX_ORDERING,
    conversation_get,
    conversation_message_list,
    conversations_labelled,
    conversations_mentioning,
    inbox_conversation_list,
    inbox_ordering,
    inbox_view_counts,
    label_named,
)
from conversations.services import (
    conversation_update,
    conversations_bulk_update,
    message_mark_sent,
    message_retry,
    post_note,
    post_reply,
)
from conversations.services.conversations import ConversationsNotFound
from conversations.services.reactions import message_react
from pingback.api import error_responses
from workspace.models import Team

MESSAGE_ID = OpenApiParameter(
    "message_id",
    int,
    OpenApiParameter.PATH,
    description="Id of a message of this conversation (anything else answers 404).",
)


ASSIGNEE_CHOICES = 'Enter "me", "none" or a user id.'
TEAM_CHOICES = 'Enter "none" or a team id.'
NO_SUCH_CHANNEL = "No such channel in this business."
NO_SUCH_TEAM = "No such team in this business."
NO_SUCH_LABEL = "No such label in this business."


class AssigneeField(forms.CharField):
    """`me`, `none`, or a whole number (a user id); cleans to that string or
    the int."""

    def to_python(self, value: Any) -> str | int | None:
        value = super().to_python(value)
        if value in ("", None):
            return None
        if value in ("me", "none"):
            return value
        try:
            return int(value)
        except ValueError as error:
            raise forms.ValidationError(ASSIGNEE_CHOICES) from error


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^(me|none|[0-9]+)$",
        "example": "me",
        "description": '"me" (the caller\'s), "none" (unassigned) or a user id.',
    }
)
class AssigneeFilter(django_filters.Filter):
    """`?assignee=me` (the caller's), `none` (unassigned) or a user id."""

    field_class = AssigneeField

    def filter(self, qs, value):
        if value is None:
            return qs
        if value == "me":
            return qs.filter(assignee_id=self.parent.request.user.pk)
        if value == "none":
            return qs.filter(assignee__isnull=True)
        return qs.filter(assignee_id=value)


class TeamField(forms.CharField):
    """`none`, or a whole number (a team id); cleans to that string or the
    int."""

    def to_python(self, value: Any) -> str | int | None:
        value = super().to_python(value)
        if value in ("", None):
            return None
        if value == "none":
            return value
        try:
            number = int(value)
        except ValueError as error:
            raise forms.ValidationError(TEAM_CHOICES) from error
        if not 1 <= number < 2**63:
            raise forms.ValidationError(TEAM_CHOICES)
        return number


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^(none|[0-9]+)$",
        "example": "none",
        "description": '"none" (no team) or a team id of the business (another '
        "business's, or unknown: 400).",
    }
)
class TeamFilter(django_filters.Filter):
    """`?team=none` (no team) or a team id of the caller's business."""

    field_class = TeamField

    def filter(self, qs, value):
        if value is None:
            return qs
        if value == "none":
            return qs.filter(team__isnull=True)
        business = business_of(self.parent.request)
        if not Team.objects.filter(pk=value, business=business).exists():
            raise ValidationError({"team": [NO_SUCH_TEAM]})
        return qs.filter(team_id=value)


MENTIONED_CHOICES = (("me", "me"),)
VIEW_CHOICES = (
    ("mine", "Mine"),
    ("unassigned", "Unassigned"),
    ("all", "All"),
    ("mentions", "Mentions"),
)


class ConversationFilter(django_filters.FilterSet):
    """Filters (all combine): `channel_type`, `status` (`snoozed` included),
    `assignee` (`me`, `none` or a user id), `channel` (a channel id of the
    caller's business; another business's or an unknown id answers 400 naming
    `channel`), `team` (`none` or a team id of the business; else 400 naming
    `team`), `label` (a label name of the business, ignoring case; an unknown
    name answers 400 naming `label`), `mentioned=me` (conversations where
    the caller has an unread mention, in the list's order: newest activity
    first) and `view`, the inbox page's views (`mine`: assigned to the
    caller; `unassigned`; `all`; `mentions`: as `mentioned=me`), so a saved
    filter reads the same on the page and through the API."""

    channel_type = django_filters.ChoiceFilter(choices=Channel.Type.choices)
    status = django_filters.ChoiceFilter(choices=Conversation.Status.choices)
    assignee = AssigneeFilter()
    channel = django_filters.UUIDFilter(
        method="filter_channel",
        help_text="A channel of the business (another's, or unknown: 400).",
    )
    team = TeamFilter()
    label = django_filters.CharFilter(
        method="filter_label",
        max_length=100,
        help_text="A label name of the business, ignoring case (unknown: 400).",
    )
    mentioned = django_filters.ChoiceFilter(
        choices=MENTIONED_CHOICES,
        method="filter_mentioned",
        help_text='"me": conversations where the caller has an unread mention '
        "(newest activity first, like the rest of the list).",
    )

    q = django_filters.CharFilter(
        method="filter_q",
        max_length=MAX_QUERY_LENGTH,
        help_text="Words to find: conversations with a message (inbound, "
        "outbound, note), e-mail subject or contact (name, company, handle, "
        "e-mail address, phone number in any format) matching them. "
        "GET /api/v1/search/ shows the matching message.",
    )

    view = django_filters.ChoiceFilter(
        choices=VIEW_CHOICES,
        method="filter_view",
        help_text="The inbox page's views: mine, unassigned, all, mentions.",
    )

    class Meta:
        model = Conversation
        fields = ["channel_type", "status", "assignee", "channel", "team"]

    def filter_view(self, queryset, name: str, value: str) -> Any:
        """The conversations of the page's view `value` for the caller."""
        if value == "mine":
            return queryset.filter(assignee_id=self.request.user.pk)
        if value == "unassigned":
            return queryset.filter(assignee__isnull=True)
        if value == "mentions":
            return conversations_mentioning(queryset, self.request.user.pk)
        return queryset

    def filter_q(self, queryset, name: str, value: str) -> Any:
        """The conversations matching the words of `value` (see
        `conversations.search.conversations_matching_q`); blank: all."""
        if not search_words(value):
            return queryset
        return queryset.filter(
            conversations_matching_q(business_of(self.request), value)
        )

    def filter_label(self, queryset, name: str, value: str) -> Any:
        """The conversations with the business's label `value` (ignoring
        case); `ValidationError` (400 naming `label`) when there is none."""
        if not value:
            return queryset
        label = label_named(business_of(self.request), value)
        if label is None:
            raise ValidationError({"label": [NO_SUCH_LABEL]})
        return conversations_labelled(queryset, label.pk)

    def filter_mentioned(self, queryset, name: str, value: str) -> Any:
        """`me`: the conversations where the caller has an unread mention."""
        if value != "me":
            return queryset
        return conversations_mentioning(queryset, self.request.user.pk)

    def filter_channel(self, queryset, name: str, value) -> Any:
        """The channel's conversations; `ValidationError` (400 naming
        `channel`) unless it is a channel of the caller's business."""
        if value is None:
            return queryset
        business = business_of(self.request)
        if not Channel.objects.filter(pk=value, business=business).exists():
            raise ValidationError({"channel": [NO_SUCH_CHANNEL]})
        return queryset.filter(channel_id=value)


def conversation_query_error(request: Request, query: str) -> str | None:
    """Why `query` (`status=open&label=vip`, a leading `?` allowed) is not a
    query string `GET /api/v1/conversations/` accepts for the caller: an
    unknown key, or a bad value (another business's team, an unknown label,
    ...); None when it is one. Pagination keys are not filters."""
    data = QueryDict(query.strip().lstrip("?"))
    filterset = ConversationFilter(
        data=data, request=request, queryset=Conversation.objects.none()
    )
    unknown = sorted(set(data) - set(filterset.filters))
    if unknown:
        return f"Unknown filter: {', '.join(unknown)}."
    if not filterset.is_valid():
        return " ".join(
            f"{key}: {' '.join(str(m) for m in messages)}"
            for key, messages in filterset.errors.items()
        )
    try:
        filterset.qs  # noqa: B018 (runs the checks against the business)
    except ValidationError as error:
        detail = error.detail if isinstance(error.detail, dict) else {}
        return (
            " ".join(
                f"{key}: {' '.join(str(m) for m in messages)}"
                for key, messages in detail.items()
            )
            or "Invalid filter."
        )
    return None


class StrictPageSizeMixin:
    """`?page_size=`: a whole number from 1 (more than `max_page_size` gives
    `max_page_size`; empty gives the default); anything else answers 400
    naming `page_size`, where DRF would silently use the default."""

    page_size: int
    page_size_query_param = "page_size"
    max_page_size: int

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":  # absent, or empty as a form leaves it
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ValidationError(
                {self.page_size_query_param: ["A whole number from 1."]}
            )
        return min(value, self.max_page_size)

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = (
                    f"Results per page (default {self.page_size}; more than "
                    f"{self.max_page_size} gives {self.max_page_size})."
                )
        return parameters


class InboxCursorPagination(StrictPageSizeMixin, CursorPagination):
    """Newest activity first; `?cursor=` from `next`; `page_size` up to 100.
    A list filtered by label is ordered by its label links' copy of the same
    times (`selectors.inbox_ordering`), which its index holds in order."""

    ordering = INBOX_ORDERING
    page_size = 25
    max_page_size = 100

    def get_ordering(self, request: Request, queryset, view) -> tuple[str, ...]:
        return inbox_ordering(queryset)


class MessageCursorPagination(StrictPageSizeMixin, CursorPagination):
    """Oldest first, so a thread reads top to bottom."""

    ordering = ("id",)
    page_size = 50
    max_page_size = 200


class ConversationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """List, show and update conversations; read and post their messages."""

    serializer_class = ConversationSerializer
    pagination_class = InboxCursorPagination
    filterset_class = ConversationFilter
    http_method_names = ["get", "post", "patch"]
    # Any segment reaches `get_object`, so a malformed id is a JSON 404 too.
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Conversation.objects.none()
        return inbox_conversation_list(business_of(self.request))

    def get_object(self) -> Conversation:
        # The thread and replies answer with messages only: the
        # conversation's labels are not read.
        labels = self.action != "messages"
        try:
            return conversation_get(
                business_of(self.request), int(self.kwargs["pk"]), labels=labels
            )
        except (Conversation.DoesNotExist, ValueError) as error:
            raise Http404("Conversation not found.") from error

    @extend_schema(
        responses={
            200: ConversationSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        }
    )
    def list(self, request: Request) -> Response:
        """The inbox, newest activity first (cursor pagination). 400 for an
        invalid filter value (the filter named); 404 for an invalid `cursor`."""
        return super().list(request)

    @extend_schema(
        responses={200: ConversationSerializer, **error_responses(401, 403, 404)}
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        """One conversation; 404 when it is not the caller's business's."""
        return super().retrieve(request, pk=pk)

    @extend_schema(
        request=ConversationUpdateSerializer,
        responses={
            200: ConversationSerializer,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change the status (`snoozed` with an optional future `snoozed_until`),
        the assignee, the team (`team_id`, null: none) and/or the labels
        (`labels`: names, replacing the set); each change is recorded in the
        thread as an activity entry naming the caller. A foreign or unknown
        id or name answers 400 naming its field, and nothing changes."""
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
            snoozed_until=data.get("snoozed_until"),
            team=data.get("team_id"),
            unteam="team_id" in data and data["team_id"] is None,
            labels=data.get("labels"),
            by=request.user,
        )
        return Response(ConversationSerializer(self.get_object()).data)

    @extend_schema(
        request=ConversationBulkSerializer,
        responses={
            200: ConversationBulkResultSerializer,
            **error_responses(400, 401, 403, 415),
        },
    )
    @action(detail=False, methods=["post"], filterset_class=None)
    def bulk(self, request: Request) -> Response:
        """Apply one change (`status`, `snoozed_until`, `assignee_id`,
        `team_id`, as for PATCH, and `labels_add` / `labels_remove`, label
        names) to up to 100 of the business's conversations (`ids`), all or
        nothing: a missing or another business's id answers 400 naming `ids`
        (an unknown team or label, its field) and nothing changes. Each change
        is recorded as an activity entry. Answers 200 `{"updated": n}`."""
        business = business_of(request)
        serializer = ConversationBulkSerializer(
            data=request.data, context={"business": business}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            updated = conversations_bulk_update(
                business_id=business.pk,
                ids=data["ids"],
                by=request.user,
                status=data.get("status"),
                assignee=data.get("assignee_id"),
                unassign="assignee_id" in data and data["assignee_id"] is None,
                snoozed_until=data.get("snoozed_until"),
                team=data.get("team_id"),
                unteam="team_id" in data and data["team_id"] is None,
                labels_add=data.get("labels_add", ()),
                labels_remove=data.get("labels_remove", ()),
            )
        except ConversationsNotFound as error:
            raise ValidationError({"ids": [error.detail]}) from error
        return Response({"updated": updated})

    @extend_schema(
        request=None,
        responses={200: InboxViewCountsSerializer, **error_responses(401, 403)},
        filters=False,
    )
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def counts(self, request: Request) -> Response:
        """The numbers beside the inbox views, for the caller: `mine` (open
        and assigned to them), `unassigned` (open, no assignee), `all` (open),
        `mentions` (conversations, any status, where they have an unread
        mention)."""
        return Response(inbox_view_counts(business_of(request), request.user))

    @extend_schema(
        methods=["GET"],
        responses={
            200: MessageSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        },
        filters=False,
    )
    @extend_schema(
        methods=["POST"],
        request={
            "application/json": ReplyJsonSerializer,
            "multipart/form-data": ReplyUploadSerializer,
        },
        responses={
            201: NoteSerializer,
            202: MessageSerializer,
            **error_responses(400, 401, 403, 404, 409, 415),
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        filterset_class=None,
        pagination_class=MessageCursorPagination,
    )
    def messages(self, request: Request, pk: str) -> Response:
        """GET: the thread, oldest first (cursor pagination). POST: an agent's
        reply; answers 202 with the message `queued` (delivery is async; 409 when
        the channel is deactivated). With `private: true`: a private note,
        answered 201 with the note (kind `note`) and `mentions`, the user ids
        of the agents it names with `@name`; never sent."""
        conversation = self.get_object()
        if request.method == "POST":
            data = request.data
            if hasattr(data, "getlist"):  # multipart: `files` repeats
                data = {**data.dict(), "files": request.FILES.getlist("files")}
            serializer = ReplySerializer(
                data=data, context={"conversation": conversation}
            )
            serializer.is_valid(raise_exception=True)
            valid = serializer.validated_data
            if valid.get("private"):
                note = post_note(
                    conversation=conversation,
                    author=request.user,
                    text=valid.get("text", ""),
                )
                return Response(
                    NoteSerializer(note).data, status=status.HTTP_201_CREATED
                )
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
        page = self.paginate_queryset(conversation_message_list(conversation))
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(
        parameters=[MESSAGE_ID],
        request=None,
        responses={
            202: MessageSerializer,
            **error_responses(401, 403, 404, 409),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"messages/(?P<message_id>[^/]+)/retry",
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

    @extend_schema(
        parameters=[MESSAGE_ID],
        request=None,
        responses={
            200: MessageSerializer,
            **error_responses(401, 403, 404, 409),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"messages/(?P<message_id>[^/]+)/mark-sent",
        filterset_class=None,
    )
    def mark_sent(self, request: Request, pk: str, message_id: str) -> Response:
        """Record that an `uncertain` reply did reach the customer: 200 with
        the message `sent`; 409 when it is not uncertain; 404 when the
        conversation has no such message."""
        message = message_mark_sent(message=self._message(message_id))
        return Response(MessageSerializer(message).data)

    @extend_schema(
        parameters=[MESSAGE_ID],
        request=ReactionSerializer,
        responses={
            200: MessageSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"messages/(?P<message_id>[^/]+)/reactions",
        filterset_class=None,
    )
    def reactions(self, request: Request, pk: str, message_id: str) -> Response:
        """Set the caller's reaction to a message, `{"emoji": "👍"}`, or remove
        it with `{"emoji": ""}`: 200 with the message and its `reactions`;
        the business's reaction is then sent to the platform in the
        background. 400 naming `emoji` when it is not one emoji; 400 when the
        channel's platform does not take reactions (`reactions_unsupported`)
        or the message cannot take one (a note, a reply not sent yet:
        `not_reactable`); 409 when the channel is deactivated; 404 when the
        conversation has no such message."""
        message = self._message(message_id)
        serializer = ReactionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = message_react(
            message=message,
            agent=request.user,
            emoji=serializer.validated_data["emoji"],
        )
        return Response(MessageSerializer(message).data)

    def _message(self, message_id: str) -> Message:
        """Message `message_id` of the conversation in the URL; `Http404` (a
        JSON 404) when the conversation is not the caller's business's, or
        `message_id` is not a whole number or names no message of it."""
        conversation = self.get_object()
        try:
            pk = int(message_id)
        except ValueError as error:
            raise Http404("Message not found.") from error
        message = conversation_message_list(conversation).filter(pk=pk).first()
        if message is None:
            raise Http404("Message not found.")
        return message

"""`/api/v1/teams/`, `/api/v1/labels/`, `/api/v1/canned_responses/`: what a
business's agents share; `/api/v1/agents/`: who they are;
`/api/v1/saved_filters/`: each agent's own saved inbox filters.

Teams, labels, canned responses: members read; only admins create, change and
delete (agents get 403 and nothing changes). Saved filters: every member
manages their own and sees nobody else's. Another business's (or member's)
object answers 404 exactly like an id that does not exist, as does an id that
is not a whole number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import Member
from billing.permissions import IsBusinessMember, business_of, member_of
from conversations.api.views import StrictPageSizeMixin, conversation_query_error
from pingback.api import error_responses
from workspace import selectors, services
from workspace.api.serializers import (
    AgentOutputSerializer,
    CannedResponseInputSerializer,
    CannedResponseOutputSerializer,
    LabelInputSerializer,
    LabelOutputSerializer,
    SavedFilterInputSerializer,
    SavedFilterOutputSerializer,
    SearchQuerySerializer,
    TeamInputSerializer,
    TeamOutputSerializer,
)
from workspace.models import CannedResponse, Label, SavedFilter, Team

Row = TypeVar("Row", bound=models.Model)

SEARCH = OpenApiParameter(
    "search",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Keep only rows containing this text, ignoring case (at most "
    "100 characters; empty: no filter).",
)


def _id_parameter(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        int,
        OpenApiParameter.PATH,
        description=f"Id of a {what} of the caller's business (anything else "
        "answers 404).",
    )


TEAM_ID = _id_parameter("team_id", "team")
LABEL_ID = _id_parameter("label_id", "label")
CANNED_RESPONSE_ID = _id_parameter("canned_response_id", "canned response")
SAVED_FILTER_ID = OpenApiParameter(
    "saved_filter_id",
    int,
    OpenApiParameter.PATH,
    description="Id of one of the caller's saved filters (anything else, another "
    "member's included, answers 404).",
)


class IsBusinessAdminForWrites(IsBusinessMember):
    """Members read (GET, HEAD, OPTIONS); only admins write."""

    message = "Only a business admin may change this."

    def has_permission(self, request, view) -> bool:
        member = member_of(request.user)
        if member is None:
            return False
        return request.method in ("GET", "HEAD", "OPTIONS") or member.is_admin


class WorkspacePagination(StrictPageSizeMixin, CursorPagination):
    """In name order ignoring case (the selectors' `sort_name`), or short code
    order; `?cursor=` from `next`; `page_size` up to 200 (default 50)."""

    ordering = ("sort_name", "id")
    page_size = 50
    max_page_size = 200


class CannedResponsePagination(WorkspacePagination):
    ordering = ("short_code", "id")


def _lookup(get: Callable[[Any, int], Row], request: Request, row_id: str, what: str):
    """The caller's business's row `row_id` via `get`; JSON 404 when `row_id` is
    not a whole number or names no row of the business."""
    try:
        return get(business_of(request), int(row_id))
    except (ObjectDoesNotExist, ValueError) as error:
        raise Http404(f"No such {what}.") from error


def _refusal(error: DjangoValidationError) -> serializers.ValidationError:
    """A service's refusal (a dict naming the field) as a 400 answer."""
    return serializers.ValidationError(error.message_dict)


def _search(request: Request) -> str:
    query = SearchQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data["search"]


class _WorkspaceViewSet(viewsets.GenericViewSet):
    permission_classes = [IsBusinessAdminForWrites]
    pagination_class = WorkspacePagination
    http_method_names = ["get", "post", "patch", "delete"]
    # Any segment reaches the lookup, so a malformed id is a JSON 404 too.
    lookup_value_regex = "[^/]+"

    def _page(self, rows, serializer_class) -> Response:
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(serializer_class(page, many=True).data)


class TeamViewSet(_WorkspaceViewSet):
    """The business's teams. Errors: 400 bad body (field named; a name the
    business already uses, ignoring case; `member_ids` naming someone who is
    not a member of the business), 401, 403 (not a member, or an agent
    writing), 404 unknown team or another business's, 415."""

    # For the schema only (the model behind the views); reads go through
    # the selectors, scoped to the caller's business.
    queryset = Team.objects.none()
    lookup_field = "team_id"

    @extend_schema(
        responses={
            200: TeamOutputSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        }
    )
    def list(self, request: Request) -> Response:
        """The business's teams by name, members included (paginated)."""
        return self._page(
            selectors.team_list(business_of(request)), TeamOutputSerializer
        )

    @extend_schema(
        request=TeamInputSerializer,
        responses={201: TeamOutputSerializer, **error_responses(400, 401, 403, 415)},
    )
    def create(self, request: Request) -> Response:
        """Create a team (admins)."""
        data = _valid(TeamInputSerializer, request)
        try:
            team = services.team_create(
                business=business_of(request),
                name=data["name"],
                description=data.get("description", ""),
                member_user_ids=data.get("member_ids", ()),
            )
        except DjangoValidationError as error:
            raise _refusal(error) from error
        team = selectors.team_get(business_of(request), team.pk)
        return Response(TeamOutputSerializer(team).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[TEAM_ID],
        responses={200: TeamOutputSerializer, **error_responses(401, 403, 404)},
    )
    def retrieve(self, request: Request, team_id: str) -> Response:
        """One team."""
        team = _lookup(selectors.team_get, request, team_id, "team")
        return Response(TeamOutputSerializer(team).data)

    @extend_schema(
        parameters=[TEAM_ID],
        request=TeamInputSerializer,
        responses={
            200: TeamOutputSerializer,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    def partial_update(self, request: Request, team_id: str) -> Response:
        """Change any of `name`, `description`, `member_ids` (admins)."""
        team = _lookup(selectors.team_get, request, team_id, "team")
        data = _valid(TeamInputSerializer, request, partial=True)
        try:
            team = services.team_update(
                team=team,
                name=data.get("name"),
                description=data.get("description"),
                member_user_ids=data.get("member_ids"),
            )
        except DjangoValidationError as error:
            raise _refusal(error) from error
        team = selectors.team_get(business_of(request), team.pk)
        return Response(TeamOutputSerializer(team).data)

    @extend_schema(
        parameters=[TEAM_ID],
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def destroy(self, request: Request, team_id: str) -> Response:
        """Delete a team (admins); its members stay in the business."""
        services.team_delete(team=_lookup(selectors.team_get, request, team_id, "team"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelViewSet(_WorkspaceViewSet):
    """The business's labels. Errors: 400 bad body or `search` (field named;
    a name the business already uses, ignoring case), 401, 403 (not a member,
    or an agent writing), 404 unknown label or another business's, 415."""

    # For the schema only (the model behind the views); reads go through
    # the selectors, scoped to the caller's business.
    queryset = Label.objects.none()
    lookup_field = "label_id"

    @extend_schema(
        parameters=[SEARCH],
        responses={
            200: LabelOutputSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        },
    )
    def list(self, request: Request) -> Response:
        """The business's labels by name (paginated), `?search=` in the name."""
        labels = selectors.label_list(business_of(request), search=_search(request))
        return self._page(labels, LabelOutputSerializer)

    @extend_schema(
        request=LabelInputSerializer,
        responses={201: LabelOutputSerializer, **error_responses(400, 401, 403, 415)},
    )
    def create(self, request: Request) -> Response:
        """Create a label (admins)."""
        data = _valid(LabelInputSerializer, request)
        try:
            label = services.label_create(business=business_of(request), **data)
        except DjangoValidationError as error:
            raise _refusal(error) from error
        return Response(
            LabelOutputSerializer(label).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        parameters=[LABEL_ID],
        responses={200: LabelOutputSerializer, **error_responses(401, 403, 404)},
    )
    def retrieve(self, request: Request, label_id: str) -> Response:
        """One label."""
        label = _lookup(selectors.label_get, request, label_id, "label")
        return Response(LabelOutputSerializer(label).data)

    @extend_schema(
        parameters=[LABEL_ID],
        request=LabelInputSerializer,
        responses={
            200: LabelOutputSerializer,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    def partial_update(self, request: Request, label_id: str) -> Response:
        """Change any of `name`, `color`, `description` (admins)."""
        label = _lookup(selectors.label_get, request, label_id, "label")
        data = _valid(LabelInputSerializer, request, partial=True)
        try:
            label = services.label_update(label=label, **data)
        except DjangoValidationError as error:
            raise _refusal(error) from error
        return Response(LabelOutputSerializer(label).data)

    @extend_schema(
        parameters=[LABEL_ID],
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def destroy(self, request: Request, label_id: str) -> Response:
        """Delete a label (admins)."""
        label = _lookup(selectors.label_get, request, label_id, "label")
        services.label_delete(label=label)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CannedResponseViewSet(_WorkspaceViewSet):
    """The business's canned responses. Errors: 400 bad body or `search`
    (field named; a short code the business already uses), 401, 403 (not a
    member, or an agent writing), 404 unknown canned response or another
    business's, 415."""

    # For the schema only (the model behind the views); reads go through
    # the selectors, scoped to the caller's business.
    queryset = CannedResponse.objects.none()
    lookup_field = "canned_response_id"
    pagination_class = CannedResponsePagination

    @extend_schema(
        parameters=[SEARCH],
        responses={
            200: CannedResponseOutputSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        },
    )
    def list(self, request: Request) -> Response:
        """The business's canned responses by short code (paginated);
        `?search=` in the short code or the content."""
        canned = selectors.canned_response_list(
            business_of(request), search=_search(request)
        )
        return self._page(canned, CannedResponseOutputSerializer)

    @extend_schema(
        request=CannedResponseInputSerializer,
        responses={
            201: CannedResponseOutputSerializer,
            **error_responses(400, 401, 403, 415),
        },
    )
    def create(self, request: Request) -> Response:
        """Create a canned response (admins); the caller is its `created_by`."""
        data = _valid(CannedResponseInputSerializer, request)
        try:
            canned = services.canned_response_create(
                business=business_of(request),
                created_by=member_of(request.user),
                **data,
            )
        except DjangoValidationError as error:
            raise _refusal(error) from error
        return Response(
            CannedResponseOutputSerializer(canned).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        parameters=[CANNED_RESPONSE_ID],
        responses={
            200: CannedResponseOutputSerializer,
            **error_responses(401, 403, 404),
        },
    )
    def retrieve(self, request: Request, canned_response_id: str) -> Response:
        """One canned response."""
        canned = _lookup(
            selectors.canned_response_get,
            request,
            canned_response_id,
            "canned response",
        )
        return Response(CannedResponseOutputSerializer(canned).data)

    @extend_schema(
        parameters=[CANNED_RESPONSE_ID],
        request=CannedResponseInputSerializer,
        responses={
            200: CannedResponseOutputSerializer,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    def partial_update(self, request: Request, canned_response_id: str) -> Response:
        """Change `short_code` and/or `content` (admins)."""
        canned = _lookup(
            selectors.canned_response_get,
            request,
            canned_response_id,
            "canned response",
        )
        data = _valid(CannedResponseInputSerializer, request, partial=True)
        try:
            canned = services.canned_response_update(canned=canned, **data)
        except DjangoValidationError as error:
            raise _refusal(error) from error
        return Response(CannedResponseOutputSerializer(canned).data)

    @extend_schema(
        parameters=[CANNED_RESPONSE_ID],
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def destroy(self, request: Request, canned_response_id: str) -> Response:
        """Delete a canned response (admins)."""
        canned = _lookup(
            selectors.canned_response_get,
            request,
            canned_response_id,
            "canned response",
        )
        services.canned_response_delete(canned=canned)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AgentPagination(StrictPageSizeMixin, CursorPagination):
    """By user id; `?cursor=` from `next`; `page_size` up to 200 (default 50)."""

    ordering = ("user_id",)
    page_size = 50
    max_page_size = 200


class AgentViewSet(viewsets.GenericViewSet):
    """The members of the caller's business (read-only), to find the user ids
    that `assignee_id` and `?assignee=` take. Errors: 400 bad `page_size`,
    401, 403 (not a member), 404 bad `cursor`."""

    permission_classes = [IsBusinessMember]
    pagination_class = AgentPagination
    queryset = Member.objects.none()  # for the schema only

    @extend_schema(
        responses={
            200: AgentOutputSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        }
    )
    def list(self, request: Request) -> Response:
        """The business's agents and admins by user id: `{id (user id), name,
        email, role, teams (team ids)}` (paginated; a fixed number of queries
        however many)."""
        page = self.paginate_queryset(selectors.agent_list(business_of(request)))
        return self.get_paginated_response(AgentOutputSerializer(page, many=True).data)


class SavedFilterViewSet(_WorkspaceViewSet):
    """The caller's saved inbox filters: each member creates, reads, changes
    and deletes their own; another member's answers 404. Errors: 400 bad body
    (field named: `name` taken among the caller's, ignoring case; `query` with
    an unknown key or a bad value), 401, 403 (not a member), 404, 415."""

    permission_classes = [IsBusinessMember]
    queryset = SavedFilter.objects.none()  # for the schema only
    lookup_field = "saved_filter_id"

    def _get(self, request: Request, saved_filter_id: str) -> SavedFilter:
        try:
            return selectors.saved_filter_get(
                member_of(request.user), int(saved_filter_id)
            )
        except (SavedFilter.DoesNotExist, ValueError) as error:
            raise Http404("No such saved filter.") from error

    def _input(self, request: Request, *, partial: bool = False) -> dict[str, Any]:
        serializer = SavedFilterInputSerializer(
            data=request.data,
            partial=partial,
            context={"check_query": lambda q: conversation_query_error(request, q)},
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(
        responses={
            200: SavedFilterOutputSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        }
    )
    def list(self, request: Request) -> Response:
        """The caller's saved filters by name (paginated)."""
        return self._page(
            selectors.saved_filter_list(member_of(request.user)),
            SavedFilterOutputSerializer,
        )

    @extend_schema(
        request=SavedFilterInputSerializer,
        responses={
            201: SavedFilterOutputSerializer,
            **error_responses(400, 401, 403, 415),
        },
    )
    def create(self, request: Request) -> Response:
        """Save a filter for the caller."""
        data = self._input(request)
        try:
            saved = services.saved_filter_create(member=member_of(request.user), **data)
        except DjangoValidationError as error:
            raise _refusal(error) from error
        return Response(
            SavedFilterOutputSerializer(saved).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        parameters=[SAVED_FILTER_ID],
        responses={200: SavedFilterOutputSerializer, **error_responses(401, 403, 404)},
    )
    def retrieve(self, request: Request, saved_filter_id: str) -> Response:
        """One of the caller's saved filters."""
        saved = self._get(request, saved_filter_id)
        return Response(SavedFilterOutputSerializer(saved).data)

    @extend_schema(
        parameters=[SAVED_FILTER_ID],
        request=SavedFilterInputSerializer,
        responses={
            200: SavedFilterOutputSerializer,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    def partial_update(self, request: Request, saved_filter_id: str) -> Response:
        """Change `name` and/or `query`."""
        saved = self._get(request, saved_filter_id)
        data = self._input(request, partial=True)
        try:
            saved = services.saved_filter_update(saved=saved, **data)
        except DjangoValidationError as error:
            raise _refusal(error) from error
        return Response(SavedFilterOutputSerializer(saved).data)

    @extend_schema(
        parameters=[SAVED_FILTER_ID],
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def destroy(self, request: Request, saved_filter_id: str) -> Response:
        """Delete one of the caller's saved filters."""
        services.saved_filter_delete(saved=self._get(request, saved_filter_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _valid(
    serializer_class: type[serializers.Serializer],
    request: Request,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """The request body validated by `serializer_class`; 400 naming the fields
    otherwise."""
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)

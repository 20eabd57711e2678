"""`/api/v1/members/`: a business's admins invite, list, change and
deactivate its members, through the same services as the settings pages."""

from __future__ import annotations

import smtplib

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors, services
from billing.api.serializers import (
    MemberDeactivatedSerializer,
    MemberInvitedSerializer,
    MemberInviteSerializer,
    MemberRoleSerializer,
    MemberSerializer,
)
from billing.models import Member
from billing.permissions import IsBusinessAdmin, business_of, member_of
from conversations.api.views import StrictPageSizeMixin
from pingback.api import error_responses

MEMBER_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Member id.")


class IsMemberAdmin(IsBusinessAdmin):
    message = "Only a business admin may manage members."


class MemberPagination(StrictPageSizeMixin, CursorPagination):
    """By member id; `?cursor=` from `next`; `page_size` up to 200 (default 50)."""

    ordering = ("id",)
    page_size = 50
    max_page_size = 200


class MemberViewSet(viewsets.GenericViewSet):
    """The members of the caller's business, for its admins (agents: 403).
    Another business's member answers 404 like an unknown id.

    Errors: 400 a refused field, named (`email`, `role`); 401; 403 not an
    admin; 404; 409 `last_admin` when the change would leave the business
    without an active admin; 415."""

    permission_classes = [IsMemberAdmin]
    pagination_class = MemberPagination
    queryset = Member.objects.none()  # for the schema only
    http_method_names = ["get", "post", "patch"]
    lookup_url_kwarg = "member_id"
    lookup_value_regex = "[^/]+"

    def _member(self, request: Request, member_id: str) -> Member:
        try:
            return selectors.member_get(business_of(request), int(member_id))
        except (Member.DoesNotExist, ValueError) as error:
            raise Http404("No such member.") from error

    @extend_schema(
        responses={
            200: MemberSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        }
    )
    def list(self, request: Request) -> Response:
        """The business's members by id (paginated)."""
        members = Member.objects.filter(business=business_of(request)).select_related(
            "user"
        )
        page = self.paginate_queryset(members)
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(
        request=MemberInviteSerializer,
        responses={
            201: MemberInvitedSerializer,
            **error_responses(400, 401, 403, 415),
        },
    )
    def create(self, request: Request) -> Response:
        """Invite `email` as a member with `role`: they are e-mailed a link,
        working once for 7 days, to choose a password (state `invited` until
        then)."""
        serializer = MemberInviteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        business = business_of(request)
        sent = True
        try:
            invitation, _ = services.member_invite(
                business=business,
                by=member_of(request.user),
                **serializer.validated_data,
            )
            member = invitation.member
        except (OSError, smtplib.SMTPException):
            sent = False
            member = Member.objects.select_related("user").get(
                business=business,
                user__username__iexact=serializer.validated_data["email"].strip(),
            )
        member.invitation_sent = sent
        return Response(
            MemberInvitedSerializer(member).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        parameters=[MEMBER_ID],
        responses={200: MemberSerializer, **error_responses(401, 403, 404)},
    )
    def retrieve(self, request: Request, member_id: str) -> Response:
        """One member."""
        return Response(MemberSerializer(self._member(request, member_id)).data)

    @extend_schema(
        parameters=[MEMBER_ID],
        request=MemberRoleSerializer,
        responses={
            200: MemberSerializer,
            **error_responses(400, 401, 403, 404, 409, 415),
        },
    )
    def partial_update(self, request: Request, member_id: str) -> Response:
        """Change the member's `role`."""
        member = self._member(request, member_id)
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.member_role_change(
            member=member,
            role=serializer.validated_data["role"],
            by=member_of(request.user),
        )
        return Response(MemberSerializer(member).data)

    @extend_schema(
        parameters=[MEMBER_ID],
        request=None,
        responses={
            200: MemberDeactivatedSerializer,
            **error_responses(401, 403, 404, 409),
        },
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, member_id: str) -> Response:
        """Deactivate the member: no more log-in or token; their open,
        pending and snoozed conversations are unassigned, each with an
        activity entry naming the caller. Deactivating again changes
        nothing."""
        member = self._member(request, member_id)
        count = services.member_deactivate(member=member, by=member_of(request.user))
        member.unassigned_conversations = count
        return Response(MemberDeactivatedSerializer(member).data)

    @extend_schema(
        parameters=[MEMBER_ID],
        request=None,
        responses={200: MemberSerializer, **error_responses(401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, member_id: str) -> Response:
        """Let a deactivated member log in and use their tokens again."""
        member = self._member(request, member_id)
        services.member_reactivate(member=member, by=member_of(request.user))
        return Response(MemberSerializer(member).data)

    @extend_schema(
        parameters=[MEMBER_ID],
        request=None,
        responses={200: MemberInvitedSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def resend_invitation(self, request: Request, member_id: str) -> Response:
        """E-mail a member in state `invited` a new link; older links stop
        working. 400 for a member who has a password or is deactivated."""
        member = self._member(request, member_id)
        try:
            services.member_invite_resend(member=member, by=member_of(request.user))
            member.invitation_sent = True
        except (OSError, smtplib.SMTPException):
            member.invitation_sent = False
        return Response(MemberInvitedSerializer(member).data)

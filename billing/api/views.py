"""`/api/v1/tokens/`: a member's own API tokens (list, create, revoke)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from billing.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
)
from billing.models import ApiToken
from billing.selectors import api_token_get, api_token_list
from billing.services import api_token_create, api_token_revoke
from pingback.api import error_responses

TOKEN_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Token id.")


class ApiTokenViewSet(viewsets.ViewSet):
    """The caller's own API tokens. Any member (agent or admin) manages their own
    tokens only: another member's token, in this business or another, answers
    404 exactly like an id that does not exist.

    Errors (JSON, `{"detail": ...}` or a field's messages): 400 bad body, 401
    no valid credentials, 403 a logged-in user who is not a member, 404 unknown
    token or an id that is not a whole number, 415 a body without a
    `Content-Type` PingBack reads.
    """

    http_method_names = ["get", "post", "delete"]
    # Any segment reaches `_token`, so a malformed id (`abc`, `1.5`) is the
    # same JSON 404 as an unknown one, not Django's HTML page.
    lookup_value_regex = "[^/]+"

    def _token(self, request: Request, pk: str) -> ApiToken:
        """The caller's token `pk`; `Http404` (JSON 404) when `pk` is not a
        whole number, or names no token of the caller's."""
        try:
            return api_token_get(request.user.member, int(pk))
        except (ApiToken.DoesNotExist, ValueError) as error:
            raise Http404("No such token.") from error

    @extend_schema(
        responses={
            200: ApiTokenSerializer(many=True),
            **error_responses(401, 403),
        }
    )
    def list(self, request: Request) -> Response:
        """The caller's tokens, newest first, revoked ones included."""
        tokens = api_token_list(request.user.member)
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(
        request=ApiTokenCreateSerializer,
        responses={
            201: ApiTokenCreatedSerializer,
            **error_responses(400, 401, 403, 415),
        },
    )
    def create(self, request: Request) -> Response:
        """Create a token for the caller; the answer's `token` is the clear token,
        shown this once only."""
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, clear = api_token_create(
            member=request.user.member, name=serializer.validated_data["name"]
        )
        token.token = clear
        # The answer holds a secret: no cache along the way may keep it.
        return Response(
            ApiTokenCreatedSerializer(token).data,
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )

    @extend_schema(
        parameters=[TOKEN_ID],
        responses={200: ApiTokenSerializer, **error_responses(401, 403, 404)},
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        """One of the caller's tokens."""
        return Response(ApiTokenSerializer(self._token(request, pk)).data)

    @extend_schema(
        parameters=[TOKEN_ID],
        request=None,
        responses={200: ApiTokenSerializer, **error_responses(401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        """Revoke one of the caller's tokens: every later request with it answers
        401. Revoking a revoked token changes nothing. Answers the token."""
        token = api_token_revoke(token=self._token(request, pk))
        return Response(ApiTokenSerializer(token).data)

    @extend_schema(
        parameters=[TOKEN_ID],
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def destroy(self, request: Request, pk: str) -> Response:
        """Same as `POST .../revoke/` (the row is kept, revoked); answers 204."""
        api_token_revoke(token=self._token(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

"""`/api/v1/automation-rules/`: a business's automation rules (admins only).

List in run order, create (last in the order), read, change (`position`
moves a rule; `is_active` false disables it), delete. Bodies are JSON;
`conditions` and `actions` are objects (docs/automation.md). A refused value
answers 400 naming the field (`{"actions.assign_team_id": ["No such team in
this business."]}`); an id of another business's team, label, agent, canned
response, channel or webhook endpoint is refused the same way. Another
business's rule, or an id that is not a whole number, answers 404.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from automation import selectors, services
from automation.api.serializers import RuleInputSerializer, RuleOutputSerializer
from automation.models import Rule
from billing.permissions import IsBusinessAdmin, business_of
from pingback.api import error_responses

RULE_ID = OpenApiParameter(
    "rule_id",
    int,
    OpenApiParameter.PATH,
    description="Id of an automation rule of the caller's business (anything "
    "else answers 404).",
)


class IsAutomationAdmin(IsBusinessAdmin):
    message = "Only a business admin may manage automation rules."


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"non_field_errors": ["A JSON object."]})
    return dict(request.data)


def _refused(error: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(error.message_dict)


class AutomationRuleViewSet(viewsets.GenericViewSet):
    """The business's automation rules. Errors: 400 bad body (field named),
    401, 403 (not an admin), 404 unknown rule or another business's, 415."""

    permission_classes = [IsAutomationAdmin]
    queryset = Rule.objects.none()  # for the schema only
    lookup_field = "rule_id"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete"]

    def _rule(self, request: Request, rule_id: str) -> Rule:
        try:
            return selectors.rule_get(business_of(request), int(rule_id))
        except (Rule.DoesNotExist, ValueError) as error:
            raise Http404("No such automation rule.") from error

    @extend_schema(
        responses={200: RuleOutputSerializer(many=True), **error_responses(401, 403)}
    )
    def list(self, request: Request) -> Response:
        """The business's rules in the order they run (not paginated)."""
        rows = selectors.rule_list(business_of(request))
        return Response(RuleOutputSerializer(rows, many=True).data)

    @extend_schema(
        request=RuleInputSerializer,
        responses={201: RuleOutputSerializer, **error_responses(400, 401, 403, 415)},
    )
    def create(self, request: Request) -> Response:
        """Create a rule, last in the order."""
        try:
            rule = services.rule_create(
                business=business_of(request), data=_body(request)
            )
        except DjangoValidationError as error:
            raise _refused(error) from error
        return Response(RuleOutputSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[RULE_ID],
        responses={200: RuleOutputSerializer, **error_responses(401, 403, 404)},
    )
    def retrieve(self, request: Request, rule_id: str) -> Response:
        """One rule."""
        return Response(RuleOutputSerializer(self._rule(request, rule_id)).data)

    @extend_schema(
        parameters=[RULE_ID],
        request=RuleInputSerializer(partial=True),
        responses={
            200: RuleOutputSerializer,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    def partial_update(self, request: Request, rule_id: str) -> Response:
        """Change the fields given; `conditions` and `actions` are replaced
        whole. `position` moves the rule (0 first)."""
        rule = self._rule(request, rule_id)
        try:
            services.rule_update(rule=rule, data=_body(request))
        except DjangoValidationError as error:
            raise _refused(error) from error
        rule.refresh_from_db()
        return Response(RuleOutputSerializer(rule).data)

    @extend_schema(
        parameters=[RULE_ID],
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def destroy(self, request: Request, rule_id: str) -> Response:
        """Delete the rule."""
        services.rule_delete(rule=self._rule(request, rule_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

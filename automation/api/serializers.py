"""Shapes of `/api/v1/automation-rules/` (see docs/automation.md for the
keys of `conditions` and `actions`)."""

from __future__ import annotations

from rest_framework import serializers

from automation.models import Rule, Trigger


class ConditionsSerializer(serializers.Serializer):
    """Every key optional; all those given must hold."""

    channel_types = serializers.ListField(child=serializers.CharField(), required=False)
    channel_ids = serializers.ListField(child=serializers.CharField(), required=False)
    text_contains = serializers.ListField(child=serializers.CharField(), required=False)
    contact_attribute = serializers.DictField(
        child=serializers.CharField(), required=False
    )
    label_id = serializers.IntegerField(required=False)
    label_absent = serializers.BooleanField(required=False)
    business_hours = serializers.ChoiceField(["open", "closed"], required=False)
    languages = serializers.ListField(child=serializers.CharField(), required=False)


class ActionsSerializer(serializers.Serializer):
    """Every key optional, at least one given; done in this order."""

    assign_team_id = serializers.IntegerField(required=False)
    assign_agent_id = serializers.IntegerField(required=False, help_text="A user id.")
    add_label_id = serializers.IntegerField(required=False)
    priority = serializers.ChoiceField(
        ["none", "low", "medium", "high", "urgent"], required=False
    )
    canned_response_id = serializers.IntegerField(required=False)
    snooze_minutes = serializers.IntegerField(
        required=False, help_text="0: until the customer writes."
    )
    resolve = serializers.BooleanField(required=False)
    webhook_endpoint_id = serializers.IntegerField(required=False)


class RuleInputSerializer(serializers.Serializer):
    """A rule as written (for the schema: the service checks the values,
    and answers 400 naming the field, dotted inside `conditions` and
    `actions`: `actions.assign_team_id`). `position` (update only) moves
    the rule (0 first)."""

    name = serializers.CharField(max_length=100)
    trigger = serializers.ChoiceField(Trigger.choices)
    trigger_status = serializers.CharField(required=False, allow_blank=True)
    unanswered_minutes = serializers.IntegerField(required=False, allow_null=True)
    conditions = ConditionsSerializer(required=False)
    actions = ActionsSerializer()
    is_active = serializers.BooleanField(required=False)
    position = serializers.IntegerField(required=False, min_value=0)


class RuleOutputSerializer(serializers.ModelSerializer):
    """A rule as read."""

    conditions = ConditionsSerializer()
    actions = ActionsSerializer()

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "trigger",
            "trigger_status",
            "unanswered_minutes",
            "conditions",
            "actions",
            "position",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

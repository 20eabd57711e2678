"""Shapes of `/api/v1/webhooks/`."""

from __future__ import annotations

from rest_framework import serializers

from webhooks.models import EventType, WebhookAttempt, WebhookEndpoint


class EndpointInputSerializer(serializers.Serializer):
    """An endpoint as written: `url` (http or https, at most 2,000
    characters), `events` (event types, at least one), `description`
    (optional, at most 200), `is_active` (on update: false disables it, true
    enables it again)."""

    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        max_length=len(EventType.values),
    )
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True
    )
    is_active = serializers.BooleanField(required=False)


class EndpointOutputSerializer(serializers.ModelSerializer):
    """An endpoint as read: never its secret (shown only by create and
    `rotate_secret`). `previous_secret_expires_at`: until when the secret
    before the last rotation still signs (null: none)."""

    previous_secret_expires_at = serializers.DateTimeField(
        source="previous_expires_at", allow_null=True
    )
    events = serializers.ListField(child=serializers.ChoiceField(EventType.choices))

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "is_active",
            "disabled_reason",
            "disabled_at",
            "failing_since",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointOutputSerializer):
    """An endpoint with its signing `secret` (`whsec_<base64>`): the answer
    of create and `rotate_secret`, the only times the secret is shown."""

    secret = serializers.CharField()

    class Meta(EndpointOutputSerializer.Meta):
        fields = [*EndpointOutputSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class AttemptOutputSerializer(serializers.ModelSerializer):
    """One delivery attempt: `event_id`, `webhook_id` (the `webhook-id`
    header), `event_type`, `event_status` (pending, sending, delivered,
    failed), `outcome` (delivered, retry, failed), `status_code` (null: no
    answer), `duration_ms`, `excerpt` (first 500 characters of the answer),
    `error`, `attempted_at`, `next_attempt_at` (of the event, while it will be
    retried)."""

    event_id = serializers.IntegerField(source="event.pk")
    webhook_id = serializers.CharField(source="event.webhook_id")
    event_type = serializers.CharField(source="event.type")
    event_status = serializers.CharField(source="event.status")
    next_attempt_at = serializers.DateTimeField(
        source="event.next_attempt_at", allow_null=True
    )

    class Meta:
        model = WebhookAttempt
        fields = [
            "id",
            "event_id",
            "webhook_id",
            "event_type",
            "event_status",
            "outcome",
            "status_code",
            "duration_ms",
            "excerpt",
            "error",
            "attempted_at",
            "next_attempt_at",
        ]
        read_only_fields = fields


class RedeliverInputSerializer(serializers.Serializer):
    """`event_id`: an event of this endpoint to send again."""

    event_id = serializers.IntegerField(min_value=1)

"""Outgoing webhooks: the endpoints a business's admins register, the events
recorded for them (one row per change and endpoint, written in the same
transaction as the change: the outbox) and every attempt to deliver one.

See docs/webhooks.md for what is sent and how it is signed."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import pgettext_lazy

from billing.models import Business
from pingback.encryption import RotatableEncryptedJSONField


class EventType(models.TextChoices):
    """The changes an endpoint may subscribe to."""

    CONVERSATION_CREATED = (
        "conversation.created",
        pgettext_lazy("webhook event", "Conversation created"),
    )
    CONVERSATION_UPDATED = (
        "conversation.updated",
        pgettext_lazy("webhook event", "Conversation updated"),
    )
    CONVERSATION_STATUS_CHANGED = (
        "conversation.status_changed",
        pgettext_lazy("webhook event", "Conversation status changed"),
    )
    CONVERSATION_ASSIGNED = (
        "conversation.assigned",
        pgettext_lazy("webhook event", "Conversation assigned"),
    )
    CONVERSATION_RATED = (
        "conversation.rated",
        pgettext_lazy("webhook event", "Conversation rated"),
    )
    MESSAGE_CREATED = (
        "message.created",
        pgettext_lazy("webhook event", "Message created"),
    )
    MESSAGE_STATUS_CHANGED = (
        "message.status_changed",
        pgettext_lazy("webhook event", "Message status changed"),
    )
    CONTACT_CREATED = (
        "contact.created",
        pgettext_lazy("webhook event", "Contact created"),
    )
    CONTACT_UPDATED = (
        "contact.updated",
        pgettext_lazy("webhook event", "Contact updated"),
    )
    CONTACT_MERGED = "contact.merged", pgettext_lazy("webhook event", "Contact merged")


class WebhookEndpoint(models.Model):
    """A URL of a business that receives the events it subscribed to.

    `secrets` (encrypted at rest like channel credentials) holds `current`,
    the `whsec_...` secret that signs, and, for a day after a rotation,
    `previous` (until `previous_expires_at`), which signs too. An endpoint
    failing without a success since `failing_since` for
    `WEBHOOK_DISABLE_AFTER` seconds is disabled (`is_active` false,
    `disabled_reason` says why)."""

    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="Event types, see EventType.")
    secrets = RotatableEncryptedJSONField(default=dict, blank=True)
    previous_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the first failed attempt since the last success was made.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(
                fields=["business", "is_active"], name="whk_endpoint_active_idx"
            )
        ]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """One change to be sent to one endpoint (the outbox row).

    `key` names the change (`conversation.status_changed:12:activity:345`):
    unique per endpoint, so recording the same change twice yields one row.
    `webhook_id` is the `webhook-id` header, the same on every attempt.
    `body` is the JSON sent, exactly. Pending events are sent when
    `next_attempt_at` has passed; `republish_at` is when the sweeper hands a
    due event to a worker again if none has claimed it; `lease_until`, while
    `sending`, when a worker that died mid-send gives it up."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("webhook delivery", "Pending")
        SENDING = "sending", pgettext_lazy("webhook delivery", "Sending")
        DELIVERED = "delivered", pgettext_lazy("webhook delivery", "Delivered")
        FAILED = "failed", pgettext_lazy("webhook delivery", "Failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="webhook_events"
    )
    webhook_id = models.CharField(max_length=40, unique=True)
    key = models.CharField(max_length=200)
    type = models.CharField(max_length=40, choices=EventType.choices)
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    republish_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "key"], name="whk_event_one_per_change"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="whk_event_due_idx",
            ),
            models.Index(
                fields=["endpoint", "-created_at"], name="whk_event_recent_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.webhook_id}"

    @staticmethod
    def new_webhook_id() -> str:
        return f"msg_{uuid.uuid4().hex}"


class WebhookAttempt(models.Model):
    """One try at sending an event: when, how it ended (`outcome`), the HTTP
    status if the endpoint answered, how long it took, the first characters
    of the answer (`excerpt`) or the failure (`error`)."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", pgettext_lazy("webhook attempt", "Delivered")
        RETRY = "retry", pgettext_lazy("webhook attempt", "Will retry")
        FAILED = "failed", pgettext_lazy("webhook attempt", "Failed")

    event = models.ForeignKey(
        WebhookEvent, on_delete=models.CASCADE, related_name="attempts"
    )
    attempted_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-attempted_at", "-pk"]
        indexes = [
            models.Index(
                fields=["event", "-attempted_at"], name="whk_attempt_event_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome} {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class WebhookSequence(models.Model):
    """The last `sequence` number given to an event about one subject
    (`scope`: `conversation:<id>` for conversation and message events,
    `contact:<id>` for contact events). Incremented under its row lock in
    the transaction that records the event, so for one subject the numbers
    grow in the order the changes were committed."""

    scope = models.CharField(max_length=60, unique=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.scope}={self.value}"

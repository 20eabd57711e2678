"""A business's connected channels and the raw inbound events they receive."""

import uuid

from django.db import models
from django.utils.translation import pgettext_lazy

from billing.models import Business
from pingback.encryption import RotatableEncryptedJSONField


class Channel(models.Model):
    """One connected messaging account (an X account, a Telegram bot, ...).

    `name` is what the inbox shows for the channel (e.g. "@acme_support_bot",
    "Acme Support (+1 555-0100)"): filled from the platform by setup while it
    is empty or still the name setup gave, kept once an admin typed one.
    `config` holds the non-secret settings and what setup learned (for X:
    `account_id`, `handle`, `webhook_id`); `secrets` holds credentials, encrypted at
    rest (Fernet, keys from PINGBACK_ENCRYPTION_KEYS; pingback/encryption.py) and
    never shown in clear.
    """

    class Type(models.TextChoices):
        WEBCHAT = "webchat", pgettext_lazy("channel type", "Web widget")
        WIDGET = "widget", pgettext_lazy("channel type", "Web widget (widget)")
        EMAIL = "email", pgettext_lazy("channel type", "Email")
        WHATSAPP = "whatsapp", pgettext_lazy("channel type", "WhatsApp")
        TELEGRAM = "telegram", pgettext_lazy("channel type", "Telegram")
        INSTAGRAM = "instagram", pgettext_lazy("channel type", "Instagram")
        X = "x", pgettext_lazy("channel type", "X (Twitter)")
        SMS = "sms", pgettext_lazy("channel type", "SMS")

    class SetupState(models.TextChoices):
        PENDING = "pending", pgettext_lazy("channel setup", "Pending")
        READY = "ready", pgettext_lazy("channel setup", "Ready")
        ACTION_REQUIRED = (
            "action_required",
            pgettext_lazy("channel setup", "Action required"),
        )
        FAILED = "failed", pgettext_lazy("channel setup", "Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="channels"
    )
    type = models.CharField(max_length=16, choices=Type.choices)
    name = models.CharField(
        max_length=200,
        blank=True,
        help_text="Shown in the inbox; filled from the platform at setup "
        "(the bot's @username, the number, the mailbox) until an admin types one.",
    )
    config = models.JSONField(default=dict, blank=True)
    secrets = RotatableEncryptedJSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    setup_state = models.CharField(
        max_length=16, choices=SetupState.choices, default=SetupState.PENDING
    )
    setup_message = models.TextField(blank=True)
    setup_checked_at = models.DateTimeField(null=True, blank=True)
    # Account-level trouble found while sending (e.g. X credits exhausted).
    alert = models.TextField(blank=True)
    alert_at = models.DateTimeField(null=True, blank=True)
    # The platform rate-limited the account: no send on this channel, from
    # any worker, before this time.
    paused_until = models.DateTimeField(null=True, blank=True)
    auto_assign = models.BooleanField(
        default=False,
        help_text="Assign each new conversation to an online agent, round-robin, "
        "skipping agents at their capacity.",
    )
    team = models.ForeignKey(
        "workspace.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="channels",
        help_text="New conversations on this channel go to this team; "
        "auto-assignment picks among its members (empty: every agent).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["business", "type"])]

    def __str__(self) -> str:
        """The channel's name, else its type and handle or id fragment
        ("Telegram d287c12a")."""
        if self.name:
            return self.name
        label = self.config.get("handle") or str(self.id)[:8]
        return f"{self.get_type_display()} {label}"


class InboundEvent(models.Model):
    """A raw webhook delivery, stored before it is processed so nothing is lost.

    `event_key` is the platform's id for the event (the dedupe key; unique per
    channel, so a redelivery is a no-op); it is null for a body that could not be
    parsed, which is kept with its `error` for inspection.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", pgettext_lazy("inbound event", "Received")
        PROCESSING = "processing", pgettext_lazy("inbound event", "Processing")
        PROCESSED = "processed", pgettext_lazy("inbound event", "Processed")
        IGNORED = "ignored", pgettext_lazy("inbound event", "Ignored")
        FAILED = "failed", pgettext_lazy("inbound event", "Failed")
        MALFORMED = "malformed", pgettext_lazy("inbound event", "Malformed")

    # No index of its own: the unique (channel, event_key) index leads with
    # it, and one index fewer is less work for every webhook's INSERT.
    channel = models.ForeignKey(
        Channel,
        on_delete=models.CASCADE,
        related_name="inbound_events",
        db_index=False,
    )
    event_key = models.CharField(max_length=255, null=True, blank=True)
    body = models.BinaryField()
    content_type = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "event_key"], name="inbound_event_unique_key"
            )
        ]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.channel_id} {self.event_key or '(malformed)'} {self.status}"

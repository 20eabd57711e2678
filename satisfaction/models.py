"""Customer satisfaction (CSAT): asking the customer to rate a resolved
conversation, and their answers (docs/satisfaction.md)."""

from django.db import models
from django.db.models import Q

from billing.models import Business
from conversations.models import Conversation, Message

DEFAULT_QUESTION = (
    "Your conversation with us was resolved. How did we do? "
    "Rate us from 1 (bad) to 5 (great)."
)


class SatisfactionSettings(models.Model):
    """A business's CSAT settings: off until an admin turns them on
    (`enabled`); `question` is the text the customer is sent when a
    conversation is resolved (other channels than the widget get the rating
    page's link after it)."""

    business = models.OneToOneField(
        Business,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="satisfaction_settings",
    )
    enabled = models.BooleanField(default=False)
    question = models.TextField(max_length=1000, default=DEFAULT_QUESTION)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "satisfaction settings"

    def __str__(self) -> str:
        return f"CSAT {'on' if self.enabled else 'off'} for {self.business_id}"


class SatisfactionRequest(models.Model):
    """One resolution of a conversation and what PingBack did about it:
    `asked` (the question was queued: `message`) or `skipped` (why in
    `skip_reason`, e.g. WhatsApp's 24-hour window had closed).

    `resolution` is the activity entry "… resolved this conversation": unique,
    so a resolution is asked about at most once (task retries included),
    while a conversation reopened and resolved again has a new one."""

    class Status(models.TextChoices):
        ASKED = "asked", "Asked"
        SKIPPED = "skipped", "Not asked"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="satisfaction_requests"
    )
    resolution = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="satisfaction_request"
    )
    channel_type = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=Status.choices)
    skip_reason = models.CharField(max_length=255, blank=True)
    message = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The question sent to the customer (asked only).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["business", "created_at"], name="csat_request_idx"),
        ]

    def __str__(self) -> str:
        return f"CSAT {self.status} for conversation {self.conversation_id}"


class SatisfactionRating(models.Model):
    """The customer's answer to one `SatisfactionRequest`: a `score` from 1
    (bad) to 5 (great) and an optional `comment`. One per request."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="satisfaction_ratings"
    )
    request = models.OneToOneField(
        SatisfactionRequest, on_delete=models.CASCADE, related_name="rating"
    )
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="csat_score_1_to_5"
            )
        ]
        indexes = [
            models.Index(fields=["business", "created_at"], name="csat_rating_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.score}/5 for conversation {self.conversation_id}"

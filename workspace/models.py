"""What a business's agents share: teams, labels and canned responses."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

from billing.models import Business, Member

LABEL_NAME_MAX_LENGTH = 40
SHORT_CODE_MAX_LENGTH = 40
CANNED_CONTENT_MAX_LENGTH = 4000
# A neutral grey (Tailwind's gray-400), for labels created without a colour.
LABEL_DEFAULT_COLOR = "#9ca3af"

color_validator = RegexValidator(
    r"\A#[0-9a-fA-F]{6}\Z", "A colour as #rrggbb (six hexadecimal digits)."
)
short_code_validator = RegexValidator(
    r"\A[a-z0-9_-]{1,40}\Z",
    "1 to 40 characters among lowercase letters, digits, '_' and '-'.",
)


def validate_label_name(value: str) -> None:
    """A label name: 1 to 40 characters, not only whitespace, and no comma (labels
    are written as comma-separated lists). Raises Django's `ValidationError`."""
    if not value.strip():
        raise ValidationError("A label name cannot be empty or only spaces.")
    if "," in value:
        raise ValidationError("A label name cannot contain a comma.")
    if len(value) > LABEL_NAME_MAX_LENGTH:
        raise ValidationError(
            f"A label name has at most {LABEL_NAME_MAX_LENGTH} characters."
        )


class Team(models.Model):
    """A group of a business's members (e.g. "Support", "Billing") that
    conversations will be routed to. `name` is unique in the business, ignoring
    case."""

    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="teams"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="", max_length=1000)
    members = models.ManyToManyField(Member, blank=True, related_name="teams")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "business",
                name="workspace_team_name_unique_in_business",
                violation_error_message="A team with this name already exists.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    """A tag agents put on conversations (`billing`, `vip`): `name` unique in
    the business ignoring case, `color` as `#rrggbb`."""

    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="labels"
    )
    name = models.CharField(
        max_length=LABEL_NAME_MAX_LENGTH, validators=[validate_label_name]
    )
    color = models.CharField(
        max_length=7, default=LABEL_DEFAULT_COLOR, validators=[color_validator]
    )
    description = models.TextField(blank=True, default="", max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "business",
                name="workspace_label_name_unique_in_business",
                violation_error_message="A label with this name already exists.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class CannedResponse(models.Model):
    """A saved reply an agent inserts by its `short_code` (`/refund`); its
    `content` may hold the variables `canned_response_render` fills."""

    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="canned_responses"
    )
    short_code = models.CharField(
        max_length=SHORT_CODE_MAX_LENGTH, validators=[short_code_validator]
    )
    content = models.TextField(
        validators=[MaxLengthValidator(CANNED_CONTENT_MAX_LENGTH)]
    )
    created_by = models.ForeignKey(
        Member,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="canned_responses",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["short_code", "id"]
        constraints = [
            models.UniqueConstraint(
                "business",
                "short_code",
                name="workspace_canned_short_code_unique_in_business",
                violation_error_message="A canned response with this short code "
                "already exists.",
            )
        ]

    def __str__(self) -> str:
        return self.short_code


class SavedFilter(models.Model):
    """An agent's saved combination of inbox filters, shown beside the views
    (Mine, Unassigned, All, Mentions). `query` is the list's query string
    (`status=open&label=vip&team=3`)."""

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="saved_filters"
    )
    name = models.CharField(max_length=60)
    query = models.CharField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "member",
                name="workspace_saved_filter_name_unique_per_member",
                violation_error_message="You already have a saved filter with "
                "this name.",
            )
        ]

    def __str__(self) -> str:
        return self.name


AWAY_MESSAGE_MAX_LENGTH = 1000


class OpeningInterval(models.Model):
    """One interval of a business's weekly hours (`workspace.hours`): open on
    `weekday` (0 Monday … 6 Sunday) from `opens` to `closes`, in minutes since
    local midnight in `Business.time_zone` (1440 is 24:00). A business with no
    interval has no business hours: it counts as always open."""

    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="opening_intervals"
    )
    weekday = models.PositiveSmallIntegerField()
    opens = models.PositiveSmallIntegerField(help_text="Minutes since midnight.")
    closes = models.PositiveSmallIntegerField(
        help_text="Minutes since midnight, after `opens`; 1440 is 24:00."
    )

    class Meta:
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weekday__lte=6), name="opening_interval_weekday"
            ),
            models.CheckConstraint(
                condition=models.Q(opens__lt=models.F("closes"), closes__lte=1440),
                name="opening_interval_closes_after_opens",
            ),
            models.UniqueConstraint(
                "business", "weekday", "opens", name="opening_interval_unique_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.opens}-{self.closes}"


class AwayMessage(models.Model):
    """The text PingBack answers a customer with on `channel` when they write
    outside business hours (`workspace.services.away_messages_send`); off
    until an admin turns it on."""

    channel = models.OneToOneField(
        "channels_app.Channel", on_delete=models.CASCADE, related_name="away_message"
    )
    enabled = models.BooleanField(default=False)
    body = models.TextField(
        blank=True, validators=[MaxLengthValidator(AWAY_MESSAGE_MAX_LENGTH)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Away message of {self.channel_id}"


class AwayMessageSent(models.Model):
    """An away message sent (or being sent) in `conversation` for the closed
    period that began at `closed_since`: unique on both, so a conversation
    gets at most one per closed period however many messages, workers or
    redelivered webhooks arrive in it. `message` is the outbound message."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    closed_since = models.DateTimeField()
    message = models.ForeignKey(
        "conversations.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "conversation", "closed_since", name="away_message_once_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"Away message in conversation {self.conversation_id}"

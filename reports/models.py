"""What reports count that the inbox does not keep: when each conversation
was first answered, resolved and reopened (docs/reports.md)."""

from django.db import models
from django.db.models import Q
from django.utils.translation import pgettext_lazy

from billing.models import Business
from conversations.models import Conversation


class ConversationEvent(models.Model):
    """A moment in a conversation's life that reports count.

    `first_response`: the first reply an agent wrote (at most one per
    conversation); `resolved`: its status became resolved; `reopened`: it
    left resolved for open (an agent, or the customer writing again).
    `opened_at` is the conversation's `created_at`, copied so response and
    resolution times need no join; `channel_id`, `assignee_id` and
    `team_id` are the conversation's when the event happened, copied so a
    report grouped by them needs no join either (plain ids, no foreign
    keys: a deleted channel, agent or team leaves its id). `seconds` is the
    wall-clock time from `opened_at` to `at` (float seconds, 0 when `at` is
    earlier), stored with the row so a report sorts a column for its
    medians instead of working each time out (`reports.services.
    seconds_between`; null only on rows written before the column and not
    yet filled by migration `reports/0008`). `open_seconds` is the same time
    counted in the business's hours only (`workspace.hours.WeeklyHours.
    open_seconds`; null when the business had no hours), as they were at
    `Business.hours_version` = `hours_version` (0: never worked out). Written
    by `reports.services` as the conversations services change
    conversations; only `open_seconds` and `hours_version` are ever
    rewritten, by `reports.services.open_seconds_refresh` after the hours or
    the time zone change (docs/reports.md)."""

    class Kind(models.TextChoices):
        FIRST_RESPONSE = (
            "first_response",
            pgettext_lazy("report event", "First response"),
        )
        RESOLVED = "resolved", pgettext_lazy("report event", "Resolved")
        REOPENED = "reopened", pgettext_lazy("report event", "Reopened")

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="report_events"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField()
    opened_at = models.DateTimeField()
    seconds = models.FloatField(null=True, blank=True)
    open_seconds = models.FloatField(null=True, blank=True)
    # (A database default too: rows inserted by raw SQL, such as the
    # benchmark's, count as never worked out.)
    hours_version = models.PositiveIntegerField(default=0, db_default=0)
    channel_id = models.UUIDField(null=True, blank=True)
    assignee_id = models.IntegerField(null=True, blank=True)
    team_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(kind="first_response"),
                name="report_one_first_response",
            )
        ]
        indexes = [
            models.Index(fields=["business", "at"], name="report_event_idx"),
            # Whether any event of a business is behind its hours version
            # (its lowest stamp), and the refresh's batches in order.
            models.Index(
                fields=["business", "hours_version", "id"],
                name="report_event_hours_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of conversation {self.conversation_id} at {self.at}"


class ConversationDay(models.Model):
    """How many messages a conversation had on one local day of its business
    (`day` in `Business.time_zone` when the message was stored): inbound and
    outbound, notes and activity entries left out. Kept by
    `reports.services.messages_counted` as messages are stored, so a report
    adds up a row per conversation and day instead of counting messages."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="report_days"
    )
    day = models.DateField()
    messages_in = models.PositiveIntegerField(default=0)
    messages_out = models.PositiveIntegerField(default=0)
    channel_id = models.UUIDField(null=True, blank=True)
    assignee_id = models.IntegerField(null=True, blank=True)
    team_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "day"], name="report_day_unique"
            )
        ]
        indexes = [models.Index(fields=["business", "day"], name="report_day_idx")]

    def __str__(self) -> str:
        return f"conversation {self.conversation_id} on {self.day}"

"""Automation rules: when something happens to a conversation (the
`trigger`), if it meets the rule's `conditions`, PingBack does the rule's
`actions` (see docs/automation.md and `automation.services`).

`conditions` and `actions` are JSON objects; each key is optional and names
one condition or one action, so a rule has each at most once:

conditions (all given must hold):
    channel_types: ["whatsapp", "telegram", ...]: the conversation's channel type
    channel_ids: ["<channel uuid>", ...]: one of these channels
    text_contains: ["refund", "money back"]: the message's text contains one
        of them (case-insensitive)
    contact_attribute: {"key": "plan", "value": "gold"}: the contact's custom
        attribute equals the value (compared as text, case-insensitive); an
        empty value: the attribute is set at all
    label_id: 12: the conversation has this label (`label_absent` true: lacks it)
    business_hours: "open" | "closed": the business is open (or closed) when
        the rule runs (a business without hours is always open)
    languages: ["es", "pt"]: the contact's language (custom attribute
        `language`, its primary subtag: `pt-BR` is `pt`) is one of them

actions (done in this order):
    assign_team_id, assign_agent_id (user id), add_label_id, priority,
    canned_response_id (sent to the customer), snooze_minutes (0: until the
    customer writes), resolve (true), webhook_endpoint_id
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.models import Business


class Trigger(models.TextChoices):
    """What makes a rule run."""

    CONVERSATION_CREATED = "conversation_created", _("A conversation is created")
    MESSAGE_CREATED = "message_created", _("A customer's message arrives")
    STATUS_CHANGED = "status_changed", _("A conversation changes status")
    UNANSWERED = "unanswered", _("A conversation stays unanswered")


class Rule(models.Model):
    """One automation rule of a business. Rules of one trigger run in
    `position` order (then id); `is_active` false skips the rule.
    `trigger_status` (status_changed only): run only when the conversation
    moved to this status (blank: any). `unanswered_minutes` (unanswered
    only): minutes since the customer's last message with no reply."""

    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="automation_rules"
    )
    name = models.CharField(max_length=100)
    trigger = models.CharField(max_length=24, choices=Trigger.choices)
    trigger_status = models.CharField(max_length=16, blank=True)
    unanswered_minutes = models.PositiveIntegerField(null=True, blank=True)
    conditions = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=dict)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(
                fields=["business", "trigger", "position"],
                condition=models.Q(is_active=True),
                name="automation_rule_active_idx",
            )
        ]

    def __str__(self) -> str:
        return self.name


class RuleRun(models.Model):
    """A rule applied to one triggering event: unique on (rule,
    `trigger_key`), so a retried task or a redelivered event never acts
    twice. `trigger_key` names the event (`message.created:42`,
    `conversation.unanswered:7:since:913`); `summary` is what the rule did
    (the English text of its activity entry), `details` the same as data
    (the entry's `rule_ran` parameters, `conversations.activity`): runs
    stored before it have `{}` and show `summary`."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    trigger_key = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    details = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the rule did, as data: {rule, steps} "
        "(conversations.activity, kind rule_ran).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "trigger_key"], name="automation_run_once_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_id} on {self.trigger_key}"

    def summary_text(self) -> str:
        """What the rule did, in the active language; `summary` as stored for
        a run without `details` (or whose details do not fit)."""
        from conversations.activity import activity_render

        if self.details:
            try:
                return activity_render("rule_ran", self.details)
            except (KeyError, TypeError, ValueError):
                pass
        return self.summary

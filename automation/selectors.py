"""Reads of automation rules."""

from __future__ import annotations

from django.db.models import QuerySet

from automation.models import Rule, RuleRun
from billing.models import Business


def rule_list(business: Business) -> QuerySet[Rule]:
    """`business`'s rules in the order they run (`position`, then id)."""
    return Rule.objects.filter(business=business).order_by("position", "pk")


def rule_get(business: Business, rule_id: int) -> Rule:
    """One of `business`'s rules; raises `Rule.DoesNotExist` for another
    business's as for an unknown id."""
    return rule_list(business).get(pk=rule_id)


def rule_recent_runs(rule: Rule, limit: int = 10) -> QuerySet[RuleRun]:
    """The rule's latest runs, newest first."""
    return RuleRun.objects.filter(rule=rule).order_by("-pk")[:limit]

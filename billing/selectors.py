"""Reads about businesses and plans."""

from billing.models import Business
from billing.plans import PLAN_LIMITS, PlanLimits


def plan_limits_get(business: Business) -> PlanLimits:
    """Return what `business`'s plan allows (channel count and types)."""
    return PLAN_LIMITS[business.plan]

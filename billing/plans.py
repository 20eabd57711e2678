"""What each plan allows. The channel types are strings so billing need not import
`channels_app` (which depends on billing)."""

from dataclasses import dataclass

from billing.models import Plan

WEB_WIDGET_TYPES = frozenset({"webchat", "widget"})


@dataclass(frozen=True)
class PlanLimits:
    """`max_channels`: how many channels a business may have in all.
    `allowed_channel_types`: the types it may use, or None for every type."""

    max_channels: int
    allowed_channel_types: frozenset[str] | None

    def allows_type(self, channel_type: str) -> bool:
        return (
            self.allowed_channel_types is None
            or channel_type in self.allowed_channel_types
        )


PLAN_LIMITS: dict[str, PlanLimits] = {
    Plan.FREE: PlanLimits(max_channels=1, allowed_channel_types=WEB_WIDGET_TYPES),
    Plan.MINI: PlanLimits(max_channels=3, allowed_channel_types=None),
    Plan.PRO: PlanLimits(max_channels=100, allowed_channel_types=None),
}

# Cheapest first: the order plans are offered in.
PLAN_ORDER: tuple[str, ...] = (Plan.FREE, Plan.MINI, Plan.PRO)


def plans_allowing(channel_type: str | None, channel_count: int) -> list[str]:
    """The plans (values, cheapest first) under which a business with
    `channel_count` channels may add one more of `channel_type` (None: of
    any type one of its plans takes, i.e. only the count matters)."""
    return [
        str(plan)
        for plan in PLAN_ORDER
        if channel_count + 1 <= PLAN_LIMITS[plan].max_channels
        and (channel_type is None or PLAN_LIMITS[plan].allows_type(channel_type))
    ]

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

"""Where a channel's new conversations go: its team and auto-assignment
(`conversations.services.assignment`)."""

from __future__ import annotations

from channels_app.models import Channel
from pingback.errors import ApplicationError
from workspace.models import Team

NO_SUCH_TEAM = "No such team in this business."
# Stands for "not given" (None means "no team").
UNCHANGED = object()


def channel_routing_update(
    *, channel: Channel, auto_assign: bool | None = None, team: object = UNCHANGED
) -> Channel:
    """Set a channel's `auto_assign` (None: unchanged) and `team` (a `Team` of
    the channel's business, None for no team, `UNCHANGED` to leave it).
    Raises `ApplicationError` (`NO_SUCH_TEAM`) for another business's team;
    nothing is changed then. Returns the channel as saved."""
    fields = []
    if team is not UNCHANGED:
        if team is not None and (
            not isinstance(team, Team) or team.business_id != channel.business_id
        ):
            raise ApplicationError(NO_SUCH_TEAM)
        channel.team = team
        fields.append("team")
    if auto_assign is not None:
        channel.auto_assign = auto_assign
        fields.append("auto_assign")
    if fields:
        channel.save(update_fields=[*fields, "updated_at"])
    return channel

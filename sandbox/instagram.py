"""The Instagram stand-in (to be filled in by the instagram channel work)."""

from __future__ import annotations

from sandbox.standin import StandIn


class InstagramStandIn(StandIn):
    """Serves nothing yet."""

    name = "instagram"

"""The Sms stand-in (to be filled in by the sms channel work)."""

from __future__ import annotations

from sandbox.standin import StandIn


class SmsStandIn(StandIn):
    """Serves nothing yet."""

    name = "sms"

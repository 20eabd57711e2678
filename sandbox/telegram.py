"""The Telegram stand-in (to be filled in by the telegram channel work)."""

from __future__ import annotations

from sandbox.standin import StandIn


class TelegramStandIn(StandIn):
    """Serves nothing yet."""

    name = "telegram"

"""The WhatsApp stand-in (to be filled in by the whatsapp channel work)."""

from __future__ import annotations

from sandbox.standin import StandIn


class WhatsAppStandIn(StandIn):
    """Serves nothing yet."""

    name = "whatsapp"

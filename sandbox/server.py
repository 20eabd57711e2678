"""``SandboxServer``: the stand-ins of every platform PingBack talks to, on
one loopback port: X, Telegram, WhatsApp, Instagram and Twilio SMS (each
under :mod:`sandbox.platforms`), served by :mod:`sandbox.core`.

Usage in tests::

    with SandboxServer() as sandbox:        # port 0: a free port
        settings.TELEGRAM_API_BASE_URL = sandbox.url
        ...
        assert sandbox.telegram.sent[0]["text"] == "hello"

The command ``python manage.py run_sandbox --port 8765`` serves it for the
demo (docs/platforms/sandbox.md).
"""

from __future__ import annotations

from sandbox.core.server import StandInServer
from sandbox.platforms.instagram.standin import InstagramStandIn
from sandbox.platforms.sms.standin import SmsStandIn
from sandbox.platforms.telegram.standin import TelegramStandIn
from sandbox.platforms.whatsapp.standin import WhatsAppStandIn
from sandbox.platforms.x.standin import DEFAULT_X_REAL_HOST, XStandIn
from sandbox.platforms.x.state import XState

__all__ = ["DEFAULT_X_REAL_HOST", "SandboxServer"]


class SandboxServer(StandInServer):
    """Every platform's stand-in on loopback; binds at construction, serves
    after :meth:`start`. ``x_real_host`` is the origin the X clients sign
    OAuth 1.0a requests for; ``latency`` the seconds every API call waits
    before it is handled (a platform's answer time; 0 by default)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        x_real_host: str = DEFAULT_X_REAL_HOST,
        latency: float = 0.0,
    ) -> None:
        self.x_standin = XStandIn(x_real_host)
        self.telegram = TelegramStandIn()
        self.whatsapp = WhatsAppStandIn()
        self.instagram = InstagramStandIn()
        self.sms = SmsStandIn()
        standins = (
            self.x_standin,
            self.telegram,
            self.whatsapp,
            self.instagram,
            self.sms,
        )
        super().__init__(standins, host, port, latency=latency)

    @property
    def x(self) -> XState:
        """The X stand-in's state (apps, webhooks, subscriptions,
        ``sent_dms``, ``tweets``, modes)."""
        return self.x_standin.state

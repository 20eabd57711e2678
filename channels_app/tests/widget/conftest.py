"""Fixtures for the web widget's tests: a widget channel, a fresh channel layer,
and websocket connections to the real ASGI application."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable

import pytest

from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.widget.communicator import WebsocketCommunicator

SHOP = "https://shop.example.com"
_ips = itertools.count(1)


@pytest.fixture
def fresh_channel_layer(settings) -> None:
    """A new channel-layer instance for the test (Redis when `REDIS_URL` is
    set, else in memory), so no group or queue outlives it."""
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}


@pytest.fixture
def widget_channel(business) -> Channel:
    return ChannelFactory(
        business=business,
        type="webchat",
        secrets={},
        config={
            "allowed_domains": ["shop.example.com", ".example.org"],
            "welcome_message": "Hi! How can we help?",
            "brand_color": "#aa3300",
        },
    )


def client_ip() -> str:
    """An address no other test uses, so per-IP rate limits stay apart."""
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{next(_ips) % 250}"


@pytest.fixture
def widget_socket(fresh_channel_layer) -> Callable[..., WebsocketCommunicator]:
    """Build a connection to `/ws/widget/<channel id>/` through
    `pingback.asgi.application`, from `origin` (None: no Origin header) and
    `ip`."""
    from pingback.asgi import application

    def build(
        channel_id: object, origin: str | None = SHOP, ip: str | None = None
    ) -> WebsocketCommunicator:
        headers = [(b"origin", origin.encode())] if origin else []
        communicator = WebsocketCommunicator(
            application, f"/ws/widget/{channel_id}/", headers=headers
        )
        communicator.scope["client"] = (ip or client_ip(), 50123)
        return communicator

    return build

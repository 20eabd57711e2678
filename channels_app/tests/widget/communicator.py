"""Channels' websocket test client, leaving the test's database connection open.

Consumers wrap ORM calls in `database_sync_to_async`, which closes "old"
connections around each call; inside a pytest-django test that connection holds
the test's transaction, so it must stay open.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

from channels.testing import WebsocketCommunicator as ChannelsCommunicator


def _keep_connections() -> None:
    """Stands in for `channels.db.close_old_connections` during tests."""


class WebsocketCommunicator(ChannelsCommunicator):
    """`channels.testing.WebsocketCommunicator` without connection closing."""

    async def send_input(self, message: dict[str, Any]) -> None:
        with mock.patch("channels.db.close_old_connections", _keep_connections):
            await super().send_input(message)

    async def receive_output(self, timeout: float = 1) -> dict[str, Any]:
        with mock.patch("channels.db.close_old_connections", _keep_connections):
            return await super().receive_output(timeout)

"""`/ws/inbox/`: the agents' websocket. Session-authenticated; each open inbox
or conversation page joins its business's group and receives the events of
`conversations.realtime` as JSON text frames, e.g.
`{"type": "conversation", "conversation_id": 42}`."""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from billing.permissions import member_of
from conversations.realtime import agent_group, inbox_group

logger = logging.getLogger(__name__)

# RFC 6455 §7.4.1: "a message that is too big for it to process".
CLOSE_MESSAGE_TOO_BIG = 1009


def _business_id(user: Any) -> str | None:
    member = member_of(user)
    return str(member.business_id) if member is not None else None


class InboxConsumer(AsyncJsonWebsocketConsumer):
    """Refuses the handshake (HTTP 403) unless the user is logged in and a
    member of a business; then forwards that business's events and the
    agent's own (`agent_group`)."""

    group: str | None = None
    personal_group: str | None = None

    async def connect(self) -> None:
        business_id = await database_sync_to_async(_business_id)(self.scope.get("user"))
        if business_id is None:
            await self.close()
            return
        self.group = inbox_group(business_id)
        self.personal_group = agent_group(self.scope["user"].pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(self.personal_group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in (self.group, self.personal_group):
            if group is not None:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs
    ) -> None:
        """Agents' pages only listen: frames they send are ignored, never
        parsed (so no nesting reaches a parser). A frame over
        `WEBSOCKET_MAX_FRAME_BYTES` closes the connection with code 1009
        (RFC 6455 "message too big"); the page reconnects."""
        size = len(text_data.encode("utf-8", "surrogatepass")) if text_data else 0
        size = max(size, len(bytes_data or b""))
        if size > settings.WEBSOCKET_MAX_FRAME_BYTES:
            logger.info("inbox.frame_too_large", extra={"bytes": size})
            await self.close(code=CLOSE_MESSAGE_TOO_BIG)

    async def inbox_event(self, message: dict[str, Any]) -> None:
        """An event from `conversations.realtime` (channel-layer type
        `inbox.event`)."""
        await self.send_json(message["event"])

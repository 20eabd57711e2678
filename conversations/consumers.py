"""`/ws/inbox/`: the agents' websocket. Session-authenticated; each open inbox
or conversation page joins its business's group and receives the events of
`conversations.realtime` as JSON text frames, e.g.
`{"type": "conversation", "conversation_id": 42}`.

Frames a page sends (JSON objects; anything else, or an unknown type, is
ignored):
    {"type": "presence", "conversation_id": int | null}
        on connecting, whenever the open conversation changes, and every
        `presence.HEARTBEAT_SECONDS` (30 s) as a heartbeat.
    {"type": "typing", "conversation_id": int}
        while the agent types a reply (the page sends at most one per 2 s).
The business and the agent are always the session's; a conversation of
another business is ignored. Changes are broadcast to the business as
`presence` and `agents_online` events (`conversations.realtime`); an agent
typing in a web widget conversation also shows "typing…" in the visitor's
widget (without the agent's name).

A `notification` event's `title` is written in the agent's language (the
one they chose in Preferences, else the handshake's `Accept-Language`, as
their pages are; `conversations.activity.notification_localized`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation

from billing.permissions import member_of
from channels_app.models import Channel
from channels_app.platforms.web_widget import visitor_group
from channels_app.widget.consumers import WIDGET_TYPING_EVENT
from conversations import presence
from conversations.activity import notification_localized
from conversations.models import Conversation
from conversations.realtime import (
    INBOX_EVENT,
    SESSION_ENDED,
    agent_group,
    inbox_group,
)
from pingback import metrics
from pingback.i18n import language_from_headers, member_language

logger = logging.getLogger(__name__)

# RFC 6455 §7.4.1: "a message that is too big for it to process".
CLOSE_MESSAGE_TOO_BIG = 1009
# The member was deactivated (4000-4999: for applications, RFC 6455 7.4.2).
CLOSE_SESSION_ENDED = 4403
# Conversations whose business a connection remembers having checked.
_CHECKED_MAX = 200
_WIDGET_TYPES = {Channel.Type.WEBCHAT, Channel.Type.WIDGET}


def _member(user: Any) -> tuple[str, str, str | None] | None:
    """(business id, display name, chosen language or None) of the session's
    member, or None."""
    member = member_of(user)
    if member is None:
        return None
    name = user.get_full_name() or user.get_username()
    return str(member.business_id), name, member_language(user)


def _conversation_target(
    business_id: str, conversation_id: int
) -> tuple[str, str] | bool | None:
    """False when the conversation is not the business's; else the widget
    visitor's group key parts (channel id, visitor id) for a web widget
    conversation, or None for other channels."""
    found = (
        Conversation.objects.filter(pk=conversation_id, business_id=business_id)
        .values_list("channel_type", "channel_id", "contact_identity__external_id")
        .first()
    )
    if found is None:
        return False
    channel_type, channel_id, visitor_id = found
    if channel_type in _WIDGET_TYPES and channel_id and visitor_id:
        return str(channel_id), visitor_id
    return None


def _presence_call(function, *args, **kwargs):
    """Run a (blocking) `conversations.presence` call off the event loop."""
    return sync_to_async(function, thread_sensitive=False)(*args, **kwargs)


def frame_conversation_id(frame: dict[str, Any]) -> int | None:
    """The frame's `conversation_id` if it is a positive integer, else None."""
    value = frame.get("conversation_id")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


class InboxConsumer(AsyncJsonWebsocketConsumer):
    """Refuses the handshake (HTTP 403) unless the user is logged in and a
    member of a business; then forwards that business's events and the
    agent's own (`agent_group`), and keeps the agent's presence."""

    group: str | None = None
    personal_group: str | None = None
    business_id: str | None = None
    name: str = ""
    language: str = settings.LANGUAGE_CODE
    viewing: int | None = None

    async def connect(self) -> None:
        found = await database_sync_to_async(_member)(self.scope.get("user"))
        if found is None:
            await self.close()
            return
        self.business_id, self.name, language = found
        self.language = language or language_from_headers(self.scope.get("headers", []))
        self.group = inbox_group(self.business_id)
        self.personal_group = agent_group(self.scope["user"].pk)
        self.checked: dict[int, tuple[str, str] | None] = {}
        self.typing_until: dict[int, float] = {}
        self.tasks: set[asyncio.Task] = set()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(self.personal_group, self.channel_name)
        await self.accept()
        self._counted = True
        metrics.websocket_opened("inbox")

    async def disconnect(self, code: int) -> None:
        if getattr(self, "_counted", False):
            self._counted = False
            metrics.websocket_closed("inbox")
        for group in (self.group, self.personal_group):
            if group is not None:
                await self.channel_layer.group_discard(group, self.channel_name)
        if self.business_id is None:
            return
        for task in self.tasks:
            task.cancel()
        try:
            user_id = self.scope["user"].pk
            await _presence_call(
                presence.page_gone,
                business_id=self.business_id,
                user_id=user_id,
                connection=self.channel_name,
                conversation_id=self.viewing,
            )
            for conversation_id in self.typing_until:
                await _presence_call(presence.typing_stopped, conversation_id, user_id)
            await self._broadcast(self.viewing, *self.typing_until)
            event = await _presence_call(
                presence.online_event_if_changed, self.business_id
            )
            if event is not None:
                await self._send_business(event)
        except Exception:
            logger.warning("inbox.presence_failed", exc_info=True)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs
    ) -> None:
        """A frame from the page: `presence` or `typing` (module docstring);
        anything else is ignored. A frame over `WEBSOCKET_MAX_FRAME_BYTES`
        closes the connection with code 1009 (RFC 6455 "message too big");
        the page reconnects."""
        size = len(text_data.encode("utf-8", "surrogatepass")) if text_data else 0
        size = max(size, len(bytes_data or b""))
        if size > settings.WEBSOCKET_MAX_FRAME_BYTES:
            logger.info("inbox.frame_too_large", extra={"bytes": size})
            await self.close(code=CLOSE_MESSAGE_TOO_BIG)
            return
        if not text_data or self.business_id is None:
            return
        try:
            # Frames are small and flat; a deeply nested one raises
            # RecursionError and is ignored like any malformed frame.
            frame = json.loads(text_data)
        except (ValueError, RecursionError):
            return
        if not isinstance(frame, dict):
            return
        try:
            if frame.get("type") == "presence":
                await self._presence(frame)
            elif frame.get("type") == "typing":
                await self._typing(frame)
        except Exception:
            # Redis unavailable: presence is best effort, the page stays.
            logger.warning("inbox.presence_failed", exc_info=True)

    async def _own(self, conversation_id: int) -> bool | tuple[str, str] | None:
        """Whether the conversation is the agent's business's (checked once
        per connection); for a widget conversation, its visitor."""
        if conversation_id not in self.checked:
            target = await database_sync_to_async(_conversation_target)(
                self.business_id, conversation_id
            )
            if target is False:
                return False
            if len(self.checked) >= _CHECKED_MAX:
                self.checked.clear()
            self.checked[conversation_id] = target
        return self.checked[conversation_id] or True

    async def _presence(self, frame: dict[str, Any]) -> None:
        conversation_id = frame_conversation_id(frame)
        if conversation_id is not None and await self._own(conversation_id) is False:
            conversation_id = None
        previous = self.viewing
        self.viewing = conversation_id
        await _presence_call(
            presence.page_seen,
            business_id=self.business_id,
            user_id=self.scope["user"].pk,
            name=self.name,
            connection=self.channel_name,
            conversation_id=conversation_id,
            previous_conversation_id=previous,
        )
        # What changed goes to the business; what did not still goes to this
        # page, which may have just loaded (or reconnected).
        online, changed = await _presence_call(
            presence.online_event_changed, self.business_id
        )
        await (self._send_business(online) if changed else self.send_json(online))
        if previous != conversation_id:
            await self._broadcast(previous)
        if conversation_id is not None:
            event, changed = await _presence_call(
                presence.conversation_event_changed, self.business_id, conversation_id
            )
            await (self._send_business(event) if changed else self.send_json(event))

    async def _typing(self, frame: dict[str, Any]) -> None:
        conversation_id = frame_conversation_id(frame)
        if conversation_id is None:
            return
        target = await self._own(conversation_id)
        if target is False:
            return
        await _presence_call(
            presence.typing_seen, conversation_id, self.scope["user"].pk
        )
        await self._broadcast(conversation_id)
        if isinstance(target, tuple):
            channel_id, visitor_id = target
            await self.channel_layer.group_send(
                visitor_group(channel_id, visitor_id), {"type": WIDGET_TYPING_EVENT}
            )
        pending = conversation_id in self.typing_until
        self.typing_until[conversation_id] = time.monotonic() + presence.TYPING_TTL
        if not pending:
            task = asyncio.create_task(self._typing_expiry(conversation_id))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _typing_expiry(self, conversation_id: int) -> None:
        """Once the agent stopped typing for `TYPING_TTL` seconds, tell the
        business (the entry has expired by then)."""
        while True:
            wait = self.typing_until[conversation_id] - time.monotonic() + 0.2
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        del self.typing_until[conversation_id]
        try:
            await self._broadcast(conversation_id)
        except Exception:
            logger.warning("inbox.presence_failed", exc_info=True)

    async def _broadcast(self, *conversation_ids: int | None) -> None:
        """Send each conversation's `presence` event to the business, if it
        changed since last sent."""
        for conversation_id in dict.fromkeys(conversation_ids):
            if conversation_id is None:
                continue
            event = await _presence_call(
                presence.conversation_event_if_changed,
                self.business_id,
                conversation_id,
            )
            if event is not None:
                await self._send_business(event)

    async def _send_business(self, event: dict[str, Any]) -> None:
        await self.channel_layer.group_send(
            self.group, {"type": INBOX_EVENT, "event": event}
        )

    async def inbox_event(self, message: dict[str, Any]) -> None:
        """An event from `conversations.realtime` (channel-layer type
        `inbox.event`). `session_ended` (the member was deactivated) is not
        passed on: it closes the connection, and reconnecting is refused."""
        event = message["event"]
        if event.get("type") == SESSION_ENDED:
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        if event.get("type") == "notification":
            with translation.override(self.language):
                event = notification_localized(event)
        await self.send_json(event)

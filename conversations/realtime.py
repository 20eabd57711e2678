"""Live inbox events: small notices sent to the agents of a business, so their
open pages update without reloading (`conversations.consumers.InboxConsumer`).

Each publish function is called from the write side (ingest, replies, delivery,
conversation updates) and sends on transaction commit, so agents never hear of
a write that was rolled back. Publishing never raises into the write path: a
channel layer that is down (Redis restarting) is logged, and the pages catch up
when they reconnect.

Events (the `event` of a channel-layer message of type `inbox.event`, sent to
the group `inbox_group(business_id)`):
    {"type": "conversation", "conversation_id": int}
        created or changed: new message, status, assignee, unread count.
    {"type": "message", "conversation_id": int, "message_id": int,
     "change": "created" | "edited" | "attachments"}
    {"type": "message_status", "conversation_id": int, "message_id": int,
     "status": str, "error": str}
    {"type": "presence", "conversation_id": int,
     "viewing": [{"id": int, "name": str}],
     "typing": [{"id": int | null, "name": str}]}
        who has the conversation open and who types in it, sent when that
        changes (typing ends `presence.TYPING_TTL` s after the last frame).
        The customer typing (the web widget's visitor) is
        `{"id": null, "name": "customer"}` in `typing`. Sent by the consumers
        (`conversations.consumers`, `channels_app.widget.consumers`) from
        `conversations.presence`; pages render it (static/inbox/presence.js).
    {"type": "resync"}
        events for this group were lost (the channel layer failed or was
        skipped while its breaker was open): fetch the list and the open
        thread again.
    {"type": "agents_online", "agents": [{"id": int, "name": str}]}
        the business's agents with an inbox page open, when that changes
        (and to a page when it announces itself).

Events for one agent (sent to `agent_group(user_id)`, which each of that
agent's pages joins, by `publish_agent_event`), e.g.
    {"type": "notification", "kind": "mention" | "reply" | "new_conversation",
     "conversation_id": int, "title": str, "body": str}
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction

from conversations.models import Conversation, Message
from pingback.breaker import Breaker

logger = logging.getLogger(__name__)

INBOX_EVENT = "inbox.event"


def inbox_group(business_id: object) -> str:
    """The channel-layer group of a business's agents' open pages."""
    return f"inbox.{business_id}"


def agent_group(user_id: object) -> str:
    """The channel-layer group of one agent's open pages."""
    return f"agent.{user_id}"


# Sent to a deactivated member's open pages: their websockets close.
SESSION_ENDED = "session_ended"


def publish_session_ended(user_id: object) -> None:
    """On commit, close `user_id`'s open inbox connections (the member was
    deactivated: their pages must stop receiving the business's events)."""
    publish_agent_event([user_id], {"type": SESSION_ENDED})


def publish_agent_event(user_ids: Sequence[object], event: dict[str, Any]) -> None:
    """On commit, send `event` to each agent of `user_ids` (their open pages
    only; the business's other agents do not receive it)."""
    for user_id in dict.fromkeys(user_ids):
        _on_commit(partial(_to_group, agent_group(user_id), [event]))


def publish_conversation_changed(conversation: Conversation) -> None:
    """On commit, tell the business's agents the conversation changed."""
    _send_on_commit(conversation.business_id, [_conversation_event(conversation.pk)])


def publish_message_created(message: Message) -> None:
    """On commit, tell the agents a message was added to its conversation (a
    `message` event, and a `conversation` event for the list's row). Uses
    `message.conversation` as loaded."""
    publish_messages_created([message])


def publish_messages_created(messages: Sequence[Message]) -> None:
    """On commit, tell the agents messages were added: one `message` event per
    message, in the given order, then one `conversation` event per conversation
    they were added to (in the order of its first message), in one send per
    business. Uses each `message.conversation` as loaded."""
    by_business: dict[object, tuple[list[dict[str, Any]], dict[int, None]]] = {}
    for message in messages:
        conversation = message.conversation
        events, conversation_ids = by_business.setdefault(
            conversation.business_id, ([], {})
        )
        events.append(_message_event(conversation.pk, message.pk, "created"))
        conversation_ids[conversation.pk] = None
    for business_id, (events, conversation_ids) in by_business.items():
        events += [_conversation_event(pk) for pk in conversation_ids]
        _send_on_commit(business_id, events)


def publish_message_attachments(message: Message, business_id: object) -> None:
    """On commit, tell the agents a message's files changed (inbound media
    stored, or refused with the reason): a `message` event with change
    `attachments`, so an open thread shows the files without a reload."""
    events = [_message_event(message.conversation_id, message.pk, "attachments")]
    _send_on_commit(business_id, events)


def publish_message_edited(channel_id: object, platform_message_id: str) -> None:
    """On commit, tell the agents the customer edited a message (found by its
    platform id; nothing is sent when there is no such message)."""
    _on_commit(partial(_message_edited, channel_id, platform_message_id))


def publish_message_status(message_id: int) -> None:
    """On commit, tell the agents an outbound message's status as it then is
    (queued, sent, delivered, read or failed, with its error)."""
    _on_commit(partial(_message_status, message_id))


# What a publish sends: (channel-layer group, events).
Published = tuple[str, list[dict[str, Any]]]


def _on_commit(build: Callable[[], Published | None]) -> None:
    transaction.on_commit(partial(_publish, build))


def _send_on_commit(business_id: object, events: list[dict[str, Any]]) -> None:
    _on_commit(lambda: (inbox_group(business_id), events))


def _to_group(group: str, events: list[dict[str, Any]]) -> Published:
    return group, events


def _publish(build: Callable[[], Published | None]) -> None:
    """Build the events (group, events) and send them to the group; log, never
    raise, on failure.

    A group whose events could not be sent (the layer failed, or its breaker
    was open) is remembered, and the next send of this process first tells
    it `{"type": "resync"}`: its open pages are still connected, so nothing
    else would make them fetch what they missed."""
    group = None
    try:
        built = build()
        layer = get_channel_layer()
        if built is None or layer is None:
            return
        group, events = built
        if _layer_breaker.is_open:
            _missed.add(group)
            return
        if _missed:
            events = _resync_first(group, events)
        if isinstance(layer, InMemoryChannelLayer):
            # Reaches only consumers on the server's own event loop, which
            # async_to_sync returns to from a request's thread.
            async_to_sync(_group_send)(layer, group, events)
        else:
            _publisher.run(_group_send(layer, group, events), _publish_timeout())
    except Exception:
        # The write has committed; the pages hear "resync" with the next send.
        logger.warning("realtime.publish_failed", exc_info=True)
        if group is not None:
            _missed.add(group)
        _layer_breaker.trip()


# Groups whose events this process could not send since its last send.
_missed: set[str] = set()
RESYNC_EVENT = {"type": "resync"}


def _resync_first(group: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`events` for `group`, after a `resync` if the group missed events;
    the other groups that missed events are sent a `resync` of their own
    now. Clears `_missed`."""
    missed = set(_missed)
    _missed.clear()
    for other in missed - {group}:
        _publish(partial(_to_group, other, [RESYNC_EVENT]))
    return [RESYNC_EVENT, *events] if group in missed else events


def missed_forget() -> None:
    """Forget which groups missed events (tests, between cases)."""
    _missed.clear()


def _publish_timeout() -> float:
    """Seconds a send may wait for the channel layer: `REDIS_TIMEOUT` in a
    web request (an agent waits on it), `REALTIME_TASK_TIMEOUT` in a Celery
    task, where a busy machine may delay the send without anyone waiting."""
    from celery import current_task

    if current_task and current_task.request.id:
        return settings.REALTIME_TASK_TIMEOUT
    return settings.REDIS_TIMEOUT


async def _group_send(
    layer: BaseChannelLayer, group: str, events: list[dict[str, Any]]
) -> None:
    for event in events:
        await layer.group_send(group, {"type": INBOX_EVENT, "event": event})


class _PublisherLoop:
    """An event loop of this process, in a daemon thread, that sends events to
    a cross-process channel layer (Redis) for synchronous code (workers,
    views). Its Redis connections stay open from one event to the next, where
    `async_to_sync` would open them on a new loop for each event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def run(self, coroutine: Coroutine[Any, Any, None], timeout: float) -> None:
        """Run `coroutine` on the loop and wait for it (`TimeoutError` after
        `timeout` seconds: a frozen Redis costs a request that long, once)."""
        with self._lock:
            # A forked worker process starts its own loop.
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(
                    target=self._loop.run_forever,
                    name="realtime-publisher",
                    daemon=True,
                ).start()
            loop = self._loop
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise


_publisher = _PublisherLoop()
# After the channel layer failed (Redis down or frozen), this process skips
# publishing for a moment instead of waiting on it again for every write.
_layer_breaker = Breaker("channel layer")


def _conversation_event(conversation_id: int) -> dict[str, Any]:
    return {"type": "conversation", "conversation_id": conversation_id}


def _message_event(conversation_id: int, message_id: int, change: str) -> dict:
    return {
        "type": "message",
        "conversation_id": conversation_id,
        "message_id": message_id,
        "change": change,
    }


def _message_edited(channel_id: object, platform_message_id: str) -> Published | None:
    found = (
        Message.objects.filter(
            channel_id=channel_id, platform_message_id=platform_message_id
        )
        .values("pk", "conversation_id", "conversation__business_id")
        .first()
    )
    if found is None:
        return None
    event = _message_event(found["conversation_id"], found["pk"], "edited")
    return inbox_group(found["conversation__business_id"]), [event]


def _message_status(message_id: int) -> Published | None:
    found = (
        Message.objects.filter(pk=message_id)
        .values("status", "error", "conversation_id", "conversation__business_id")
        .first()
    )
    if found is None:
        return None
    event = {
        "type": "message_status",
        "conversation_id": found["conversation_id"],
        "message_id": message_id,
        "status": found["status"],
        "error": found["error"],
    }
    return inbox_group(found["conversation__business_id"]), [event]

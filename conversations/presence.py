"""Who is online, who views and who types a conversation: short-lived state
kept in Redis (when `REDIS_URL` is set, so every web process sees the same
state) or in this process otherwise.

Each open agent page (a `/ws/inbox/` connection) sends a heartbeat at least
every `HEARTBEAT_SECONDS`; its entry expires `PRESENCE_TTL` seconds after the
last one, so a page that died without closing drops off within a minute. A
typing entry expires `TYPING_TTL` seconds after the last typing frame.

State (Redis sorted sets, the score being when the entry expires, Unix time):
    presence:{business}:online      "<user id>|<connection>"
    presence:conv:{id}:viewing      "<user id>|<connection>"
    presence:conv:{id}:typing       "<user id>" or "customer"
    presence:{business}:names       hash user id -> display name
    presence:...:last               the last event broadcast (change detection)

The events built here (`online_event`, `conversation_event`) are described in
`conversations.realtime`. `*_if_changed` return an event only when it differs
from the last one broadcast for the same business or conversation (an atomic
GETSET, so two processes never both broadcast the same change).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

from django.conf import settings

# Seconds an agent page's entry lives after its last heartbeat.
PRESENCE_TTL = 60
# Seconds between heartbeats of a page (static/inbox/presence.js sends one
# every 30 s).
HEARTBEAT_SECONDS = 30
# Seconds a typing entry lives after its last typing frame.
TYPING_TTL = 5
# Who types, for the customer (the widget's visitor).
CUSTOMER = "customer"
# How long the last broadcast state is remembered (seconds).
_LAST_TTL = 3600


class _Store(Protocol):
    def touch(self, key: str, member: str, ttl: float) -> None: ...
    def remove(self, key: str, member: str) -> None: ...
    def live(self, key: str) -> list[str]: ...
    def swap(self, key: str, value: str) -> str | None: ...
    def name_set(self, key: str, field: str, value: str) -> None: ...
    def names(self, key: str) -> dict[str, str]: ...


class _RedisStore:
    """Sorted sets scored by expiry time, in the Redis of `REDIS_URL`."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=settings.REDIS_TIMEOUT,
            socket_timeout=settings.REDIS_TIMEOUT,
            decode_responses=True,
        )

    def touch(self, key: str, member: str, ttl: float) -> None:
        pipe = self.client.pipeline()
        pipe.zadd(key, {member: time.time() + ttl})
        pipe.expire(key, int(ttl) + PRESENCE_TTL)
        pipe.execute()

    def remove(self, key: str, member: str) -> None:
        self.client.zrem(key, member)

    def live(self, key: str) -> list[str]:
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(key, "-inf", time.time())
        pipe.zrange(key, 0, -1)
        return pipe.execute()[1]

    def swap(self, key: str, value: str) -> str | None:
        return self.client.set(key, value, ex=_LAST_TTL, get=True)

    def name_set(self, key: str, field: str, value: str) -> None:
        pipe = self.client.pipeline()
        pipe.hset(key, field, value)
        pipe.expire(key, _LAST_TTL)
        pipe.execute()

    def names(self, key: str) -> dict[str, str]:
        return self.client.hgetall(key)


class _MemoryStore:
    """The same, in this process (no Redis configured: one web process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sets: dict[str, dict[str, float]] = {}
        self.values: dict[str, str] = {}
        self.hashes: dict[str, dict[str, str]] = {}

    def touch(self, key: str, member: str, ttl: float) -> None:
        with self.lock:
            self.sets.setdefault(key, {})[member] = time.time() + ttl

    def remove(self, key: str, member: str) -> None:
        with self.lock:
            self.sets.get(key, {}).pop(member, None)

    def live(self, key: str) -> list[str]:
        now = time.time()
        with self.lock:
            entries = self.sets.get(key, {})
            for member in [m for m, expires in entries.items() if expires <= now]:
                del entries[member]
            return sorted(entries)

    def swap(self, key: str, value: str) -> str | None:
        with self.lock:
            old = self.values.get(key)
            self.values[key] = value
            return old

    def name_set(self, key: str, field: str, value: str) -> None:
        with self.lock:
            self.hashes.setdefault(key, {})[field] = value

    def names(self, key: str) -> dict[str, str]:
        with self.lock:
            return dict(self.hashes.get(key, {}))


_stores: dict[str, _Store] = {}
_stores_lock = threading.Lock()


def _store() -> _Store:
    url = settings.REDIS_URL
    with _stores_lock:
        if url not in _stores:
            _stores[url] = _RedisStore(url) if url else _MemoryStore()
        return _stores[url]


def _online_key(business_id: object) -> str:
    return f"presence:{business_id}:online"


def _names_key(business_id: object) -> str:
    return f"presence:{business_id}:names"


def _viewing_key(conversation_id: int) -> str:
    return f"presence:conv:{conversation_id}:viewing"


def _typing_key(conversation_id: int) -> str:
    return f"presence:conv:{conversation_id}:typing"


def _entry(user_id: object, connection: str) -> str:
    return f"{user_id}|{connection}"


def _users(entries: list[str]) -> set[int]:
    return {int(entry.split("|", 1)[0]) for entry in entries}


# ------------------------------------------------------------------- writes


def page_seen(
    *,
    business_id: object,
    user_id: int,
    name: str,
    connection: str,
    conversation_id: int | None,
    previous_conversation_id: int | None = None,
) -> None:
    """A heartbeat of one agent page (`connection`: its channel name): online,
    viewing `conversation_id` (None: no conversation open), and no longer
    viewing `previous_conversation_id` when that differs."""
    store = _store()
    entry = _entry(user_id, connection)
    store.name_set(_names_key(business_id), str(user_id), name)
    store.touch(_online_key(business_id), entry, PRESENCE_TTL)
    if previous_conversation_id is not None and (
        previous_conversation_id != conversation_id
    ):
        store.remove(_viewing_key(previous_conversation_id), entry)
    if conversation_id is not None:
        store.touch(_viewing_key(conversation_id), entry, PRESENCE_TTL)


def page_gone(
    *,
    business_id: object,
    user_id: int,
    connection: str,
    conversation_id: int | None,
) -> None:
    """The agent page closed: it is neither online nor viewing any more."""
    store = _store()
    entry = _entry(user_id, connection)
    store.remove(_online_key(business_id), entry)
    if conversation_id is not None:
        store.remove(_viewing_key(conversation_id), entry)


def typing_seen(conversation_id: int, who: int | str) -> None:
    """Agent `who` (user id) or `CUSTOMER` types in the conversation (for the
    next `TYPING_TTL` seconds)."""
    _store().touch(_typing_key(conversation_id), str(who), TYPING_TTL)


def typing_stopped(conversation_id: int, who: int | str) -> None:
    """`who` stopped typing (sent their message, or left)."""
    _store().remove(_typing_key(conversation_id), str(who))


# -------------------------------------------------------------------- reads


def agents_online(business_id: object) -> set[int]:
    """User ids of the business's agents with an inbox page open (a heartbeat
    in the last `PRESENCE_TTL` seconds)."""
    return _users(_store().live(_online_key(business_id)))


def viewers(conversation_id: int) -> set[int]:
    """User ids of the agents with the conversation open."""
    return _users(_store().live(_viewing_key(conversation_id)))


def typists(conversation_id: int) -> tuple[set[int], bool]:
    """(user ids of the agents typing in the conversation, whether the
    customer is typing)."""
    entries = _store().live(_typing_key(conversation_id))
    agents = {int(entry) for entry in entries if entry.isdigit()}
    return agents, CUSTOMER in entries


# ------------------------------------------------------------------- events


def _people(business_id: object, user_ids: set[int]) -> list[dict[str, Any]]:
    names = _store().names(_names_key(business_id))
    return [
        {"id": user_id, "name": names.get(str(user_id), "")}
        for user_id in sorted(user_ids)
    ]


def online_event(business_id: object) -> dict[str, Any]:
    """`{"type": "agents_online", "agents": [{"id", "name"}]}`."""
    return {
        "type": "agents_online",
        "agents": _people(business_id, agents_online(business_id)),
    }


def conversation_event(business_id: object, conversation_id: int) -> dict[str, Any]:
    """`{"type": "presence", "conversation_id", "viewing": [{"id", "name"}],
    "typing": [{"id", "name"}]}`; the customer typing is `{"id": null,
    "name": "customer"}` in `typing`."""
    agents, customer = typists(conversation_id)
    typing = _people(business_id, agents)
    if customer:
        typing.append({"id": None, "name": CUSTOMER})
    return {
        "type": "presence",
        "conversation_id": conversation_id,
        "viewing": _people(business_id, viewers(conversation_id)),
        "typing": typing,
    }


def _changed(key: str, event: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    state = json.dumps(event, sort_keys=True)
    return event, _store().swap(key, state) != state


def online_event_changed(business_id: object) -> tuple[dict[str, Any], bool]:
    """(`online_event`, whether it differs from the one last broadcast; the
    caller that gets True broadcasts it)."""
    return _changed(f"presence:{business_id}:online:last", online_event(business_id))


def conversation_event_changed(
    business_id: object, conversation_id: int
) -> tuple[dict[str, Any], bool]:
    """(`conversation_event`, whether it differs from the one last
    broadcast)."""
    return _changed(
        f"presence:conv:{conversation_id}:last",
        conversation_event(business_id, conversation_id),
    )


def online_event_if_changed(business_id: object) -> dict[str, Any] | None:
    """`online_event`, or None when it is the one last broadcast."""
    event, changed = online_event_changed(business_id)
    return event if changed else None


def conversation_event_if_changed(
    business_id: object, conversation_id: int
) -> dict[str, Any] | None:
    """`conversation_event`, or None when it is the one last broadcast."""
    event, changed = conversation_event_changed(business_id, conversation_id)
    return event if changed else None

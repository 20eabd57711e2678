"""Auto-assignment: new (and reopened) conversations of a channel with
`auto_assign` go to an online agent, round-robin, skipping agents at their
capacity.

Who may get one: the members of the channel's team (every member of the
business when the channel has no team) with an inbox page open
(`conversations.presence.agents_online`) and fewer open + pending
conversations assigned than their `max_open_conversations` (null: no limit).
Among them, the one assigned longest ago goes first (`last_assigned_at`,
never-assigned agents first).

Race safety: the candidates' `Member` rows are locked (`SELECT … FOR UPDATE`)
before their loads are counted, so two assignments at the same time run one
after the other and the second sees the first's conversation and
`last_assigned_at`; no agent goes over capacity.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from billing.models import Member
from channels_app.models import Channel
from conversations import presence, realtime
from conversations.models import Conversation, Message
from conversations.services.conversations import activity_entry, actor_name
from webhooks.services import events as webhook_events

logger = logging.getLogger(__name__)

# Conversations that count against an agent's capacity.
LOAD_STATUSES = (Conversation.Status.OPEN, Conversation.Status.PENDING)


def conversation_auto_assign(
    conversation: Conversation, *, channel: Channel | None = None
) -> AbstractBaseUser | None:
    """Assign one conversation as described in the module docstring, if its
    channel (`channel`, else `conversation.channel`) has `auto_assign`; set
    its team to the channel's team. Returns the agent (a user) or None (auto-
    assignment off, or no agent online with room: the conversation stays
    unassigned, the team still set). Stores an activity entry and publishes
    on commit."""
    channel = channel if channel is not None else conversation.channel
    if channel is None or not channel.auto_assign:
        return None
    return conversations_auto_assign([conversation], channel=channel)[0]


def conversations_auto_assign(
    conversations: Sequence[Conversation], *, channel: Channel
) -> list[AbstractBaseUser | None]:
    """Assign conversations of `channel` (loaded, in the given order) to its
    online agents with room, round-robin, in a number of queries that does
    not depend on how many there are. Each gets the channel's team. Returns
    the assignee of each (None where no agent had room). Does nothing (and
    queries nothing) when the channel's `auto_assign` is off."""
    if not conversations or not channel.auto_assign:
        return [None] * len(conversations)
    with transaction.atomic():
        candidates = _candidates_locked(channel)
        loads = _loads([member.user_id for member in candidates])
        now = timezone.now()
        picked: list[AbstractBaseUser | None] = []
        for _conversation in conversations:
            member = _next_with_room(candidates, loads)
            if member is None:
                picked.append(None)
                continue
            loads[member.user_id] = loads.get(member.user_id, 0) + 1
            # Strictly increasing, so the order survives in the database.
            member.last_assigned_at = now + timedelta(microseconds=len(picked))
            candidates.remove(member)
            candidates.append(member)
            picked.append(member.user)
        _apply(conversations, picked, channel)
        assigned = {m.pk: m for m in candidates if m.user in picked}
        if assigned:
            Member.objects.bulk_update(assigned.values(), ["last_assigned_at"])
    logger.info(
        "conversations.auto_assign",
        extra={
            "channel_id": str(channel.pk),
            "conversation_count": len(conversations),
            "assigned_count": sum(user is not None for user in picked),
        },
    )
    return picked


def _candidates_locked(channel: Channel) -> list[Member]:
    """The channel's online members (of its team, if any), locked, in
    round-robin order (assigned longest ago first, never assigned first)."""
    try:
        online = presence.agents_online(channel.business_id)
    except Exception:
        # Presence (Redis) unavailable: nobody counts as online, and the
        # message is still stored, unassigned.
        logger.warning("conversations.auto_assign_presence_failed", exc_info=True)
        online = set()
    if not online:
        return []
    members = Member.objects.filter(
        business_id=channel.business_id, user_id__in=online, user__is_active=True
    )
    if channel.team_id is not None:
        members = members.filter(teams=channel.team_id)
    # Locked in pk order, so that concurrent assignments wait for each other
    # instead of deadlocking (the round-robin order changes as they commit).
    locked = list(
        members.select_related("user").select_for_update(of=("self",)).order_by("pk")
    )
    return sorted(
        locked,
        key=lambda m: (m.last_assigned_at is not None, m.last_assigned_at, m.pk),
    )


def _loads(user_ids: list[int]) -> dict[int, int]:
    """Open + pending conversations assigned to each user (absent: none)."""
    if not user_ids:
        return {}
    rows = (
        Conversation.objects.filter(assignee_id__in=user_ids, status__in=LOAD_STATUSES)
        .values("assignee_id")
        .annotate(count=Count("pk"))
    )
    return {row["assignee_id"]: row["count"] for row in rows}


def _next_with_room(candidates: list[Member], loads: dict[int, int]) -> Member | None:
    for member in candidates:
        limit = member.max_open_conversations
        if limit is None or loads.get(member.user_id, 0) < limit:
            return member
    return None


def _apply(
    conversations: Sequence[Conversation],
    picked: Sequence[AbstractBaseUser | None],
    channel: Channel,
) -> None:
    """Store assignees and team (one UPDATE), an activity entry per
    assignment (one INSERT), and publish."""
    before = webhook_events.conversation_state(conversations)
    changed = []
    for conversation, user in zip(conversations, picked, strict=True):
        if user is None and conversation.team_id == channel.team_id:
            continue
        if user is not None:
            conversation.assignee = user
        conversation.team_id = channel.team_id
        changed.append(conversation)
    if not changed:
        return
    Conversation.objects.bulk_update(changed, ["assignee", "team"])
    activities = Message.objects.bulk_create(
        [
            activity_entry(
                conversation, "auto_assigned", {"agent": actor_name(user)}, by=None
            )
            for conversation, user in zip(conversations, picked, strict=True)
            if user is not None
        ]
    )
    webhook_events.conversations_changed(changed, before, activities)
    realtime.publish_messages_created(activities)
    noted = {message.conversation_id for message in activities}
    for conversation in changed:
        if conversation.pk not in noted:
            realtime.publish_conversation_changed(conversation)

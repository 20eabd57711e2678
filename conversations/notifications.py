"""Agent notifications for inbound customer messages.

`inbound_notify(message_ids)` is called once at the end of `ingest`'s
transaction. It only registers a callback for when that transaction commits
(the caller's, when a worker ingests a batch in its own transaction), so the
recipients are computed from what was committed: after everything done to the
conversations in the transaction (auto-assignment included), it sees who each
conversation went to; and the ingest's transaction, which holds the
conversations' row locks, gets no extra query. For each
conversation the new messages landed in, it sends one event to the agents who
should hear of it (`realtime.publish_agent_event`, on commit):

- a **new conversation** (every message in it, apart from activity entries, is
  among the new ones): to its assignee if it has one, else to the members of
  its team if it has one, else to every member of the business; in each case
  only to those whose `Member.notify_new_conversation` is on;
- a **customer reply** in an existing conversation: to its assignee, if the
  conversation has one whose `Member.notify_customer_reply` is on. An
  unassigned conversation's replies notify nobody (the list shows them).

The event, as `conversations/realtime.py` describes it:

    {"type": "notification", "kind": "new_conversation" | "reply",
     "conversation_id": int, "title": str, "body": str,
     "params": {"contact": str}}

`title` is in English ("New conversation from Ada Lovelace", "Ada Lovelace
replied"); each agent's page gets it in the agent's language, written from
`kind` and `params` by the inbox websocket (`conversations.activity`).
`contact` is the contact's name, empty when nothing is known of them.
`body` is the conversation's preview (its newest message), at most
`BODY_LENGTH` characters. Mentions (kind "mention") are sent by the mention
service in the same shape.

Cost, after the commit, per ingest call (not per message or agent): nothing
when no message was stored; one query (the conversations, with
whether each is new and their assignee's switches) otherwise; one more (the
business's members with the new-conversation switch on, and their teams) only
when a new conversation has no assignee. A failure is logged, never raised
(the messages are stored; only the notification is lost).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef

from billing.models import Member
from contacts.naming import contact_display_name
from conversations import realtime
from conversations.activity import notification_title_english
from conversations.models import Contact, ContactIdentity, Conversation, Message

logger = logging.getLogger(__name__)

BODY_LENGTH = 140


def inbound_notify(message_ids: Sequence[int]) -> None:
    """When the current transaction commits, notify agents of the
    conversations the inbound messages `message_ids` (stored in it) opened or
    continued. No query now; raises nothing."""
    if message_ids:
        transaction.on_commit(partial(_notify, tuple(message_ids)))


def _notify(message_ids: tuple[int, ...]) -> None:
    try:
        _notifications_send(message_ids)
    except Exception:
        logger.warning("notifications.failed", exc_info=True)


def _notifications_send(message_ids: Sequence[int]) -> None:
    conversations = list(
        Conversation.objects.filter(
            pk__in=Message.objects.filter(pk__in=message_ids).values("conversation_id")
        )
        .annotate(
            has_earlier=Exists(
                Message.objects.filter(conversation=OuterRef("pk"))
                .exclude(pk__in=message_ids)
                .exclude(kind=Message.ACTIVITY)
            )
        )
        .values(
            "pk",
            "business_id",
            "assignee_id",
            "team_id",
            "has_earlier",
            "last_message_preview",
            "subject",
            "channel_type",
            "contact__name",
            "contact_identity__handle",
            "contact_identity__external_id",
            "assignee__member__notify_new_conversation",
            "assignee__member__notify_customer_reply",
        )
        .order_by("pk")
    )
    unassigned_new = [
        c for c in conversations if not c["has_earlier"] and c["assignee_id"] is None
    ]
    members = _members_wanting_new(unassigned_new) if unassigned_new else {}
    for conversation in conversations:
        who = _contact_name(conversation)
        if conversation["has_earlier"]:
            if not (
                conversation["assignee_id"]
                and conversation["assignee__member__notify_customer_reply"]
            ):
                continue
            user_ids = [conversation["assignee_id"]]
            kind = "reply"
        else:
            if conversation["assignee_id"] is not None:
                wanted = conversation["assignee__member__notify_new_conversation"]
                user_ids = [conversation["assignee_id"]] if wanted else []
            else:
                user_ids = _recipients(members, conversation)
            kind = "new_conversation"
        if user_ids:
            realtime.publish_agent_event(
                user_ids, _event(kind, conversation["pk"], who, conversation)
            )


# (business id, user id) -> the member's team ids ({None}: no team).
_Members = dict[tuple[Any, int], set[Any]]


def _members_wanting_new(conversations: Sequence[dict[str, Any]]) -> _Members:
    """The members of the conversations' businesses whose new-conversation
    switch is on, with their teams (one query)."""
    business_ids = {c["business_id"] for c in conversations}
    members: _Members = {}
    for business_id, user_id, team_id in Member.objects.filter(
        business_id__in=business_ids, notify_new_conversation=True
    ).values_list("business_id", "user_id", "teams"):
        members.setdefault((business_id, user_id), set()).add(team_id)
    return members


def _recipients(members: _Members, conversation: dict[str, Any]) -> list[int]:
    """Every wanting member of the conversation's business, or of its team."""
    team_id = conversation["team_id"]
    return [
        user_id
        for (business_id, user_id), teams in members.items()
        if business_id == conversation["business_id"]
        and (team_id is None or team_id in teams)
    ]


def _contact_name(conversation: dict[str, Any]) -> str:
    """The contact as the inbox names it (`contacts.naming`), or "" when
    nothing is known of them (the title then says "a customer")."""
    identity = ContactIdentity(
        handle=conversation["contact_identity__handle"] or "",
        external_id=conversation["contact_identity__external_id"] or "",
    )
    shown = contact_display_name(
        Contact(name=conversation["contact__name"] or ""),
        identity,
        conversation["channel_type"],
    )
    return str(shown) if shown.known else ""


def _event(
    kind: str, conversation_id: int, who: str, conversation: dict[str, Any]
) -> dict[str, Any]:
    body = conversation["last_message_preview"] or conversation["subject"]
    if len(body) > BODY_LENGTH:
        body = body[: BODY_LENGTH - 1] + "…"
    return {
        "type": "notification",
        "kind": kind,
        "conversation_id": conversation_id,
        "title": notification_title_english(kind, {"contact": who}),
        "body": body,
        "params": {"contact": who},
    }


# ------------------------------------------------------------------ preferences

# An agent's notification switches (`billing.Member` fields), in page order.
PREFERENCE_FIELDS = (
    "notify_new_conversation",
    "notify_customer_reply",
    "notify_mention",
    "notify_sound",
)


def member_preferences_update(*, member: Member, changes: dict[str, bool]) -> Member:
    """Set some of `member`'s notification switches (`PREFERENCE_FIELDS` ->
    bool) in one UPDATE of those columns; return the member. Raises
    `ValueError` naming the field for a name outside `PREFERENCE_FIELDS`."""
    for field in changes:
        if field not in PREFERENCE_FIELDS:
            raise ValueError(field)
    for field, value in changes.items():
        setattr(member, field, bool(value))
    if changes:
        member.save(update_fields=list(changes))
    return member

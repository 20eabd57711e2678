"""Mentions: an agent named with `@name` in a private note.

Who `@name` names (case-insensitive, among the members of the conversation's
business):

- `@ana.silva`, `@ana`: an agent whose username, or e-mail address before the
  `@`, is exactly that word; when no agent's is, every agent whose first name
  is that word (two agents called Ana are both mentioned by `@ana`);
- `@"Ana Silva"`: an agent whose full name is that text (quotes for names
  with spaces).

A word is letters, digits and `.`, `_`, `+`, `-`, not ending with `.` or `-`
(so "ask @ana." names `ana`). An `@` inside a word (`ana@example.com`) is not
a mention. The note's author is never mentioned (naming yourself is no
news); each agent is mentioned at most once per note.
"""

from __future__ import annotations

import logging
import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from billing.models import Member
from conversations import realtime
from conversations.activity import notification_title_english
from conversations.models import Conversation, Mention, Message, UnreadMention
from conversations.services.conversations import actor_name

logger = logging.getLogger(__name__)

# The notification's body: the note's first characters.
NOTIFICATION_BODY_LENGTH = 140

_MENTION = re.compile(r'(?<![\w@])@(?:"([^"\n]{1,150})"|([\w.+-]+))')


def mention_names(text: str) -> tuple[set[str], set[str]]:
    """The `@word` and `@"quoted name"` mentions of `text`, lowercased:
    (words, quoted names)."""
    words: set[str] = set()
    quoted: set[str] = set()
    for match in _MENTION.finditer(text):
        if match.group(1) is not None:
            name = " ".join(match.group(1).split()).lower()
            if name:
                quoted.add(name)
        else:
            word = match.group(2).rstrip(".-").lower()
            if word:
                words.add(word)
    return words, quoted


def mentioned_members(
    business_id: object, text: str, *, author: AbstractBaseUser | None = None
) -> list[Member]:
    """The members of the business `text` mentions (see the module's rule),
    the author left out, in user id order; one query (none when `text` has no
    `@`)."""
    words, quoted = mention_names(text)
    if not words and not quoted:
        return []
    members = list(
        Member.objects.filter(business_id=business_id)
        .select_related("user")
        .order_by("user_id")
    )
    found: dict[int, Member] = {}
    for word in words:
        exact = [m for m in members if word in _login_names(m.user)]
        if not exact:
            exact = [
                m for m in members if (m.user.first_name or "").strip().lower() == word
            ]
        found.update((m.user_id, m) for m in exact)
    for name in quoted:
        found.update(
            (m.user_id, m)
            for m in members
            if " ".join(m.user.get_full_name().split()).lower() == name
        )
    author_id = getattr(author, "pk", None)
    return [m for pk, m in sorted(found.items()) if pk != author_id]


def _login_names(user: AbstractBaseUser) -> set[str]:
    names = {user.get_username().lower()}
    email = (getattr(user, "email", "") or "").lower()
    if "@" in email:
        names.add(email.split("@", 1)[0])
    return names


def mentions_create(*, note: Message, author: AbstractBaseUser) -> list[int]:
    """Store a `Mention` for each agent the note names (see the module's
    rule) and, on commit, send each of them who has `notify_mention` a
    notification event on their own pages:
    `{"type": "notification", "kind": "mention", "conversation_id": int,
    "title": "<Author> mentioned you", "body": <the note's first 140
    characters>, "params": {"actor": "<Author>"}}` (each page shows the title
    in its agent's language: `conversations.activity`). Returns the mentioned
    user ids (ascending); three queries (members, the mentions, the agents'
    `UnreadMention` rows) when the note names someone, none without an `@`."""
    conversation = note.conversation
    members = mentioned_members(conversation.business_id, note.text, author=author)
    if not members:
        return []
    with transaction.atomic():
        Mention.objects.bulk_create(
            [
                Mention(message=note, conversation=conversation, user_id=m.user_id)
                for m in members
            ],
            ignore_conflicts=True,
        )
        # The agents' Mentions views (an agent already mentioned there keeps
        # their row, whose copy of the last activity is kept current).
        UnreadMention.objects.bulk_create(
            [
                UnreadMention(
                    conversation=conversation,
                    user_id=m.user_id,
                    last_message_at=conversation.last_message_at,
                )
                for m in members
            ],
            ignore_conflicts=True,
        )
        notified = [m.user_id for m in members if m.notify_mention]
        if notified:
            params = {"actor": actor_name(author)}
            realtime.publish_agent_event(
                notified,
                {
                    "type": "notification",
                    "kind": "mention",
                    "conversation_id": conversation.pk,
                    "title": notification_title_english("mention", params),
                    "body": note.text[:NOTIFICATION_BODY_LENGTH],
                    "params": params,
                },
            )
    user_ids = [m.user_id for m in members]
    logger.info(
        "mentions.created",
        extra={
            "conversation_id": conversation.pk,
            "message_id": note.pk,
            "mention_count": len(user_ids),
        },
    )
    return user_ids


def mentions_mark_read(conversation: Conversation, user: AbstractBaseUser) -> int:
    """Mark `user`'s unread mentions in `conversation` read (they opened it),
    so it leaves their Mentions view. One DELETE (of their `UnreadMention`
    row) when there were none, and one UPDATE more when there were; returns
    how many mentions were marked."""
    left, _ = UnreadMention.objects.filter(
        conversation=conversation, user_id=user.pk
    ).delete()
    if not left:
        return 0
    return Mention.objects.filter(
        conversation=conversation, user_id=user.pk, read_at__isnull=True
    ).update(read_at=timezone.now())

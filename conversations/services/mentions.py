"""Mentions of agents in private notes (a first version)."""

from __future__ import annotations

from django.utils import timezone

from conversations.models import Conversation, Mention


def mentions_mark_read(*, conversation: Conversation, user) -> int:
    """Mark `user`'s unread mentions in `conversation` read; how many."""
    return Mention.objects.filter(
        conversation=conversation, user_id=user.pk, read_at__isnull=True
    ).update(read_at=timezone.now())

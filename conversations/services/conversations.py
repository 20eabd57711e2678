"""Writes on conversations themselves: status, assignee, read state."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from conversations import realtime
from conversations.models import Conversation
from pingback.errors import ApplicationError

# One answer for an unknown user and another business's member alike, so the
# API never tells them apart.
NO_SUCH_AGENT = "No such agent in this business."


def conversation_update(
    *,
    conversation: Conversation,
    status: str | None = None,
    assignee: AbstractBaseUser | None = None,
    unassign: bool = False,
) -> Conversation:
    """Change a conversation's status (`open`, `pending`, `resolved`) and/or its
    assignee (a member of the same business). Raises `ApplicationError`
    (`NO_SUCH_AGENT`) for an assignee outside the business."""
    fields = []
    if status is not None:
        conversation.status = status
        fields.append("status")
    if unassign:
        conversation.assignee = None
        fields.append("assignee")
    elif assignee is not None:
        member = getattr(assignee, "member", None)
        if member is None or member.business_id != conversation.business_id:
            raise ApplicationError(NO_SUCH_AGENT)
        conversation.assignee = assignee
        fields.append("assignee")
    if fields:
        conversation.save(update_fields=fields)
        realtime.publish_conversation_changed(conversation)
    return conversation


def conversation_mark_read(*, conversation: Conversation) -> None:
    """Clear the unread count (an agent opened the conversation)."""
    if conversation.unread_count:
        Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
        conversation.unread_count = 0
        realtime.publish_conversation_changed(conversation)

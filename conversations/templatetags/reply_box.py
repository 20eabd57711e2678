"""`{% load reply_box %}`: what the reply box (`conversations/_reply_box.html`)
needs to know about a conversation, so a page only passes `conversation`."""

from __future__ import annotations

from typing import Any

from django import template

from channels_app.platforms.capabilities import capabilities_for
from conversations.models import Conversation
from conversations.selectors import conversation_window_closed_at
from conversations.services.replies import MAX_REPLY_LENGTH

register = template.Library()


@register.simple_tag
def reply_box_context(conversation: Conversation) -> dict[str, Any]:
    """`{% reply_box_context conversation as box %}` → `{capabilities,
    note_max_length, can_reply, window_closed_at}`: the conversation's
    effective limits (`capabilities_for`), the longest note, whether its
    channel is active (so replies can be sent), and for channels with
    templates when the 24-hour window closed (None while open). At most one
    query (the window, on template channels only)."""
    channel = conversation.channel
    capabilities = capabilities_for(conversation)
    can_reply = bool(channel and channel.is_active)
    return {
        "capabilities": capabilities,
        "note_max_length": MAX_REPLY_LENGTH,
        "can_reply": can_reply,
        "window_closed_at": conversation_window_closed_at(conversation)
        if can_reply and capabilities.supports_templates
        else None,
    }

"""Inbox writes: the two flow entry points (`ingest`, `post_reply`) and updates."""

from conversations.services.conversations import (
    conversation_mark_read,
    conversation_update,
    conversations_bulk_update,
    conversations_wake_snoozed,
)
from conversations.services.ingest import IngestResult, ingest
from conversations.services.mentions import mentions_create, mentions_mark_read
from conversations.services.replies import (
    message_mark_sent,
    message_retry,
    messages_retry,
    post_note,
    post_reply,
)

__all__ = [
    "IngestResult",
    "conversation_mark_read",
    "conversation_update",
    "conversations_bulk_update",
    "conversations_wake_snoozed",
    "ingest",
    "mentions_create",
    "mentions_mark_read",
    "message_mark_sent",
    "message_retry",
    "messages_retry",
    "post_note",
    "post_reply",
]

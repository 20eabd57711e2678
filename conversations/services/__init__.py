"""Inbox writes: the two flow entry points (`ingest`, `post_reply`) and updates."""

from conversations.services.conversations import (
    conversation_mark_read,
    conversation_update,
)
from conversations.services.ingest import IngestResult, ingest
from conversations.services.replies import post_reply

__all__ = [
    "IngestResult",
    "conversation_mark_read",
    "conversation_update",
    "ingest",
    "post_reply",
]

"""Celery tasks of the inbox itself (found by the app's task autodiscovery)."""

from celery import shared_task

from conversations.services.conversations import conversations_wake_snoozed


@shared_task(name="conversations.wake_snoozed")
def wake_snoozed() -> int:
    """Reopen the conversations whose snooze has ended (Celery beat, every
    `SNOOZE_WAKE_INTERVAL` seconds). Safe when two run at once: each
    conversation is reopened, with its activity entry, exactly once. Returns
    how many were reopened."""
    return conversations_wake_snoozed()


@shared_task(name="conversations.search_reindex")
def search_reindex(business_id: str) -> int:
    """Recompute the search vectors of business `business_id`'s messages and
    e-mail subjects after its `search_language` changed (batched,
    idempotent; PostgreSQL only). Returns the rows touched. See
    docs/search.md."""
    from conversations.search import reindex_business

    return reindex_business(business_id)

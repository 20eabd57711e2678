"""Celery tasks of the inbox itself (found by the app's task autodiscovery)."""

from celery import shared_task
from django.conf import settings

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


@shared_task(
    bind=True,
    name="conversations.send_reaction",
    acks_late=True,
    soft_time_limit=30,
    time_limit=45,
    max_retries=None,
)
def send_reaction(self, message_id: int) -> str:
    """Send the business's current reaction to message `message_id` to its
    platform (`reaction_deliver`, idempotent); retry a transient failure
    with the delivery backoff up to `DELIVERY_MAX_RETRIES` times. Returns
    `sent`, `skipped` or `failed`."""
    from channels_app.platforms.base import TransientDeliveryError
    from channels_app.services.delivery import retry_countdown
    from conversations.services.reactions import reaction_deliver, reaction_give_up

    try:
        return reaction_deliver(message_id=message_id)
    except TransientDeliveryError as error:
        if self.request.retries >= settings.DELIVERY_MAX_RETRIES:
            reaction_give_up(message_id=message_id, error=error.reason)
            return "failed"
        raise self.retry(
            countdown=retry_countdown(self.request.retries, error.retry_after)
        ) from error

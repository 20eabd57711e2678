"""Celery tasks of outgoing webhooks. They take ids and call a service."""

from celery import shared_task

from webhooks.services.deliveries import event_deliver, events_sweep


@shared_task(
    name="webhooks.deliver_event",
    acks_late=True,
    reject_on_worker_lost=True,
    # Above WEBHOOK_TIMEOUT (one POST), below the event's lease.
    soft_time_limit=40,
    time_limit=55,
)
def deliver_event(event_id: int) -> str:
    """One attempt at webhook event `event_id` if it is pending and due
    (`event_deliver`); idempotent: a second copy of the task finds it claimed
    or settled and does nothing. Retries are scheduled in the database and
    published by `sweep_events`. Returns the attempt's outcome."""
    return event_deliver(event_id)


@shared_task(name="webhooks.sweep_events", soft_time_limit=30, time_limit=60)
def sweep_events() -> int:
    """Publish the webhook events that are due and unclaimed (Celery beat,
    every `OUTBOX_SWEEP_INTERVAL` seconds). Returns how many."""
    return events_sweep()

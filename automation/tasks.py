"""Celery tasks of automation rules. They take ids (events naming their
conversation and message by id) and are idempotent."""

from celery import shared_task


@shared_task(name="automation.run_rules", acks_late=True, reject_on_worker_lost=True)
def run_rules(events: list[dict]) -> int:
    """Run the automation rules for `events` (`automation.triggers.event`:
    trigger, conversation id, message id, key). Idempotent: a rule acts at
    most once per event key, however often the task runs. Returns how many
    rules were applied."""
    from automation.services import events_run

    return events_run(events)


@shared_task(name="automation.scan_unanswered", soft_time_limit=50, time_limit=80)
def scan_unanswered() -> int:
    """Apply the "stays unanswered" rules that are due (Celery beat, every
    `AUTOMATION_UNANSWERED_INTERVAL` seconds). Returns how many rules were
    applied."""
    from automation.services import unanswered_scan

    return unanswered_scan()

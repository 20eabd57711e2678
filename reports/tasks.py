"""Celery tasks of the reports (found by the app's task autodiscovery)."""

from celery import shared_task


@shared_task(name="reports.refresh_open_seconds", acks_late=True)
def refresh_open_seconds(business_id: str) -> int:
    """Work out again the business-hours times of business `business_id`'s
    report events behind its hours version (`reports.services.
    open_seconds_refresh`). Idempotent: run twice, the second finds nothing
    to do. Returns the events updated."""
    from reports.services import open_seconds_refresh

    return open_seconds_refresh(business_id)

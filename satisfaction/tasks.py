"""Celery tasks of customer satisfaction (found by the app's task autodiscovery)."""

from celery import shared_task


@shared_task(name="satisfaction.ask", acks_late=True)
def ask(resolution_id: int) -> str:
    """Ask the customer to rate the resolution whose activity entry is
    `resolution_id` (`satisfaction.services.satisfaction_ask`). Idempotent:
    run twice it asks once. Returns `asked`, `skipped` or `nothing`."""
    from satisfaction.services import satisfaction_ask

    request = satisfaction_ask(resolution_id=resolution_id)
    return request.status if request is not None else "nothing"

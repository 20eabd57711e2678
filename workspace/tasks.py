"""Celery tasks of the workspace (found by the app's task autodiscovery)."""

from celery import shared_task


@shared_task(name="workspace.send_away_messages", acks_late=True)
def send_away_messages(message_ids: list[int]) -> int:
    """Send the away messages the inbound messages `message_ids` call for
    (`workspace.services.away_messages_send`). Idempotent: run twice, or for
    a redelivered message, it sends nothing more. Returns how many were
    queued."""
    from workspace.services import away_messages_send

    return len(away_messages_send(message_ids=message_ids))

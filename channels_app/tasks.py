"""Celery tasks of the two flows. They take ids and call a service."""

import logging
import time
from collections.abc import Iterable

from celery import Task, shared_task
from django.conf import settings

from channels_app.platforms.base import TransientDeliveryError
from channels_app.services.channels import (
    channel_setup_outdated_ids,
    channel_setup_refresh,
)
from channels_app.services.delivery import (
    deliveries_expired_resolve,
    message_deliver,
    retry_countdown,
)
from channels_app.services.inbound import inbound_event_process, inbound_events_drain
from channels_app.services.mailbox import mailbox_channel_ids, mailbox_poll
from channels_app.services.outbox import (
    outbox_hand_off,
    outbox_sweep,
    retry_by_task,
)
from channels_app.services.retention import inbound_events_purge
from channels_app.services.x_polling import x_channel_poll, x_polling_channel_ids
from conversations.services.attachments import message_media_fetch
from conversations.services.receipts import pending_receipts_purge

logger = logging.getLogger(__name__)

# Seconds a delivery task goes on sending a conversation's next replies
# itself (each waited for the one before) before it hands the rest to other
# tasks: well below its soft time limit.
DELIVERY_CHAIN_SECONDS = 10.0


@shared_task(
    bind=True,
    name="channels.deliver_message",
    acks_late=True,
    reject_on_worker_lost=True,
    # Below DELIVERY_LEASE_SECONDS: a send still running is never taken for
    # a dead one. A send is one platform call with its own timeout.
    soft_time_limit=30,
    time_limit=45,
    max_retries=None,
)
def deliver_message(self, message_id: int) -> str:
    """Send outbound message `message_id` (`message_deliver`). A transient
    failure retries after the backoff: as a task countdown when it is short,
    otherwise from the database, by the outbox sweeper. Once it is settled,
    the conversation's next queued reply, which waited for it, is sent by
    this task too (for up to `DELIVERY_CHAIN_SECONDS`, then by a task of its
    own). Returns the delivery outcome's status (of `message_id`)."""
    # Eager tasks (no broker) retry at once, inline: they cannot wait out a
    # channel's pause, so they do not honour it.
    honour_pause = not self.request.is_eager
    outcome = message_deliver(
        message_id=message_id, honour_pause=honour_pause, hand_off_next=False
    )
    status = outcome.status
    if outcome.status == "retry" and retry_by_task(outcome.countdown):
        raise self.retry(countdown=outcome.countdown)
    deadline = time.monotonic() + DELIVERY_CHAIN_SECONDS
    following = outcome.next_message_id
    while following is not None:
        if time.monotonic() > deadline:
            outbox_hand_off(following)
            break
        outcome = message_deliver(
            message_id=following, honour_pause=honour_pause, hand_off_next=False
        )
        if outcome.status == "retry" and retry_by_task(outcome.countdown):
            # Its own retry task (a longer wait is the sweeper's, as is this
            # one if the broker refuses it: the message is queued and due).
            try:
                deliver_message.apply_async(
                    (following,), countdown=outcome.countdown, retry=False
                )
            except Exception:  # kombu, redis and socket errors alike
                logger.warning("delivery.retry_publish_failed", exc_info=True)
        following = outcome.next_message_id
    return status


@shared_task(name="channels.sweep_outbox", soft_time_limit=30, time_limit=60)
def sweep_outbox() -> int:
    """Resolve replies left `sending` by a dead worker (`uncertain`), then
    publish again the queued replies whose task was lost (a broker outage, a
    killed process) or whose long retry is due: Celery beat, every
    `OUTBOX_SWEEP_INTERVAL` seconds. Returns how many were published."""
    deliveries_expired_resolve()
    return outbox_sweep()


@shared_task(
    name="channels.process_inbound_events",
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def process_inbound_events() -> int:
    """Process the stored events waiting (`received`), in batches, until none
    is left or `INBOUND_DRAIN_SECONDS` have passed (then a new task takes
    over). Enqueued by webhooks (`inbound_processing_wake`) and by Celery beat
    every `INBOUND_SWEEP_INTERVAL` seconds. Returns how many events it
    claimed."""
    return inbound_events_drain().claimed


@shared_task(
    name="channels.process_inbound_event",
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def process_inbound_event(event_id: int) -> str:
    """Parse and ingest stored webhook `event_id` on its own (admin replay).
    Returns its final status."""
    return inbound_event_process(event_id=event_id)


@shared_task(
    bind=True,
    name="channels.fetch_message_media",
    acks_late=True,
    soft_time_limit=120,
    time_limit=150,
    max_retries=None,
)
def fetch_message_media(self, message_id: int) -> int:
    """Download and store the media of inbound message `message_id`; retry a
    transient failure with the delivery backoff up to `DELIVERY_MAX_RETRIES`
    times. Returns how many files were stored."""
    final = self.request.retries >= settings.DELIVERY_MAX_RETRIES
    try:
        return message_media_fetch(message_id=message_id, final_attempt=final)
    except TransientDeliveryError as error:
        raise self.retry(
            countdown=retry_countdown(self.request.retries, error.retry_after)
        ) from error


def _fan_out(task: Task, channel_ids: Iterable[object]) -> int:
    """Queue `task` once per channel of `channel_ids` (each passed as a
    string: the tasks take a channel's UUID as text). Returns how many were
    queued."""
    count = 0
    for channel_id in channel_ids:
        task.delay(str(channel_id))
        count += 1
    return count


@shared_task(name="channels.poll_mailboxes", soft_time_limit=30, time_limit=60)
def poll_mailboxes() -> int:
    """Schedule `poll_mailbox` for every active e-mail channel with IMAP
    settings (Celery beat, every `EMAIL_POLL_INTERVAL` seconds). Returns how
    many were scheduled."""
    return _fan_out(poll_mailbox, mailbox_channel_ids())


@shared_task(
    name="channels.poll_mailbox",
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
)
def poll_mailbox(channel_id: str) -> str:
    """Fetch the new mail of e-mail channel `channel_id` by IMAP into inbound
    events. Idempotent, and one poll per mailbox at a time. Returns the poll's
    status (`channels_app.services.mailbox.PollResult`)."""
    return mailbox_poll(channel_id=channel_id).status


@shared_task(name="channels.poll_x_channels", soft_time_limit=30, time_limit=60)
def poll_x_channels() -> int:
    """Schedule `poll_x_channel` for every active X channel in polling mode
    (Celery beat, every `X_POLL_INTERVAL` seconds). Returns how many were
    scheduled."""
    return _fan_out(poll_x_channel, x_polling_channel_ids())


@shared_task(
    name="channels.poll_x_channel",
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
)
def poll_x_channel(channel_id: str) -> str:
    """Read the new mentions and DMs of X channel `channel_id` (polling
    mode) into inbound events. Idempotent, and one poll per channel at a
    time. Returns the poll's status
    (`channels_app.services.x_polling.XPollResult`)."""
    return x_channel_poll(channel_id=channel_id).status


@shared_task(name="channels.refresh_channel_setups", soft_time_limit=30, time_limit=60)
def refresh_channel_setups() -> int:
    """Schedule `refresh_channel_setup` for every channel whose setup is
    outdated (Celery beat, every `CHANNEL_SETUP_REFRESH_INTERVAL` seconds,
    so after a deploy existing channels get what setup registers now).
    Returns how many were scheduled."""
    return _fan_out(refresh_channel_setup, channel_setup_outdated_ids())


@shared_task(
    name="channels.refresh_channel_setup",
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def refresh_channel_setup(channel_id: str) -> str:
    """Run setup again for channel `channel_id` if it is outdated
    (`channel_setup_refresh`, idempotent). Returns `refreshed`, `current`
    or `failed` (tried again at the next beat run)."""
    return channel_setup_refresh(channel_id=channel_id)


@shared_task(name="channels.purge_pending_receipts")
def purge_pending_receipts() -> int:
    """Drop delivery receipts held for a day without their message (Celery
    beat, hourly). Returns how many."""
    return pending_receipts_purge()


@shared_task(name="channels.purge_inbound_events", soft_time_limit=60, time_limit=90)
def purge_inbound_events() -> int:
    """Delete stored raw webhook events past their retention
    (`channels_app.services.retention`), in batches (Celery beat, every
    `RAW_EVENT_PURGE_INTERVAL` seconds). Returns how many."""
    return inbound_events_purge()

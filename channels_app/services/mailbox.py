"""IMAP polling of e-mail channels' mailboxes (docs/platforms/email.md,
"IMAP polling").

Each poll logs in, opens the folder read-only, lists the UIDs after the
channel's cursor and hands each raw message to `inbound_event_record`, the
same path as a webhook: the message is stored first under its normalised
Message-ID (a message already stored, by IMAP or a provider webhook, is a
no-op) and processed by the worker.

The cursor lives in the channel's config (learned fields): `imap_uidvalidity`,
`imap_last_uid` and `imap_polled_at`. Without a usable cursor (first poll, or
the folder's UIDVALIDITY changed so every UID is new) the poll lists the
messages the server received since the day before the last good poll (or the
channel's creation), and dedupe drops the ones already stored.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from channels_app.models import Channel
from channels_app.platforms.base import DeliveryError
from channels_app.platforms.email import RAW_CONTENT_TYPE
from channels_app.platforms.email_clients import ImapMailbox, MailServerRefused
from channels_app.services.channels import channel_alert_clear, channel_alert_set
from channels_app.services.inbound import inbound_event_record
from channels_app.services.poll_lock import channel_poll_lock

logger = logging.getLogger(__name__)

ALERT_PREFIX = "IMAP polling stopped:"


@dataclass(frozen=True)
class PollResult:
    """`status`: `polled`, `skipped` (not an active e-mail channel with IMAP
    settings), `locked` (another poll of this mailbox is running), `refused`
    (the server refused the login or folder; the channel's alert says why) or
    `unreachable` (tried again at the next poll). `fetched` messages were read,
    of which `accepted` were new and `duplicates` already stored."""

    status: str
    fetched: int = 0
    accepted: int = 0
    duplicates: int = 0


def mailbox_channel_ids() -> list[uuid.UUID]:
    """Ids of the active e-mail channels that have IMAP settings."""
    channels = Channel.objects.filter(type=Channel.Type.EMAIL, is_active=True)
    return [channel.pk for channel in channels.only("id", "config") if _polls(channel)]


def _polls(channel: Channel) -> bool:
    return bool(channel.config.get("imap_host"))


def mailbox_poll(*, channel_id: uuid.UUID | str) -> PollResult:
    """Fetch the new messages of one channel's mailbox into its inbound events.

    Only one poll of a mailbox runs at a time (a cache lock; Redis when
    configured). A refused login sets the channel's alert; the next poll that
    logs in clears it.
    """
    channel = Channel.objects.filter(
        pk=channel_id, type=Channel.Type.EMAIL, is_active=True
    ).first()
    if channel is None or not _polls(channel):
        return PollResult(status="skipped")
    with channel_poll_lock("mailbox", channel.pk) as taken:
        return _poll(channel) if taken else PollResult(status="locked")


def _poll(channel: Channel) -> PollResult:
    extra = {"channel_id": str(channel.id), "platform": channel.type}
    outcomes: Counter[str] = Counter()
    try:
        with ImapMailbox(channel.config, channel.secrets) as mailbox:
            if channel.alert.startswith(ALERT_PREFIX):
                channel_alert_clear(channel=channel)
            validity, next_uid = mailbox.status()
            last_uid = int(channel.config.get("imap_last_uid") or 0)
            rescan = channel.config.get("imap_uidvalidity") != validity or not last_uid
            if rescan:
                # Messages below UIDNEXT that the rescan does not list are older
                # than the channel's mail: the cursor ends up after them, and
                # only once the whole rescan is stored.
                last_uid = next_uid - 1
                uids = mailbox.uids_since(_rescan_from(channel))
            else:
                uids = mailbox.uids_after(last_uid)
            for uid, raw in mailbox.fetch(uids):
                outcome = inbound_event_record(
                    channel=channel, body=raw, content_type=RAW_CONTENT_TYPE
                )
                outcomes[outcome.status] += 1
                if not rescan:
                    _cursor_save(channel, validity=validity, last_uid=uid)
            _cursor_save(channel, validity=validity, last_uid=max([last_uid, *uids]))
    except MailServerRefused as error:
        alert = f"{ALERT_PREFIX} {error.reason}"
        if channel.alert != alert:
            channel_alert_set(channel=channel, alert=alert)
        logger.warning("mailbox.poll_refused", extra={**extra, "reason": error.reason})
        return PollResult(status="refused")
    except DeliveryError as error:
        logger.warning(
            "mailbox.poll_unreachable", extra={**extra, "reason": error.reason}
        )
        return _result("unreachable", outcomes)
    logger.info("mailbox.polled", extra={**extra, **outcomes})
    return _result("polled", outcomes)


def _result(status: str, outcomes: Counter[str]) -> PollResult:
    return PollResult(
        status=status,
        fetched=outcomes.total(),
        accepted=outcomes["accepted"],
        duplicates=outcomes["duplicate"],
    )


def _rescan_from(channel: Channel) -> date:
    """The day from which a poll without a usable cursor lists messages: the
    day before the last good poll, else before the channel was created (IMAP
    `SINCE` compares dates only, in the server's time zone)."""
    polled_at = channel.config.get("imap_polled_at")
    since = datetime.fromisoformat(polled_at) if polled_at else channel.created_at
    return since.date() - timedelta(days=1)


def _cursor_save(channel: Channel, *, validity: int, last_uid: int) -> None:
    """Record the cursor on the channel, under a row lock so a concurrent
    config change is not overwritten; within one UIDVALIDITY the last UID
    never moves back."""
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        config = dict(locked.config)
        same_folder = config.get("imap_uidvalidity") == validity
        previous = int(config.get("imap_last_uid") or 0) if same_folder else 0
        config.update(
            imap_uidvalidity=validity,
            imap_last_uid=max(previous, last_uid),
            imap_polled_at=timezone.now().isoformat(),
        )
        locked.config = config
        locked.save(update_fields=["config", "updated_at"])
    channel.config = config

"""Channel reads, and the channel lookup of the webhook hot path."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from billing.models import Business
from channels_app.models import Channel


def channel_list(business: Business) -> QuerySet[Channel]:
    """The business's channels, oldest first."""
    return Channel.objects.filter(business=business).order_by("created_at")


def channel_get(business: Business, channel_id) -> Channel:
    """One of the business's channels; `Channel.DoesNotExist` for an unknown id
    or another business's channel (never revealing that it exists)."""
    return Channel.objects.get(business=business, pk=channel_id)


# Channels loaded for webhooks, by id: (monotonic time loaded, channel). A web
# process reuses one for WEBHOOK_CHANNEL_CACHE_SECONDS: reading the channel and
# decrypting its credentials cost more than the rest of the acknowledgement.
_webhook_channels: dict[str, tuple[float, Channel]] = {}
WEBHOOK_CHANNELS_KEPT = 1024


def webhook_channel(
    channel_type: str, channel_id: str, *, fresh: bool = False
) -> Channel:
    """The channel a webhook URL names, with its decrypted credentials.

    The channel is read once per `WEBHOOK_CHANNEL_CACHE_SECONDS` per process
    (`fresh=True` reads it now); a save or delete in this process forgets it
    at once (`webhook_channel_forget`, on the model's signals). A reused
    channel may be that many seconds stale for edits made by other processes:
    callers check a failed signature again against a fresh read, and the
    worker reads the channel again before processing.

    Raises `Channel.DoesNotExist` for an unknown id, another type, or an id
    that is not a UUID. The returned instance is shared: do not modify it.
    """
    key = str(channel_id)
    max_age = settings.WEBHOOK_CHANNEL_CACHE_SECONDS
    kept = None if fresh else _webhook_channels.get(key)
    now = time.monotonic()
    if kept is not None and now - kept[0] < max_age:
        channel = kept[1]
    else:
        try:
            channel = Channel.objects.get(pk=channel_id)
        except (ValidationError, ValueError) as error:
            raise Channel.DoesNotExist(str(error)) from error
        if max_age > 0:
            if len(_webhook_channels) >= WEBHOOK_CHANNELS_KEPT:
                _webhook_channels.clear()
            _webhook_channels[key] = (now, channel)
    if channel.type != channel_type:
        raise Channel.DoesNotExist("No such channel of this type.")
    return channel


def webhook_channel_forget(channel_id: object) -> None:
    """Drop a channel from this process's webhook reuse (after a save or a
    delete)."""
    _webhook_channels.pop(str(channel_id), None)

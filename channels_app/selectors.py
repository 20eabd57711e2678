"""Channel reads."""

from __future__ import annotations

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

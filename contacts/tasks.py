"""Celery tasks of the contacts app. They take ids and call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from channels_app.platforms import get_platform
from channels_app.platforms.base import DeliveryError
from contacts.services.identities import identity_profile_apply
from conversations.models import ContactIdentity

logger = logging.getLogger(__name__)


@shared_task(
    name="contacts.fetch_identity_profiles",
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def fetch_identity_profiles(identity_ids: list[int]) -> dict[str, int]:
    """Ask the platform for each identity's profile (`Platform.fetch_profile`:
    Instagram's User Profile API, X's user lookup) and fill in the contact's
    name and picture and the identity's username where they are missing
    (`identity_profile_apply`).

    Once per identity: each is claimed by setting `profile_fetched_at` before
    the call (a conditional UPDATE, so a second run or a concurrent worker
    skips it), and stays set whatever the outcome. A failure (the platform
    refuses, does not know the user, or cannot be reached) is logged as
    `identity.profile_fetch_failed` with the reason and not retried: the
    contact keeps what it has, and the inbox shows its username or id.

    Returns `{"fetched", "failed", "skipped"}` counts."""
    counts = {"fetched": 0, "failed": 0, "skipped": 0}
    for identity_id in identity_ids:
        claimed = ContactIdentity.objects.filter(
            pk=identity_id, profile_fetched_at__isnull=True
        ).update(profile_fetched_at=timezone.now())
        identity = (
            ContactIdentity.objects.select_related("contact", "channel")
            .filter(pk=identity_id)
            .first()
        )
        if not claimed or identity is None or identity.contact.erased_at:
            counts["skipped"] += 1
            continue
        outcome = _fetch_one(identity)
        counts[outcome] += 1
    return counts


def _fetch_one(identity: ContactIdentity) -> str:
    channel = identity.channel
    log = {
        "identity_id": identity.pk,
        "channel_id": str(channel.id),
        "platform": channel.type,
    }
    try:
        profile = get_platform(channel.type).fetch_profile(
            channel, identity.external_id
        )
    except DeliveryError as error:
        logger.warning(
            "identity.profile_fetch_failed",
            extra={**log, "reason": error.reason, "status_code": error.status_code},
        )
        return "failed"
    if profile is None:
        return "skipped"
    identity_profile_apply(
        identity,
        name=profile.name,
        handle=profile.handle,
        avatar_url=profile.avatar_url,
    )
    logger.info("identity.profile_fetched", extra=log)
    return "fetched"

"""Writes for channels: validate config, create, update, delete, platform setup.

Platform calls (setup, webhook removal) always run outside database transactions,
after the channel row is committed, so a platform calling back (X's CRC against
the new webhook URL) finds the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import Business
from billing.services import plan_ensure_allows_channel
from channels_app.models import Channel
from channels_app.platforms import get_platform
from channels_app.platforms.base import CredentialsRejected, Platform
from channels_app.selectors import webhook_channel_forget

logger = logging.getLogger(__name__)

MASK = "****"


class ConfigInvalid(Exception):
    """The config does not fit the channel type. `errors` maps each config field
    to its messages, e.g. `{"api_key": ["This field is required."]}`."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class ChannelConfig:
    """A validated config, split into what is stored in clear and what is
    stored encrypted."""

    public: dict[str, Any]
    secrets: dict[str, str]


def mask_secret(value: str) -> str:
    """`****` followed by the last 4 characters; only `****` for values under 12
    characters, whose last 4 would give away too much."""
    return MASK + value[-4:] if len(value) >= 12 else MASK


def channel_public_config(
    channel: Channel, *, reveal: bool = False, extra: bool = True
) -> dict[str, Any]:
    """The channel's config as shown to admins: secrets masked, plus (when
    `extra`) what the platform adds (`Platform.public_config_extra`, e.g.
    WhatsApp's `_meta_setup_instructions`), whose secrets are in clear only
    when `reveal` (the answer to the create call, so the admin can paste
    them)."""
    masked = {name: mask_secret(value) for name, value in channel.secrets.items()}
    added = {}
    if extra:
        added = get_platform(channel.type).public_config_extra(channel, reveal=reveal)
    return {**channel.config, **masked, **added}


def channel_config_clean(
    *, channel_type: str, config: Mapping[str, Any], current: Channel | None = None
) -> ChannelConfig:
    """Validate `config` for `channel_type` and split it into public and secret.

    On an update of a channel of the same type (`current`), `config` is merged
    into the stored config: fields left out keep their value, a field set to null
    is removed, and a masked value sent back unchanged keeps the stored secret.
    Keys starting with `_`, fields learned by setup and secrets setup created
    are ignored.

    New or changed credentials are checked with the platform
    (`Platform.check_credentials`, e.g. Telegram's `getMe`).

    Raises `ConfigInvalid` naming each bad field (missing, unknown, wrong form,
    or refused by the platform, with the platform's reason).
    """
    platform = get_platform(channel_type)
    if not isinstance(config, Mapping):
        raise ConfigInvalid({"non_field_errors": ["Expected an object."]})
    known = set(platform.config_serializer().fields)
    # Secrets setup created (masked in what admins see) are not config fields.
    setup_secrets = set(current.secrets) - known if current is not None else set()
    given = {
        name: value
        for name, value in config.items()
        if not name.startswith("_")
        and name not in platform.learned_fields
        and name not in setup_secrets
    }
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigInvalid(
            {name: [f"Unknown field for {channel_type} channels."] for name in unknown}
        )
    stored: dict[str, Any] = {}
    if current is not None and current.type == channel_type:
        stored = {**current.config, **current.secrets}
        for name, value in list(given.items()):
            secret = current.secrets.get(name)
            if secret is not None and value == mask_secret(secret):
                given[name] = secret
    merged = {
        name: value for name, value in {**stored, **given}.items() if name in known
    }
    merged = {name: value for name, value in merged.items() if value is not None}
    serializer = platform.config_serializer(data=merged)
    if not serializer.is_valid():
        raise ConfigInvalid(dict(serializer.errors))
    data = dict(serializer.validated_data)
    secrets = {
        name: data.pop(name) for name in list(data) if name in platform.secret_fields
    }
    unchanged = (
        current is not None
        and current.type == channel_type
        and {k: v for k, v in current.secrets.items() if k in known} == secrets
        and {k: v for k, v in current.config.items() if k in known} == data
    )
    if not unchanged:
        try:
            platform.check_credentials(data, secrets)
        except CredentialsRejected as error:
            raise ConfigInvalid({error.field: [error.message]}) from error
    return ChannelConfig(public=data, secrets=secrets)


def channel_plan_check(
    *, business: Business, channel_type: str, channel: Channel | None = None
) -> None:
    """Raise `PlanLimitExceeded` unless `business` may have a channel of
    `channel_type` besides its other channels (all but `channel`, when an
    existing channel changes type)."""
    others = Channel.objects.filter(business=business)
    if channel is not None:
        others = others.exclude(pk=channel.pk)
    plan_ensure_allows_channel(
        business=business, channel_type=channel_type, channel_count=others.count()
    )


def _lock_business(business: Business) -> None:
    # Serializes plan checks so two concurrent creates cannot both pass the limit.
    Business.objects.select_for_update().filter(pk=business.pk).first()


def channel_create(
    *,
    business: Business,
    channel_type: str,
    config: ChannelConfig,
    is_active: bool = True,
    name: str = "",
) -> Channel:
    """Create a channel and configure the platform side (`channel_setup`).

    `name` (up to 200 characters) is the admin's; left empty, setup names
    the channel from the platform (`SetupResult.name`).

    Raises `PlanLimitExceeded` when the plan does not allow the type or one more
    channel. A platform refusing a setup step does not fail the creation: it is
    recorded in `setup_state` / `setup_message`.
    """
    with transaction.atomic():
        _lock_business(business)
        channel_plan_check(business=business, channel_type=channel_type)
        channel = Channel.objects.create(
            business=business,
            type=channel_type,
            config=config.public,
            secrets=config.secrets,
            is_active=is_active,
            name=name,
        )
    return channel_setup(channel=channel)


def channel_update(
    *,
    channel: Channel,
    channel_type: str | None = None,
    config: ChannelConfig | None = None,
    is_active: bool | None = None,
    name: str | None = None,
) -> Channel:
    """Change a channel's type, config, active state or name.

    `name` (None: unchanged) is the admin's and no setup replaces it; an
    empty name lets the next setup name the channel from the platform.

    A type change is checked against the plan (`PlanLimitExceeded`) and needs a
    config for the new type. When the type or the credentials change, the old
    platform registration is removed and setup runs again. Deactivating stops
    outbound sends through the channel and removes its platform registration
    (e.g. the Telegram webhook); its conversations stay. Reactivating runs
    setup again.
    """
    previous = Channel.objects.get(pk=channel.pk)
    new_type = channel_type or previous.type
    reconnect = new_type != previous.type
    # Secrets setup created (a webhook secret, a generated verify token) are not
    # config fields: they stay while the type does.
    setup_secrets: dict[str, str] = {}
    if config is not None and not reconnect:
        fields = set(get_platform(new_type).config_serializer().fields)
        stated = {k: v for k, v in previous.config.items() if k in fields}
        stated_secrets = {k: v for k, v in previous.secrets.items() if k in fields}
        setup_secrets = {k: v for k, v in previous.secrets.items() if k not in fields}
        reconnect = config.secrets != stated_secrets or config.public != stated
    with transaction.atomic():
        if new_type != previous.type:
            _lock_business(previous.business)
            channel_plan_check(
                business=previous.business, channel_type=new_type, channel=previous
            )
        if config is not None:
            # Values setup learned stay until setup runs again.
            channel.config = config.public if reconnect else previous.config
            channel.secrets = {**setup_secrets, **config.secrets}
        if name is not None:
            channel.name = name
        elif reconnect and _named_by_setup(previous):
            # The next setup names it after the new account.
            channel.name = ""
        channel.type = new_type
        if is_active is not None:
            channel.is_active = is_active
        channel.save()
    if previous.is_active and not channel.is_active:
        _platform_disconnect(previous)
        return channel
    if reconnect:
        if previous.is_active:
            _platform_disconnect(previous)
        return channel_setup(channel=channel) if channel.is_active else channel
    if channel.is_active and not previous.is_active:
        return channel_setup(channel=channel)
    return channel


def channel_delete(*, channel: Channel) -> None:
    """Remove the platform registration (best effort; an inactive channel has
    none), then the channel. Its conversations and messages are kept, with
    their `channel_type`."""
    if channel.is_active:
        _platform_disconnect(channel)
    channel.delete()


def channel_setup(*, channel: Channel) -> Channel:
    """Run the platform's setup (`Platform.on_create`) and record its outcome and
    the values (and secrets) it learned on the channel.

    The platform's name for the channel (`SetupResult.name`) becomes the
    channel's name when it has none or still has the one the last setup gave
    it (`Platform.setup_name` of the config as it was): a name an admin typed
    stays."""
    renamable = _named_by_setup(channel)
    result = get_platform(channel.type).on_create(channel)
    return _setup_record(channel, result, renamable=renamable)


def _setup_record(channel: Channel, result, *, renamable: bool) -> Channel:
    """Store a setup's outcome (`SetupResult`) on the channel."""
    channel.config = {**channel.config, **result.config}
    if result.name and renamable:
        channel.name = result.name[: Channel._meta.get_field("name").max_length]
    channel.secrets = {**channel.secrets, **result.secrets}
    channel.setup_state = result.state
    channel.setup_message = result.message
    channel.setup_checked_at = timezone.now()
    channel.save(
        update_fields=[
            "name",
            "config",
            "secrets",
            "setup_state",
            "setup_message",
            "setup_checked_at",
            "updated_at",
        ]
    )
    logger.info(
        "channel.setup",
        extra={
            "channel_id": str(channel.id),
            "platform": channel.type,
            "setup_state": channel.setup_state,
        },
    )
    return channel


def channel_setup_outdated_ids() -> list:
    """Ids of the active channels whose setup an older PingBack ran and that
    need it again (`Platform.setup_outdated`, e.g. a Telegram webhook
    registered for fewer update kinds than PingBack handles now)."""
    channels = Channel.objects.filter(is_active=True).only(
        "pk", "type", "config", "setup_state"
    )
    return [
        channel.pk
        for channel in channels.iterator()
        if get_platform(channel.type).setup_outdated(channel)
    ]


def channel_setup_refresh(*, channel_id) -> str:
    """Run setup again for an outdated channel (see
    `channel_setup_outdated_ids`), so it gets what setup registers now
    without an admin doing anything. Idempotent. Returns `refreshed`,
    `current` (gone, inactive or not outdated: nothing done) or `failed`:
    the platform refused or could not be reached; the channel is left as
    it was (its webhook still works for what it was registered for) and
    the next run tries again."""
    channel = Channel.objects.filter(pk=channel_id, is_active=True).first()
    if channel is None:
        return "current"
    platform = get_platform(channel.type)
    if not platform.setup_outdated(channel):
        return "current"
    renamable = _named_by_setup(channel)
    result = platform.on_create(channel)
    extra = {"channel_id": str(channel.pk), "platform": channel.type}
    if result.state != Channel.SetupState.READY:
        logger.warning(
            "channel.setup_refresh_failed", extra={**extra, "reason": result.message}
        )
        return "failed"
    _setup_record(channel, result, renamable=renamable)
    logger.info("channel.setup_refreshed", extra=extra)
    return "refreshed"


def channel_mark_receiving(*, channel: Channel, platform: Platform) -> None:
    """Turn a channel whose setup waits for the platform's first event
    (`Platform.ready_on_signed_event`, e.g. Meta's dashboard step) `ready`:
    a webhook for it just passed the signature check, so the callback URL,
    the verify token and the app secret are all in place.

    Called by the webhook view on every verified delivery; costs nothing
    unless the in-memory `channel` is still `action_required`, then one
    conditional UPDATE (a concurrent delivery that flipped it first makes
    it a no-op) and the webhook channel cache forgets the channel. The
    setup message becomes `Platform.receiving_message` ("Receiving events
    from Meta since <time> UTC.")."""
    if (
        not platform.ready_on_signed_event
        or channel.setup_state != Channel.SetupState.ACTION_REQUIRED
    ):
        return
    now = timezone.now()
    flipped = Channel.objects.filter(
        pk=channel.pk, setup_state=Channel.SetupState.ACTION_REQUIRED
    ).update(
        setup_state=Channel.SetupState.READY,
        setup_message=platform.receiving_message(channel, now),
        setup_checked_at=now,
        updated_at=now,
    )
    webhook_channel_forget(channel.pk)
    if flipped:
        logger.info(
            "channel.ready",
            extra={"channel_id": str(channel.id), "platform": channel.type},
        )


def _named_by_setup(channel: Channel) -> bool:
    """Whether the channel has no name, or the one setup gave it (so setup
    may name it again)."""
    if not channel.name:
        return True
    given = get_platform(channel.type).setup_name(channel.config)
    return (
        bool(given)
        and channel.name == given[: Channel._meta.get_field("name").max_length]
    )


def channel_alert_set(*, channel: Channel, alert: str) -> None:
    """Record an account-level problem found while sending (shown to admins)."""
    Channel.objects.filter(pk=channel.pk).update(alert=alert, alert_at=timezone.now())


def channel_pause(*, channel: Channel, until: datetime) -> datetime:
    """Hold every send on `channel` until `until` (the platform rate-limited
    the account), unless it is already paused for longer. Atomic across
    workers: the pause only ever moves later. Returns the pause in force."""
    Channel.objects.filter(pk=channel.pk).filter(
        Q(paused_until__isnull=True) | Q(paused_until__lt=until)
    ).update(paused_until=until)
    return (
        Channel.objects.filter(pk=channel.pk)
        .values_list("paused_until", flat=True)
        .get()
    )


def channel_alert_clear(*, channel: Channel) -> None:
    """Clear the alert after a send went through again."""
    Channel.objects.filter(pk=channel.pk).exclude(alert="").update(
        alert="", alert_at=None
    )


def _platform_disconnect(channel: Channel) -> None:
    get_platform(channel.type).on_delete(channel)

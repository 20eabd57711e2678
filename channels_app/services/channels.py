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
from channels_app.platforms.base import CredentialsRejected

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
) -> Channel:
    """Create a channel and configure the platform side (`channel_setup`).

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
        )
    return channel_setup(channel=channel)


def channel_update(
    *,
    channel: Channel,
    channel_type: str | None = None,
    config: ChannelConfig | None = None,
    is_active: bool | None = None,
) -> Channel:
    """Change a channel's type, config or active state.

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
    the values (and secrets) it learned on the channel."""
    result = get_platform(channel.type).on_create(channel)
    channel.config = {**channel.config, **result.config}
    channel.secrets = {**channel.secrets, **result.secrets}
    channel.setup_state = result.state
    channel.setup_message = result.message
    channel.setup_checked_at = timezone.now()
    channel.save(
        update_fields=[
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

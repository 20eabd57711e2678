"""Channel writes: configuration and setup, inbound events, outbound delivery."""

from channels_app.services.channels import (
    ChannelConfig,
    ConfigInvalid,
    channel_config_clean,
    channel_create,
    channel_delete,
    channel_mark_receiving,
    channel_plan_check,
    channel_public_config,
    channel_setup,
    channel_setup_outdated_ids,
    channel_setup_refresh,
    channel_update,
)

__all__ = [
    "ChannelConfig",
    "ConfigInvalid",
    "channel_config_clean",
    "channel_create",
    "channel_delete",
    "channel_mark_receiving",
    "channel_plan_check",
    "channel_public_config",
    "channel_setup",
    "channel_setup_outdated_ids",
    "channel_setup_refresh",
    "channel_update",
]

"""Channel API shapes (PingBack channels reference: create, update, response)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from channels_app.models import Channel
from channels_app.platforms import get_platform
from channels_app.platforms.capabilities import channel_capabilities
from channels_app.services import (
    ConfigInvalid,
    channel_config_clean,
    channel_public_config,
)
from channels_app.services.routing import NO_SUCH_TEAM
from workspace.models import Team


@extend_schema_field(OpenApiTypes.OBJECT)
class ConfigField(serializers.JSONField):
    """A channel's `config`: a JSON object (in form data, one part holding the
    JSON text). Anything else is refused by `channel_config_clean` (400)."""


class ChannelInputSerializer(serializers.Serializer):
    """Body of `POST /api/v1/channels/` and `PATCH /api/v1/channels/{id}`.

    `config` is validated for the type: a missing required field answers 400
    naming it (`{"config": {"api_key": ["This field is required."]}}`). On PATCH,
    `config` is merged into the stored one (see `channel_config_clean`).

    `auto_assign` (bool) and `team_id` (a team of the caller's business, or
    null) route the channel's new conversations; another business's or an
    unknown team is 400 naming `team_id`. Needs `business` in the context.

    `name` (up to 200 characters, 400 naming `name` when longer) is what the
    inbox shows; left empty, setup fills it from the platform (the bot's
    @username, the number, the mailbox), and a name typed here is kept
    across setups.
    """

    type = serializers.ChoiceField(choices=Channel.Type.choices)
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Shown in the inbox (empty: named from the platform at setup).",
    )
    config = ConfigField(required=False, default=dict)
    is_active = serializers.BooleanField(required=False, default=True)
    auto_assign = serializers.BooleanField(
        required=False,
        help_text="Assign each new conversation to an online agent, round-robin, "
        "skipping agents at capacity (default false).",
    )
    team_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="A team of the business: new conversations go to it, and "
        "auto-assignment picks among its members (null: every agent).",
    )

    def validate_team_id(self, value: int | None) -> Team | None:
        if value is None:
            return None
        team = Team.objects.filter(pk=value, business=self.context["business"]).first()
        if team is None:
            raise serializers.ValidationError(NO_SUCH_TEAM)
        return team

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current: Channel | None = self.context.get("channel")
        channel_type = attrs.get("type") or current.type
        if current is not None and "config" not in self.initial_data:
            if channel_type == current.type:
                return attrs
            attrs["config"] = {}
        try:
            attrs["clean_config"] = channel_config_clean(
                channel_type=channel_type,
                config=attrs.get("config", {}),
                current=current,
            )
        except ConfigInvalid as error:
            raise serializers.ValidationError({"config": error.errors}) from error
        return attrs


class ChannelSetupSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=Channel.SetupState.choices)
    message = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)


class ChannelCapabilitiesSerializer(serializers.Serializer):
    """What a reply on the channel may carry (read-only; from PingBack's
    capabilities table, `channels_app.platforms.capabilities`). On X,
    `max_text_length` is that of a direct message; replies to posts are
    limited to 280 characters."""

    max_text_length = serializers.IntegerField(
        help_text="Characters of text in one reply."
    )
    max_file_bytes = serializers.IntegerField(help_text="Bytes of one file.")
    max_files = serializers.IntegerField(help_text="Files in one reply.")
    supports_files = serializers.BooleanField()
    supports_templates = serializers.BooleanField(
        help_text="Whether replies may be approved template messages."
    )


class ChannelOutputSerializer(serializers.ModelSerializer):
    """A channel as the API shows it: `name` (as the inbox shows it; empty
    until setup or an admin names it); credentials masked (`****` + last 4);
    `capabilities`: the channel's reply limits (read-only)."""

    business_id = serializers.UUIDField(read_only=True)
    team_id = serializers.IntegerField(read_only=True, allow_null=True)
    config = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField()
    setup = serializers.SerializerMethodField()
    capabilities = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "id",
            "business_id",
            "type",
            "name",
            "config",
            "is_active",
            "created_at",
            "updated_at",
            "webhook_url",
            "setup",
            "alert",
            "capabilities",
            "auto_assign",
            "team_id",
        ]

    @extend_schema_field(serializers.DictField())
    def get_config(self, channel: Channel) -> dict[str, Any]:
        return channel_public_config(
            channel, reveal=self.context.get("reveal_setup_secrets", False)
        )

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_webhook_url(self, channel: Channel) -> str | None:
        return get_platform(channel.type).webhook_url(channel)

    @extend_schema_field(ChannelSetupSerializer)
    def get_setup(self, channel: Channel) -> dict[str, Any]:
        return {
            "state": channel.setup_state,
            "message": channel.setup_message,
            "checked_at": channel.setup_checked_at,
        }

    @extend_schema_field(ChannelCapabilitiesSerializer)
    def get_capabilities(self, channel: Channel) -> dict[str, Any]:
        return channel_capabilities(channel.type).as_dict()


class ChannelDeletedSerializer(serializers.Serializer):
    message = serializers.CharField(default="Channel deleted")

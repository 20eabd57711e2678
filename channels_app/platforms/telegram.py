"""Telegram bots. Source: https://core.telegram.org/bots/api (PLATFORMS.md §2).

Configuration only for now: the webhook, parsing and sending land with the
Telegram channel work.
"""

from rest_framework import serializers

from channels_app.platforms.base import UnconnectedPlatform


class TelegramConfigSerializer(serializers.Serializer):
    """`bot_token`: the token @BotFather gave the bot (`<bot id>:<secret>`)."""

    bot_token = serializers.RegexField(
        r"^\d+:[A-Za-z0-9_-]+$",
        max_length=200,
        error_messages={"invalid": "Expected a bot token like 123456:ABC-DEF..."},
    )


class TelegramPlatform(UnconnectedPlatform):
    channel_type = "telegram"
    label = "Telegram"
    config_serializer = TelegramConfigSerializer
    secret_fields = frozenset({"bot_token"})

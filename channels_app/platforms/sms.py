"""SMS through Twilio. Source: https://www.twilio.com/docs/messaging/api
(PLATFORMS.md §5).

Configuration only for now: the webhook, parsing and sending land with the SMS
channel work.
"""

from rest_framework import serializers

from channels_app.platforms.base import UnconnectedPlatform


class SmsConfigSerializer(serializers.Serializer):
    """The Twilio account SID (`AC…`), its auth token (also the key Twilio signs
    webhooks with) and the sending number in E.164 (`+15551234567`)."""

    account_sid = serializers.RegexField(r"^AC[0-9a-fA-F]{32}$")
    auth_token = serializers.CharField(max_length=200)
    phone_number = serializers.RegexField(
        r"^\+[1-9]\d{6,14}$",
        error_messages={
            "invalid": "Expected a number in E.164 form, e.g. +15551234567."
        },
    )


class SmsPlatform(UnconnectedPlatform):
    channel_type = "sms"
    label = "SMS"
    config_serializer = SmsConfigSerializer
    secret_fields = frozenset({"auth_token"})

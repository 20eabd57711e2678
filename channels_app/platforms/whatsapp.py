"""WhatsApp Cloud API. Source: https://developers.facebook.com/docs/whatsapp/cloud-api
(PLATFORMS.md §3).

Configuration only for now: the webhook, parsing and sending land with the
WhatsApp channel work.
"""

from rest_framework import serializers

from channels_app.platforms.base import UnconnectedPlatform


class WhatsAppConfigSerializer(serializers.Serializer):
    """Meta app values: the sending number's id, a long-lived access token, the
    verify token the admin chose for the webhook handshake, and optionally the
    app secret that signs webhooks."""

    phone_number_id = serializers.RegexField(r"^\d+$", max_length=64)
    access_token = serializers.CharField(max_length=1000)
    verify_token = serializers.CharField(max_length=200)
    app_secret = serializers.CharField(max_length=200, required=False)


class WhatsAppPlatform(UnconnectedPlatform):
    channel_type = "whatsapp"
    label = "WhatsApp"
    config_serializer = WhatsAppConfigSerializer
    secret_fields = frozenset({"access_token", "verify_token", "app_secret"})

"""The web chat widget, PingBack's own channel (PLATFORMS.md §7).

Configuration only for now: the embeddable widget lands with the web widget work.
"""

from rest_framework import serializers

from channels_app.platforms.base import UnconnectedPlatform


class WebWidgetConfigSerializer(serializers.Serializer):
    """Widget settings; all optional."""

    allowed_domains = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False
    )
    welcome_message = serializers.CharField(max_length=1000, required=False)
    brand_color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False)
    logo_url = serializers.URLField(required=False)


class WebWidgetPlatform(UnconnectedPlatform):
    channel_type = "webchat"
    label = "web widget"
    config_serializer = WebWidgetConfigSerializer

"""Instagram messaging. Source:
https://developers.facebook.com/docs/messenger-platform/instagram (PLATFORMS.md §4).

Configuration only for now: the webhook, parsing and sending land with the
Instagram channel work.
"""

from rest_framework import serializers

from channels_app.platforms.base import UnconnectedPlatform


class InstagramConfigSerializer(serializers.Serializer):
    """A Meta access token, the Facebook page (or Instagram account) id, and
    optionally the app secret that signs webhooks."""

    access_token = serializers.CharField(max_length=1000)
    page_id = serializers.RegexField(r"^\d+$", max_length=64)
    app_secret = serializers.CharField(max_length=200, required=False)


class InstagramPlatform(UnconnectedPlatform):
    channel_type = "instagram"
    label = "Instagram"
    config_serializer = InstagramConfigSerializer
    secret_fields = frozenset({"access_token", "app_secret"})

"""E-mail: IMAP polling in, SMTP out (PLATFORMS.md §6).

Configuration only for now: polling, parsing and sending land with the e-mail
channel work.
"""

from rest_framework import serializers

from channels_app.platforms.base import UnconnectedPlatform


class EmailConfigSerializer(serializers.Serializer):
    """The support address customers write to; SMTP to send replies; IMAP to poll
    the mailbox (optional when mail arrives by a provider's inbound webhook)."""

    address = serializers.EmailField()
    smtp_host = serializers.CharField(max_length=255)
    smtp_port = serializers.IntegerField(min_value=1, max_value=65535, default=587)
    smtp_username = serializers.CharField(max_length=255)
    smtp_password = serializers.CharField(max_length=255)
    smtp_security = serializers.ChoiceField(
        choices=["starttls", "ssl", "none"], default="starttls"
    )
    imap_host = serializers.CharField(max_length=255, required=False)
    imap_port = serializers.IntegerField(min_value=1, max_value=65535, default=993)
    imap_username = serializers.CharField(max_length=255, required=False)
    imap_password = serializers.CharField(max_length=255, required=False)
    imap_folder = serializers.CharField(max_length=255, default="INBOX")


class EmailPlatform(UnconnectedPlatform):
    channel_type = "email"
    label = "e-mail"
    config_serializer = EmailConfigSerializer
    secret_fields = frozenset({"smtp_password", "imap_password"})

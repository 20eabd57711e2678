"""API token shapes: what a member sees of their own tokens."""

from __future__ import annotations

from rest_framework import serializers

from billing.models import ApiToken


class ApiTokenCreateSerializer(serializers.Serializer):
    """Body of `POST /api/v1/tokens/`: an optional `name` (default `default`)
    to tell the token apart later, e.g. the integration that uses it."""

    name = serializers.CharField(max_length=100, required=False, default="default")


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token as its member sees it: `prefix` (its first 10 characters), never
    the clear token or its digest. `revoked_at` is null while the token works."""

    class Meta:
        model = ApiToken
        fields = ["id", "prefix", "name", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    """The answer to `POST /api/v1/tokens/`: the token and, in `token`, its clear
    value (`pb_…`). PingBack keeps only a digest: this is the one time the
    clear token is shown."""

    token = serializers.CharField(read_only=True)

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class BusinessSettingsSerializer(serializers.Serializer):
    """The caller's business as `GET/PATCH /api/v1/business/` shows it.

    `time_zone`: IANA name (snooze presets and business hours use it);
    `default_country`: ISO 3166 code a phone number written without a
    country code is read in ("" for none); `search_language`: the text
    search configuration messages are searched in (`simple` matches words as
    written; a language also matches other forms of a word); `plan` is read
    only. A PATCH changes only the fields it sends."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(max_length=200, required=False)
    plan = serializers.CharField(read_only=True)
    time_zone = serializers.CharField(max_length=64, required=False)
    default_country = serializers.CharField(
        max_length=2, required=False, allow_blank=True
    )
    search_language = serializers.CharField(max_length=32, required=False)

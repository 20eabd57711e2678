"""API token shapes: what a member sees of their own tokens."""

from __future__ import annotations

from rest_framework import serializers

from billing.models import ApiToken, Member


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


class MemberSerializer(serializers.Serializer):
    """A member as `/api/v1/members/` shows it: `id` (the member's id, used in
    these URLs), `user_id` (what a conversation's `assignee_id` takes),
    `name` (full name, else the login), `email`, `role` (`admin` or
    `agent`), `state` (`active`; `invited`: has not set a password yet;
    `deactivated`: may not log in nor use a token) and `created_at`."""

    id = serializers.IntegerField(read_only=True)
    user_id = serializers.IntegerField(read_only=True)
    name = serializers.SerializerMethodField()
    email = serializers.EmailField(source="user.email", read_only=True)
    role = serializers.CharField(read_only=True)
    state = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    def get_name(self, member) -> str:
        return member.user.get_full_name() or member.user.get_username()


class MemberInviteSerializer(serializers.Serializer):
    """Body of `POST /api/v1/members/`: the `email` to invite (at most 150
    characters; not already a PingBack account's) and their `role`
    (`admin` or `agent`, default `agent`)."""

    email = serializers.EmailField(max_length=150)
    role = serializers.ChoiceField(
        choices=Member.Role.choices, required=False, default=Member.Role.AGENT
    )


class MemberInvitedSerializer(MemberSerializer):
    """The answer to an invitation: the member and `invitation_sent`, false
    when the mail server refused the e-mail (the member is kept: send it
    again with `POST /api/v1/members/{id}/resend_invitation/`)."""

    invitation_sent = serializers.BooleanField(read_only=True)


class MemberRoleSerializer(serializers.Serializer):
    """Body of `PATCH /api/v1/members/{id}/`: the new `role`."""

    role = serializers.ChoiceField(choices=Member.Role.choices)


class MemberDeactivatedSerializer(MemberSerializer):
    """The answer to a deactivation: the member and how many of their open,
    pending and snoozed conversations were unassigned."""

    unassigned_conversations = serializers.IntegerField(read_only=True)

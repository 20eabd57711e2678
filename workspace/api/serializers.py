"""Team, label and canned response API shapes: input (what a client sends) and
output (what PingBack answers)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import Member
from workspace.models import (
    CANNED_CONTENT_MAX_LENGTH,
    LABEL_DEFAULT_COLOR,
    LABEL_NAME_MAX_LENGTH,
    SHORT_CODE_MAX_LENGTH,
    CannedResponse,
    Label,
    SavedFilter,
    Team,
    color_validator,
    short_code_validator,
    validate_label_name,
)

# A PostgreSQL bigint: larger ids cannot name a user.
MAX_ID = 2**63 - 1


def _django_validator(validator):
    """A model field validator as a DRF one (its message as the field's)."""

    def check(value: str) -> None:
        try:
            validator(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error

    return check


class SearchQuerySerializer(serializers.Serializer):
    """`?search=`: up to 100 characters, matched case-insensitively anywhere;
    empty means no filter."""

    search = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=True,
    )


class TeamMemberSerializer(serializers.Serializer):
    """A team member: `id` is the user id (as `assignee_id` of a conversation),
    `name` the full name or the login, `email`."""

    id = serializers.IntegerField(source="user.id")
    name = serializers.SerializerMethodField()
    email = serializers.EmailField(source="user.email")

    def get_name(self, member: Member) -> str:
        return member.user.get_full_name() or member.user.get_username()


class TeamInputSerializer(serializers.Serializer):
    """Body of `POST /api/v1/teams/` (and `PATCH`, any of the fields): `name`
    (1 to 100 characters, unique in the business ignoring case), `description`,
    `member_ids` (user ids of the business's members; replaces the members)."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(
        max_length=1000, required=False, allow_blank=True
    )
    member_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=500,
    )


class TeamOutputSerializer(serializers.ModelSerializer):
    """A team: its members as `{id, name, email}` (id: the user id)."""

    members = TeamMemberSerializer(many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "description", "members", "created_at"]
        read_only_fields = fields


class LabelInputSerializer(serializers.Serializer):
    """Body of `POST /api/v1/labels/` (and `PATCH`, any of the fields): `name`
    (1 to 40 characters, no comma, unique in the business ignoring case), `color`
    (`#rrggbb`, default a neutral grey), `description`."""

    name = serializers.CharField(
        max_length=LABEL_NAME_MAX_LENGTH,
        validators=[_django_validator(validate_label_name)],
    )
    color = serializers.CharField(
        max_length=7,
        required=False,
        default=LABEL_DEFAULT_COLOR,
        validators=[_django_validator(color_validator)],
    )
    description = serializers.CharField(
        max_length=1000, required=False, allow_blank=True
    )


class LabelOutputSerializer(serializers.ModelSerializer):
    """A label; `color` is lowercase `#rrggbb`."""

    class Meta:
        model = Label
        fields = ["id", "name", "color", "description", "created_at"]
        read_only_fields = fields


class CannedResponseInputSerializer(serializers.Serializer):
    """Body of `POST /api/v1/canned_responses/` (and `PATCH`, any of the
    fields): `short_code` (1 to 40 of `a-z 0-9 _ -`, unique in the business),
    `content` (1 to 4,000 characters, not only spaces, kept as typed; may hold
    `{{contact.name}}`, `{{agent.name}}`, `{{conversation.id}}`)."""

    short_code = serializers.CharField(
        max_length=SHORT_CODE_MAX_LENGTH,
        trim_whitespace=False,
        validators=[_django_validator(short_code_validator)],
    )
    content = serializers.CharField(
        max_length=CANNED_CONTENT_MAX_LENGTH, trim_whitespace=False
    )

    def validate_content(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError(
                "A canned response cannot be only spaces."
            )
        return value


class CannedResponseAuthorSerializer(TeamMemberSerializer):
    """Who created a canned response (`id`: the user id)."""


class CannedResponseOutputSerializer(serializers.ModelSerializer):
    """A canned response; `created_by` is null once its author left."""

    created_by = serializers.SerializerMethodField()

    class Meta:
        model = CannedResponse
        fields = ["id", "short_code", "content", "created_by", "created_at"]
        read_only_fields = fields

    @extend_schema_field(CannedResponseAuthorSerializer(allow_null=True))
    def get_created_by(self, canned: CannedResponse) -> dict | None:
        if canned.created_by is None:
            return None
        return CannedResponseAuthorSerializer(canned.created_by).data


class AgentOutputSerializer(serializers.Serializer):
    """A member of the business: `id` is the user id (a conversation's
    `assignee_id`), `name` the full name or the login, `role` `admin` or
    `agent`, `teams` the ids of their teams."""

    id = serializers.IntegerField(source="user.id")
    name = serializers.SerializerMethodField()
    email = serializers.EmailField(source="user.email")
    role = serializers.CharField()
    teams = serializers.SerializerMethodField()

    def get_name(self, member: Member) -> str:
        return member.user.get_full_name() or member.user.get_username()

    def get_teams(self, member: Member) -> list[int]:
        return sorted(team.pk for team in member.teams.all())


class SavedFilterInputSerializer(serializers.Serializer):
    """Body of `POST /api/v1/saved_filters/` (and `PATCH`, any of the
    fields): `name` (1 to 60 characters, unique among the caller's saved
    filters ignoring case) and `query`, a query string of
    `GET /api/v1/conversations/` (`status=open&label=vip&team=3`; keys among
    `view`, `channel_type`, `status`, `assignee`, `channel`, `team`,
    `label`, `mentioned`, each value as that filter takes it). An unknown key or a bad
    value answers 400 naming `query`.

    Context: `check_query`, a callable returning the query's error or None."""

    name = serializers.CharField(max_length=60)
    query = serializers.CharField(max_length=1000, allow_blank=True)

    def validate_query(self, value: str) -> str:
        error = self.context["check_query"](value)
        if error:
            raise serializers.ValidationError(error)
        return value.lstrip("?")


class SavedFilterOutputSerializer(serializers.ModelSerializer):
    """A saved filter of the caller's: `query` without a leading `?`."""

    class Meta:
        model = SavedFilter
        fields = ["id", "name", "query", "created_at"]
        read_only_fields = fields

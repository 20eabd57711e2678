"""Conversation and message API shapes."""

from __future__ import annotations

import unicodedata

from django.contrib.auth import get_user_model
from django.db.models.functions import Lower
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from channels_app.platforms.capabilities import LONGEST_REPLY
from conversations.models import Conversation, Message
from conversations.services.attachments import attachment_link
from conversations.services.conversations import (
    BULK_MAX,
    LABEL_ADDED_AND_REMOVED,
    NO_SUCH_AGENT,
    NO_SUCH_LABEL,
    NO_SUCH_TEAM,
    SNOOZE_IN_THE_PAST,
    SNOOZE_NEEDS_STATUS,
)
from conversations.services.replies import MAX_REPLY_LENGTH, ReplyRefused, reply_check
from workspace.models import LABEL_NAME_MAX_LENGTH, Label, Team

# Most labels one change may name.
LABELS_MAX = 50


class ContactSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="contact.id")
    name = serializers.CharField(source="contact.name")
    avatar_url = serializers.CharField(source="contact.avatar_url")
    external_id = serializers.CharField(
        source="contact_identity.external_id", default=""
    )
    handle = serializers.CharField(source="contact_identity.handle", default="")


class AgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()
    email = serializers.EmailField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.get_username()


class TeamRefSerializer(serializers.Serializer):
    """A team, as a conversation shows it."""

    id = serializers.IntegerField()
    name = serializers.CharField()


class LabelRefSerializer(serializers.Serializer):
    """A label, as a conversation shows it; `color` is `#rrggbb`."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    color = serializers.CharField()


class ConversationSerializer(serializers.ModelSerializer):
    """A conversation in the inbox list and detail: `team` (`{id, name}` or
    null) and `labels` (`[{id, name, color}]`, by name) among the rest."""

    contact = ContactSerializer(source="*", read_only=True)
    assignee = AgentSerializer(read_only=True, allow_null=True)
    channel_id = serializers.UUIDField(read_only=True, allow_null=True)
    team = TeamRefSerializer(read_only=True, allow_null=True)
    labels = serializers.SerializerMethodField()

    @extend_schema_field(LabelRefSerializer(many=True))
    def get_labels(self, conversation: Conversation) -> list[dict]:
        """The selectors' `label_rows` (no query); one query otherwise."""
        rows = getattr(conversation, "label_rows", None)
        if rows is None:
            rows = [
                {"id": label.pk, "name": label.name, "color": label.color}
                for label in conversation.labels.order_by(Lower("name"), "id")
            ]
        return rows

    class Meta:
        model = Conversation
        fields = [
            "id",
            "channel_id",
            "channel_type",
            "subject",
            "status",
            "snoozed_until",
            "contact",
            "assignee",
            "team",
            "labels",
            "last_message_at",
            "last_message_preview",
            "unread_count",
            "created_at",
        ]


def _label_names_field(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=LABEL_NAME_MAX_LENGTH),
        required=False,
        max_length=LABELS_MAX,
        help_text=help_text,
    )


def labels_named(business, names: list[str]) -> list[Label]:
    """The business's labels of `names` (ignoring case; duplicates once), in
    one query; raises DRF's `ValidationError` naming the names that are not
    (unknown and another business's alike)."""
    lowered = {name.strip().lower(): name.strip() for name in names}
    if not lowered:
        return []
    found = list(
        Label.objects.alias(lowered_name=Lower("name")).filter(
            business=business, lowered_name__in=list(lowered)
        )
    )
    missing = set(lowered) - {label.name.lower() for label in found}
    if missing:
        names_text = ", ".join(sorted(lowered[name] for name in missing))
        raise serializers.ValidationError(NO_SUCH_LABEL.format(names=names_text))
    return found


class ConversationChangeSerializer(serializers.Serializer):
    """One change to conversations: any of `status`, `snoozed_until`,
    `assignee_id` (the user id of a member of the caller's business, or null to
    unassign) and `team_id` (a team of the caller's business, or null for no
    team). An id that is not such a member answers 400
    `{"assignee_id": ["No such agent in this business."]}`, whether it is
    unknown or belongs to another business (which is never revealed); a team
    id likewise answers 400 naming `team_id`.

    `status: "snoozed"` takes an optional `snoozed_until` (ISO 8601 date-time
    in the future): the conversation reopens by itself then, or, without it,
    when the customer writes again. A `snoozed_until` in the past, or without
    `status: "snoozed"`, answers 400 naming `snoozed_until`.

    Context: `business`, the caller's business."""

    status = serializers.ChoiceField(
        choices=Conversation.Status.choices, required=False
    )
    snoozed_until = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="With status `snoozed`: when it reopens (null or absent: when "
        "the customer writes again).",
    )
    assignee_id = serializers.IntegerField(required=False, allow_null=True)
    team_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="A team of the business (null: no team).",
    )

    def validate_team_id(self, value: int | None) -> Team | None:
        if value is None:
            return None
        team = Team.objects.filter(pk=value, business=self.context["business"]).first()
        if team is None:
            raise serializers.ValidationError(NO_SUCH_TEAM)
        return team

    def validate_assignee_id(self, value: int | None):
        if value is None:
            return None
        user = (
            get_user_model()
            .objects.filter(pk=value, member__business=self.context["business"])
            .select_related("member")
            .first()
        )
        if user is None:
            raise serializers.ValidationError(NO_SUCH_AGENT)
        return user

    def validate(self, data: dict) -> dict:
        until = data.get("snoozed_until")
        if until is not None:
            if data.get("status") != Conversation.Status.SNOOZED:
                raise serializers.ValidationError(
                    {"snoozed_until": [SNOOZE_NEEDS_STATUS]}
                )
            if until <= timezone.now():
                raise serializers.ValidationError(
                    {"snoozed_until": [SNOOZE_IN_THE_PAST]}
                )
        return data


class ConversationUpdateSerializer(ConversationChangeSerializer):
    """Body of `PATCH /api/v1/conversations/{id}`: see
    `ConversationChangeSerializer`, and `labels`: label names of the caller's
    business (ignoring case) that replace the conversation's labels (`[]`
    removes them all). A name the business has no label of answers 400 naming
    `labels`, and nothing changes."""

    labels = _label_names_field(
        "Label names (ignoring case): the conversation's labels become these."
    )

    def validate_labels(self, value: list[str]) -> list[Label]:
        return labels_named(self.context["business"], value)


class ConversationBulkSerializer(ConversationChangeSerializer):
    """Body of `POST /api/v1/conversations/bulk`: `ids` (1 to 100 conversation
    ids of the caller's business) and one change, as for PATCH, applied to
    each; instead of PATCH's `labels`, `labels_add` and `labels_remove` (label
    names of the business, ignoring case; a label in both answers 400 naming
    `labels_remove`). A missing or another business's id answers 400 naming
    `ids`, an unknown label name the field it is in, and nothing is
    changed."""

    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=BULK_MAX,
    )

    labels_add = _label_names_field("Label names (ignoring case) to add.")
    labels_remove = _label_names_field("Label names (ignoring case) to remove.")

    def validate_labels_add(self, value: list[str]) -> list[Label]:
        return labels_named(self.context["business"], value)

    def validate_labels_remove(self, value: list[str]) -> list[Label]:
        return labels_named(self.context["business"], value)

    def validate(self, data: dict) -> dict:
        data = super().validate(data)
        changes = {"status", "assignee_id", "team_id", "labels_add", "labels_remove"}
        if not changes & set(data):
            raise serializers.ValidationError(
                {
                    "status": [
                        "Give at least one of status, assignee_id, team_id, "
                        "labels_add and labels_remove."
                    ]
                }
            )
        both = {label.pk for label in data.get("labels_add", [])} & {
            label.pk for label in data.get("labels_remove", [])
        }
        if both:
            names = ", ".join(
                sorted(label.name for label in data["labels_add"] if label.pk in both)
            )
            raise serializers.ValidationError(
                {"labels_remove": [LABEL_ADDED_AND_REMOVED.format(names=names)]}
            )
        return data


class ConversationBulkResultSerializer(serializers.Serializer):
    """Answer of `POST /api/v1/conversations/bulk`."""

    updated = serializers.IntegerField(
        help_text="Conversations changed (each id counted once)."
    )


class AttachmentSerializer(serializers.Serializer):
    """One attachment. `link` is a signed PingBack URL to the file, valid for
    `ATTACHMENT_LINK_MAX_AGE` seconds, once PingBack holds it (null while it is
    being fetched, or when it could not be: see `fetch_error`). `url` is the
    platform's own link, when it gave a public one. Locations carry `latitude`,
    `longitude`, `name` and `address` instead of a file; shared contacts carry
    `name` and `phone_number`."""

    kind = serializers.CharField()
    filename = serializers.CharField(required=False)
    content_type = serializers.CharField(required=False)
    size = serializers.IntegerField(required=False, help_text="Bytes.")
    caption = serializers.CharField(required=False)
    link = serializers.CharField(allow_null=True)
    url = serializers.CharField(required=False)
    fetch_error = serializers.CharField(required=False)
    latitude = serializers.FloatField(required=False)
    longitude = serializers.FloatField(required=False)
    name = serializers.CharField(required=False)
    address = serializers.CharField(required=False)
    phone_number = serializers.CharField(required=False)


class TemplateSerializer(serializers.Serializer):
    """An approved template (WhatsApp): its name, language code (`en_US`) and
    the values of its body parameters `{{1}}`, `{{2}}`, ... in order."""

    name = serializers.RegexField(r"^[a-z0-9_]{1,512}$")
    language = serializers.RegexField(r"^[a-z]{2,3}(_[A-Z]{2})?$")
    parameters = serializers.ListField(
        child=serializers.CharField(max_length=1024), required=False, max_length=20
    )


_ATTACHMENT_KEYS = frozenset(AttachmentSerializer().fields) - {"link"}


class MessageSerializer(serializers.ModelSerializer):
    """A message. `status` for outbound: queued, sending, sent, delivered, read,
    failed (with `error`, the platform's reason); inbound: received. `kind` is
    `message`, `mention` (X), `template`, `note` (an agent's private note) or
    `activity` (a change to the conversation, e.g. "Ana resolved this
    conversation"); notes and activity are `private`: never sent, never shown
    to the customer, outbound with status `received`, `author` the agent (null
    for PingBack or the customer), or `unsupported` (a kind PingBack cannot
    render: `text` names it, `details.raw` holds the event). `edited_at` is
    set when the customer edited the message, `deleted_at` when they deleted
    it (the text is kept). `details`: what the platform tells beyond the text
    (`sender`, the group member who wrote it; `context`, what it refers to;
    `folded`, parts folded away; `raw`; `reply`, the button tapped).
    `reactions`: `[{by: contact|agent, emoji, at, author_id}]`."""

    author = AgentSerializer(read_only=True, allow_null=True)
    private = serializers.SerializerMethodField(
        help_text="True for notes and activity entries: never sent to the customer."
    )
    attachments = serializers.SerializerMethodField()
    template = TemplateSerializer(read_only=True, allow_null=True)

    @extend_schema_field(AttachmentSerializer(many=True))
    def get_attachments(self, message: Message) -> list[dict]:
        shown = []
        for index, attachment in enumerate(message.attachments or ()):
            item = {k: v for k, v in attachment.items() if k in _ATTACHMENT_KEYS}
            item.setdefault("kind", attachment.get("type") or "file")
            item["link"] = (
                attachment_link(message.pk, index, absolute=True)
                if attachment.get("stored")
                else None
            )
            shown.append(item)
        return shown

    def get_private(self, message: Message) -> bool:
        return message.kind in Message.PRIVATE_KINDS

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "direction",
            "kind",
            "private",
            "text",
            "attachments",
            "template",
            "status",
            "error",
            "platform_message_id",
            "sender_contact_id",
            "author",
            "sent_at",
            "edited_at",
            "deleted_at",
            "details",
            "reactions",
            "created_at",
            "updated_at",
        ]


class NoteSerializer(MessageSerializer):
    """A private note just posted: a message, and `mentions`, the user ids of
    the agents it names with `@name` (see `docs/workspace.md`)."""

    mentions = serializers.ListField(
        child=serializers.IntegerField(),
        source="mentioned_user_ids",
        default=list,
        read_only=True,
    )

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "mentions"]


REACTION_MAX_LENGTH = 16  # code points: one emoji with its modifiers and joiners
KEYCAP = "\u20e3"
NOT_AN_EMOJI = "Enter one emoji, or an empty string to remove your reaction."


class ReactionSerializer(serializers.Serializer):
    """An agent's reaction to a message: `emoji`, one emoji (with its skin
    tone, joiners, variation selectors), or `""` to remove theirs."""

    emoji = serializers.CharField(
        allow_blank=True,
        max_length=REACTION_MAX_LENGTH,
        trim_whitespace=False,
        help_text='One emoji, e.g. "👍"; "" removes your reaction.',
    )

    def validate_emoji(self, value: str) -> str:
        if value == "":
            return value
        categories = [unicodedata.category(char) for char in value]
        if any(category[0] in "LZ" or category == "Cc" for category in categories):
            raise serializers.ValidationError(NOT_AN_EMOJI)
        if "So" not in categories and KEYCAP not in value:
            raise serializers.ValidationError(NOT_AN_EMOJI)
        return value


class InboxViewCountsSerializer(serializers.Serializer):
    """Answer of `GET /api/v1/conversations/counts`: the caller's view counts."""

    mine = serializers.IntegerField(help_text="Open conversations assigned to me.")
    unassigned = serializers.IntegerField(help_text="Open, with no assignee.")
    all = serializers.IntegerField(help_text="Open conversations.")
    mentions = serializers.IntegerField(
        help_text="Conversations (any status) where I have an unread mention."
    )


@extend_schema_field(
    {"type": "array", "items": {"type": "string", "format": "binary"}, "maxItems": 10}
)
class FilesField(serializers.ListField):
    """Uploaded files: the repeated `files` parts of a multipart/form-data body."""


class ReplySerializer(serializers.Serializer):
    """Body of `POST /api/v1/conversations/{id}/messages`: JSON, or
    multipart/form-data to attach files (`files`, repeated; at most 10, each
    at most `MEDIA_MAX_BYTES`). Give `text`, `files` or both; or a `template`
    alone (WhatsApp, e.g. outside the 24-hour window). With `private: true`,
    `text` alone is stored as a private note, never sent.

    With the conversation in the context (`context={"conversation": ...}`), a
    reply is checked against its channel's limits (`reply_check`: the
    capabilities table, e.g. 4,096 characters on Telegram, 280 for a reply to
    a post on X): a refusal is a 400 naming `text` or `files`."""

    text = serializers.CharField(
        max_length=LONGEST_REPLY,
        trim_whitespace=True,
        required=False,
        allow_blank=True,
        help_text="At most the channel's limit (the channel's "
        "`capabilities.max_text_length`; notes at most 10,000 characters).",
    )
    files = FilesField(child=serializers.FileField(), required=False, max_length=10)
    template = TemplateSerializer(required=False)
    private = serializers.BooleanField(
        required=False,
        default=False,
        help_text="True: store `text` as a private note for the agents; it is "
        "never sent to the customer (no files, no template).",
    )

    def validate(self, data: dict) -> dict:
        if data.get("private") and (data.get("template") or data.get("files")):
            raise serializers.ValidationError(
                {"private": ["A private note is text only: no files or template."]}
            )
        if data.get("template") and (data.get("text") or data.get("files")):
            raise serializers.ValidationError(
                {"template": ["Send a template alone, without text or files."]}
            )
        if not data.get("template") and not data.get("text") and not data.get("files"):
            raise serializers.ValidationError(
                {"text": ["A reply needs text, files or a template."]}
            )
        if data.get("private"):
            if len(data.get("text", "")) > MAX_REPLY_LENGTH:
                raise serializers.ValidationError(
                    {
                        "text": [
                            f"A note may have at most {MAX_REPLY_LENGTH:,} characters."
                        ]
                    }
                )
        elif not data.get("template") and "conversation" in self.context:
            try:
                reply_check(
                    conversation=self.context["conversation"],
                    text=data.get("text", ""),
                    files=data.get("files", []),
                )
            except ReplyRefused as error:
                raise serializers.ValidationError(
                    {error.field: [error.detail]}
                ) from error
        return data


@extend_schema_serializer(
    exclude_fields=["files"],
    component_name="Reply",
    description="A reply as JSON: `text` (at most the channel's "
    "`capabilities.max_text_length` characters), or a "
    "`template` alone (WhatsApp, e.g. outside the 24-hour window). Files need "
    "multipart/form-data (`ReplyUpload`).",
)
class ReplyJsonSerializer(ReplySerializer):
    """The JSON body of a reply, for the OpenAPI schema only (the view
    validates every body with `ReplySerializer`)."""


@extend_schema_serializer(
    exclude_fields=["template"],
    component_name="ReplyUpload",
    description="A reply as multipart/form-data: `text`, `files` (repeated; at "
    "most 10, each at most `MEDIA_MAX_BYTES`), or both.",
)
class ReplyUploadSerializer(ReplySerializer):
    """The multipart body of a reply, for the OpenAPI schema only (the view
    validates every body with `ReplySerializer`)."""

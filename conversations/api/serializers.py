"""Conversation and message API shapes."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from conversations.models import Conversation, Message


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


class ConversationSerializer(serializers.ModelSerializer):
    """A conversation in the inbox list and detail."""

    contact = ContactSerializer(source="*", read_only=True)
    assignee = AgentSerializer(read_only=True, allow_null=True)
    channel_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "channel_id",
            "channel_type",
            "status",
            "contact",
            "assignee",
            "last_message_at",
            "last_message_preview",
            "unread_count",
            "created_at",
        ]


class ConversationUpdateSerializer(serializers.Serializer):
    """Body of `PATCH /api/v1/conversations/{id}`: any of `status` and
    `assignee_id` (a member's user id, or null to unassign)."""

    status = serializers.ChoiceField(
        choices=Conversation.Status.choices, required=False
    )
    assignee_id = serializers.IntegerField(required=False, allow_null=True)

    def validate_assignee_id(self, value: int | None):
        if value is None:
            return None
        user = (
            get_user_model().objects.filter(pk=value).select_related("member").first()
        )
        if user is None:
            raise serializers.ValidationError("No such agent.")
        return user


class MessageSerializer(serializers.ModelSerializer):
    """A message. `status` for outbound: queued, sending, sent, delivered, read,
    failed (with `error`, the platform's reason); inbound: received."""

    author = AgentSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "direction",
            "kind",
            "text",
            "attachments",
            "status",
            "error",
            "platform_message_id",
            "sender_contact_id",
            "author",
            "sent_at",
            "created_at",
            "updated_at",
        ]


class ReplySerializer(serializers.Serializer):
    """Body of `POST /api/v1/conversations/{id}/messages`."""

    text = serializers.CharField(max_length=10_000, trim_whitespace=True)

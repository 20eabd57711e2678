"""Shapes of `/api/v1/contacts/`: a contact as read, what a create or an
update may send, an import's result and the data-rights export."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contacts.selectors.contacts import contact_label_rows
from conversations.api.serializers import LabelRefSerializer
from conversations.models import Contact


class IdentitySerializer(serializers.Serializer):
    """Who the contact is on one channel: the channel, the platform's id of
    the person (`external_id`) and their handle there (may be empty)."""

    id = serializers.IntegerField()
    channel_id = serializers.UUIDField()
    channel_type = serializers.CharField(source="channel.type")
    handle = serializers.CharField()
    external_id = serializers.CharField()


class ContactOutputSerializer(serializers.Serializer):
    """A contact. `emails` are lower-cased, `phones` in E.164
    (`+351912345678`), `labels` by name, `custom_attributes` a flat object,
    `identities` the channels it wrote from; `conversations_count` counts its
    conversations on every channel; `erased_at` is set once its data was
    erased (then it holds nothing but its name "Erased contact")."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    company = serializers.CharField()
    avatar_url = serializers.CharField()
    emails = serializers.SerializerMethodField()
    phones = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()
    custom_attributes = serializers.DictField()
    note = serializers.CharField()
    identities = IdentitySerializer(many=True, source="identities.all")
    conversations_count = serializers.IntegerField(default=0)
    erased_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.EmailField()))
    def get_emails(self, contact: Contact) -> list[str]:
        return [email.address for email in contact.emails.all()]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_phones(self, contact: Contact) -> list[str]:
        return [phone.number for phone in contact.phones.all()]

    @extend_schema_field(LabelRefSerializer(many=True))
    def get_labels(self, contact: Contact) -> list[dict[str, Any]]:
        return contact_label_rows(contact)


class ContactInputSerializer(serializers.Serializer):
    """What a create (POST) or an update (PATCH: only what changes; PUT: the
    same, every field optional) may send. `emails`, `phones` and `labels`
    replace the contact's lists; `labels` are label ids or names of the
    business; `custom_attributes` replaces the object (at most 50 keys
    `[a-z][a-z0-9_]*`, values strings up to 1,000 characters, numbers,
    booleans or null). Phone numbers may be written any way; without a
    country code they are read with the business's default country."""

    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    company = serializers.CharField(max_length=200, allow_blank=True, required=False)
    note = serializers.CharField(
        max_length=10_000, allow_blank=True, required=False, trim_whitespace=False
    )
    avatar_url = serializers.URLField(max_length=1000, allow_blank=True, required=False)
    emails = serializers.ListField(
        child=serializers.CharField(max_length=254), required=False
    )
    phones = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False
    )
    labels = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=50
    )
    custom_attributes = serializers.JSONField(required=False)

    def validate_labels(self, value: list[str]) -> list[int]:
        from workspace.models import Label

        business = self.context["business"]
        ids = []
        for item in value:
            labels = Label.objects.filter(business=business)
            label = None
            if item.isdigit():
                label = labels.filter(pk=int(item)).first()
            if label is None:
                label = labels.filter(name__iexact=item.strip()).first()
            if label is None:
                raise serializers.ValidationError(
                    f"No label {item!r} in this business."
                )
            ids.append(label.pk)
        return list(dict.fromkeys(ids))


@extend_schema_field({"type": "string", "format": "binary"})
class CsvFileField(serializers.FileField):
    """An uploaded file: a part of a multipart/form-data body."""


class ImportUploadSerializer(serializers.Serializer):
    """The CSV file to import (multipart field `file`)."""

    file = CsvFileField()


class ImportErrorSerializer(serializers.Serializer):
    """A refused row: `row` as a spreadsheet numbers it (the header is row
    1), `field` the column, `detail` why."""

    row = serializers.IntegerField()
    field = serializers.CharField()
    detail = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    """What an import did: contacts created, updated (matched and changed),
    unchanged (matched, nothing new) and the refused rows."""

    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)


class ContactDataSerializer(serializers.Serializer):
    """Everything held about a contact (see
    `contacts.selectors.contacts.contact_data`): `contact`, `emails`,
    `phones`, `labels`, `identities`, and `conversations`, each with all its
    `messages` (notes and activity entries included; attachments as
    descriptors)."""

    contact = serializers.DictField()
    emails = serializers.ListField(child=serializers.DictField())
    phones = serializers.ListField(child=serializers.DictField())
    labels = serializers.ListField(child=serializers.CharField())
    identities = serializers.ListField(child=serializers.DictField())
    conversations = serializers.ListField(child=serializers.DictField())

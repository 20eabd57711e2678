from django.contrib import admin
from django.db import models

from billing.admin_scope import (
    CHANGE,
    DELETE,
    VIEW,
    BusinessScopedAdmin,
    BusinessScopedInline,
)
from contacts.models import ContactEmail, ContactPhone
from conversations.models import (
    Contact,
    ContactIdentity,
    Conversation,
    DeliveryAttempt,
    Message,
)


class ContactIdentityInline(BusinessScopedInline, admin.TabularInline):
    role_permissions = frozenset({VIEW})
    model = ContactIdentity
    extra = 0
    readonly_fields = ["channel", "external_id", "handle", "created_at"]


class ContactEmailInline(BusinessScopedInline, admin.TabularInline):
    role_permissions = frozenset({VIEW})
    model = ContactEmail
    extra = 0
    fields = ["address", "source", "created_at"]
    readonly_fields = ["address", "source", "created_at"]


class ContactPhoneInline(BusinessScopedInline, admin.TabularInline):
    role_permissions = frozenset({VIEW})
    model = ContactPhone
    extra = 0
    fields = ["number", "source", "created_at"]
    readonly_fields = ["number", "source", "created_at"]


@admin.register(Contact)
class ContactAdmin(BusinessScopedAdmin):
    # Contacts and conversations come from the channels: no adding here.
    role_permissions = frozenset({VIEW, CHANGE, DELETE})
    # An avatar URL typed without a scheme is https (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "business", "created_at"]
    search_fields = ["name", "identities__handle", "identities__external_id"]
    list_filter = ["business"]
    # Read-only here: the contacts pages and API write through the contact
    # services, which keep addresses lower-cased, numbers in E.164 and the
    # search text current.
    inlines = [ContactIdentityInline, ContactEmailInline, ContactPhoneInline]


@admin.register(Conversation)
class ConversationAdmin(BusinessScopedAdmin):
    role_permissions = frozenset({VIEW, CHANGE, DELETE})
    list_display = [
        "id",
        "business",
        "channel_type",
        "contact",
        "status",
        "assignee",
        "last_message_at",
    ]
    list_filter = ["channel_type", "status", "business"]
    search_fields = ["contact__name", "thread_key"]
    raw_id_fields = ["contact", "contact_identity", "channel", "assignee"]


class DeliveryAttemptInline(BusinessScopedInline, admin.TabularInline):
    role_permissions = frozenset({VIEW})
    model = DeliveryAttempt
    extra = 0
    readonly_fields = ["outcome", "status_code", "reason", "attempted_at"]


@admin.register(Message)
class MessageAdmin(BusinessScopedAdmin):
    # A business admin reads messages; agents write them in the inbox.
    role_permissions = frozenset({VIEW})
    list_display = [
        "id",
        "conversation",
        "direction",
        "status",
        "platform_message_id",
        "sent_at",
    ]
    list_filter = ["direction", "status"]
    search_fields = ["platform_message_id", "text"]
    raw_id_fields = ["conversation", "channel", "sender_contact", "author"]
    inlines = [DeliveryAttemptInline]

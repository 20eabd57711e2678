"""Data rights: erasing what PingBack holds about a contact when the customer
asks to be forgotten, while keeping the counts reports rely on.

(Seeing everything held about a contact is a read:
`contacts.selectors.contacts.contact_data`.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import CharField, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from contacts.models import ContactEmail, ContactLabel, ContactPhone, MergeDismissal
from conversations.models import Contact, ContactIdentity, Conversation, Message
from conversations.services.conversations import activity_entry
from satisfaction.services import ratings_erase
from webhooks.services import events as webhook_events

logger = logging.getLogger(__name__)

ERASED_NAME = "Erased contact"


def _member_name(user: AbstractBaseUser | None) -> str:
    if user is None:
        return "PingBack"
    return user.get_full_name() or user.get_username()


def _stored_files_delete(paths: Iterable[str]) -> None:
    """Delete stored attachment files; one that is already gone or cannot be
    deleted is logged, not raised (the rows no longer point at it)."""
    for path in paths:
        try:
            default_storage.delete(path)
        except Exception:  # storage backends raise anything
            logger.warning("Could not delete the erased attachment %s", path)


def contact_erase(contact: Contact, *, by: AbstractBaseUser | None) -> Contact:
    """Erase what is held about `contact`, in one transaction:

    - the text, HTML, attachments and template values of the messages in its
      conversations and of those it sent anywhere else are emptied (activity
      entries, which record what agents did, stay); stored attachment files
      are deleted from storage once the transaction has committed;
    - its conversations' subject and preview are blanked, and their thread
      keys (the platform's id of the thread, often the person's) replaced,
      so a new message from the same person starts a new conversation;
    - its identities, e-mail addresses, phone numbers, labels and merge
      dismissals are deleted;
    - its name becomes "Erased contact", company, note, avatar and custom
      attributes are emptied, `search_text` cleared and `erased_at` set, so
      contact search no longer finds it;
    - the comments of its satisfaction ratings are emptied (the scores stay);
    - in the bodies of the business's outgoing webhook events, the same
      fields are emptied (`webhooks.services.events.events_erase`): message
      texts, conversation subjects, rating comments, the contact's name and
      company;
    - each conversation gets an activity entry naming who erased it.

    The contact, conversation and message rows stay, so reports keep their
    counts. Erasing an erased contact again changes nothing more than
    emptying anything added since. Returns the contact."""
    stored: list[str] = []
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        conversations = list(Conversation.objects.filter(contact=contact))
        conversation_ids = [c.pk for c in conversations]
        messages = Message.objects.filter(
            Q(conversation_id__in=conversation_ids) | Q(sender_contact=contact)
        ).exclude(kind=Message.ACTIVITY)
        # What it wrote in other people's conversations (a group, a thread
        # of mentions): their webhook events are emptied too.
        elsewhere = list(
            Message.objects.filter(sender_contact=contact)
            .exclude(conversation_id__in=conversation_ids)
            .values_list("pk", flat=True)
        )
        for attachments in messages.exclude(attachments=[]).values_list(
            "attachments", flat=True
        ):
            for attachment in attachments or ():
                if isinstance(attachment, dict) and attachment.get("stored"):
                    stored.append(attachment["stored"])
        messages.update(
            text="", html="", attachments=[], template=None, updated_at=timezone.now()
        )
        # The thread key holds the person's platform id or address, and is
        # how the next message finds its conversation: a new message from
        # them starts a new conversation (with a new contact) instead.
        Conversation.objects.filter(pk__in=conversation_ids).update(
            subject="",
            last_message_preview="",
            thread_key=Concat(Value("erased:"), Cast("id", CharField())),
        )
        ContactIdentity.objects.filter(contact=contact).delete()
        ContactEmail.objects.filter(contact=contact).delete()
        ContactPhone.objects.filter(contact=contact).delete()
        ContactLabel.objects.filter(contact=contact).delete()
        MergeDismissal.objects.filter(Q(contact=contact) | Q(other=contact)).delete()
        ratings_erase(conversation_ids)  # satisfaction comments
        contact.name = ERASED_NAME
        contact.company = ""
        contact.note = ""
        contact.avatar_url = ""
        contact.custom_attributes = {}
        contact.search_text = ""
        contact.erased_at = timezone.now()
        contact.save()
        erased = {"actor": _member_name(by)}
        Message.objects.bulk_create(
            [
                activity_entry(conversation, "contact_erased", erased, by=by)
                for conversation in conversations
            ]
        )
        webhook_events.events_erase(contact, conversation_ids, elsewhere)
        webhook_events.contact_updated(contact, ["erased"])
        if stored:
            transaction.on_commit(lambda: _stored_files_delete(stored))
    return contact

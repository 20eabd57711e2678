"""Contacts, conversations and messages: the inbox."""

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils.translation import pgettext_lazy

from billing.models import Business
from channels_app.models import Channel


class Contact(models.Model):
    """A customer of the business, across channels.

    One person may write on several channels: each channel's id is a
    `ContactIdentity`, and a merge gathers identities under one contact. The
    e-mail addresses, phone numbers and labels are `contacts.ContactEmail`,
    `contacts.ContactPhone` and `contacts.ContactLabel`.

    `custom_attributes` holds the business's own keys (`{"plan": "gold",
    "orders": 12}`: a flat object of strings, numbers and booleans);
    `search_text` is what contact search matches (name, company, e-mail
    addresses, phone numbers, handles), kept by
    `contacts.search_text.search_text_refresh`; `erased_at` is set when the
    contact's data was erased on request (data rights), the row staying so
    that the conversations it had still count in reports.
    """

    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(max_length=200, blank=True)
    avatar_url = models.URLField(max_length=1000, blank=True)
    company = models.CharField(max_length=200, blank=True)
    note = models.TextField(
        blank=True, help_text="Written by the agents; never shown to the customer."
    )
    custom_attributes = models.JSONField(default=dict, blank=True)
    search_text = models.TextField(blank=True, editable=False)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["business", "-id"], name="contact_list_idx"),
        ]

    def __str__(self) -> str:
        return self.name or f"Contact {self.pk}"


class ContactIdentity(models.Model):
    """A contact's id on one channel (X user id and handle, phone number, ...)."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="identities"
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="contact_identities"
    )
    external_id = models.CharField(max_length=255)
    handle = models.CharField(max_length=255, blank=True)
    # When PingBack asked the platform for this identity's profile (name,
    # avatar), successfully or not: it asks once (`contacts.tasks`).
    profile_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    opted_out_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the customer stopped accepting messages on this "
        "channel (SMS STOP, a Telegram bot blocked); replies fail at once "
        "while it is set.",
    )
    opted_out_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "contact identities"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="contact_identity_unique"
            )
        ]

    def __str__(self) -> str:
        return f"@{self.handle}" if self.handle else self.external_id


class Conversation(models.Model):
    """A thread with one contact on one channel.

    `thread_key` identifies the thread within the channel (for X, `dm:<user id>`
    or `tweet:<root post id>`). `last_message_at`, `last_message_preview` and
    `unread_count` are kept by the services so the inbox list needs no joins to
    messages.
    """

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("conversation status", "Open")
        PENDING = "pending", pgettext_lazy("conversation status", "Pending")
        RESOLVED = "resolved", pgettext_lazy("conversation status", "Resolved")
        # Out of the agents' way until `snoozed_until` (or, when that is null,
        # until the customer writes again).
        SNOOZED = "snoozed", pgettext_lazy("conversation status", "Snoozed")

    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="conversations"
    )
    channel = models.ForeignKey(
        Channel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )
    channel_type = models.CharField(max_length=16, choices=Channel.Type.choices)
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="conversations"
    )
    contact_identity = models.ForeignKey(
        ContactIdentity, on_delete=models.SET_NULL, null=True, blank=True
    )
    thread_key = models.CharField(max_length=255)
    subject = models.CharField(
        max_length=255, blank=True, help_text="E-mail conversations: the subject."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
    )
    team = models.ForeignKey(
        "workspace.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        help_text="The team it is routed to (a conversation may have a team and "
        "an agent).",
    )
    labels = models.ManyToManyField(
        "workspace.Label",
        through="ConversationLabel",
        blank=True,
        related_name="conversations",
    )
    snoozed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Snoozed: when it reopens by itself (null: when the customer "
        "writes again). Null for any other status.",
    )

    class Priority(models.TextChoices):
        NONE = "none", pgettext_lazy("priority", "None")
        LOW = "low", pgettext_lazy("priority", "Low")
        MEDIUM = "medium", pgettext_lazy("priority", "Medium")
        HIGH = "high", pgettext_lazy("priority", "High")
        URGENT = "urgent", pgettext_lazy("priority", "Urgent")

    priority = models.CharField(
        max_length=8,
        choices=Priority.choices,
        default=Priority.NONE,
        help_text="Set by an agent's or an automation rule's choice "
        "(automation/); `none` until then.",
    )
    last_message_at = models.DateTimeField()
    last_message_preview = models.CharField(max_length=200, blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "thread_key"], name="conversation_unique_thread"
            )
        ]
        indexes = [
            models.Index(
                fields=["business", "-last_message_at", "-id"],
                name="conv_inbox_idx",
            ),
            models.Index(
                fields=["business", "channel_type", "-last_message_at", "-id"],
                name="conv_inbox_type_idx",
            ),
            models.Index(
                fields=["business", "status", "-last_message_at", "-id"],
                name="conv_inbox_status_idx",
            ),
            models.Index(
                fields=["business", "assignee", "-last_message_at", "-id"],
                name="conv_inbox_assignee_idx",
            ),
            models.Index(
                fields=["business", "team", "-last_message_at", "-id"],
                name="conv_inbox_team_idx",
            ),
            # The view counts (Mine, Unassigned, All: open conversations by
            # assignee) in one index-only scan of the open conversations.
            models.Index(
                fields=["business", "assignee"],
                condition=Q(status="open"),
                name="conv_open_assignee_idx",
            ),
            # Reports' count of conversations opened in a range, per day,
            # channel, assignee or team: an index-only scan of the range
            # (docs/reports.md, "How it stays fast").
            models.Index(
                fields=["business", "created_at"],
                include=["id", "channel", "assignee", "team"],
                name="conv_opened_idx",
            ),
            # The snooze wake-up's scan: only snoozed conversations.
            models.Index(
                fields=["snoozed_until"],
                condition=Q(status="snoozed"),
                name="conv_snoozed_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_type} conversation {self.pk} with {self.contact}"


class ConversationLabelQuerySet(models.QuerySet):
    """Fills `last_message_at` from the conversation where a new link lacks
    it, for every way links are created in bulk (including
    `conversation.labels.add(label)`): one query for all of them."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        missing = {o.conversation_id for o in objs if o.last_message_at is None}
        if missing:
            times = dict(
                Conversation.objects.filter(pk__in=missing).values_list(
                    "pk", "last_message_at"
                )
            )
            for link in objs:
                if link.last_message_at is None:
                    link.last_message_at = times.get(link.conversation_id)
        return super().bulk_create(objs, *args, **kwargs)


class ConversationLabel(models.Model):
    """A label on a conversation.

    `last_message_at` is the conversation's, kept equal by every write that
    moves it (`conversations.services.conversations.last_message_at_copy`), so
    a label's conversations are listed newest first straight from
    `conv_label_recent_idx`: as fast for a label on 1 % of a million
    conversations as for the whole inbox."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="label_links"
    )
    label = models.ForeignKey(
        "workspace.Label", on_delete=models.CASCADE, related_name="conversation_links"
    )
    last_message_at = models.DateTimeField(
        help_text="The conversation's last_message_at (a copy, for the label's list)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ConversationLabelQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "label"], name="conversation_label_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["label", "-last_message_at", "-conversation"],
                name="conv_label_recent_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.label_id} on conversation {self.conversation_id}"

    def save(self, *args, **kwargs) -> None:
        if self.last_message_at is None:
            self.last_message_at = self.conversation.last_message_at
        super().save(*args, **kwargs)


class Message(models.Model):
    """One message in a conversation, inbound (from the contact) or outbound
    (an agent's reply). Outbound status moves queued → sending → sent →
    delivered → read, or ends failed with `error`, or uncertain (the worker
    died mid-send; the agent retries it or marks it sent).

    Two kinds are never sent and never shown to the customer (`PRIVATE_KINDS`):
    `note`, an agent's private note, and `activity`, a record of a change to
    the conversation ("Ana resolved this conversation"). Both are stored
    outbound with status `received` ("stored, nothing to deliver"), which no
    delivery path, sweeper or widget picks up; `author` is the agent who wrote
    or did it (null for PingBack itself or the customer)."""

    NOTE = "note"
    ACTIVITY = "activity"
    PRIVATE_KINDS = (NOTE, ACTIVITY)

    class Direction(models.TextChoices):
        INBOUND = "inbound", pgettext_lazy("message direction", "Inbound")
        OUTBOUND = "outbound", pgettext_lazy("message direction", "Outbound")

    class Status(models.TextChoices):
        RECEIVED = "received", pgettext_lazy("message status", "Received")
        QUEUED = "queued", pgettext_lazy("message status", "Queued")
        SENDING = "sending", pgettext_lazy("message status", "Sending")
        SENT = "sent", pgettext_lazy("message status", "Sent")
        DELIVERED = "delivered", pgettext_lazy("message status", "Delivered")
        READ = "read", pgettext_lazy("message status", "Read")
        FAILED = "failed", pgettext_lazy("message status", "Failed")
        # The worker died mid-send: the platform may or may not have it.
        UNCERTAIN = (
            "uncertain",
            pgettext_lazy("message status", "May not have been delivered"),
        )

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    kind = models.CharField(
        max_length=16,
        default="message",
        help_text="message, mention, template (an approved WhatsApp template), "
        "note (an agent's private note) or activity (a change to the "
        "conversation); notes and activity are never sent.",
    )
    text = models.TextField(blank=True)
    html = models.TextField(
        blank=True,
        help_text="E-mail: the HTML body, sanitised (nh3) when it was stored.",
    )
    attachments = models.JSONField(
        default=list,
        blank=True,
        help_text="Attachment descriptors (see platforms.base.InboundMessage); "
        "`stored` names the file once PingBack holds it.",
    )
    template = models.JSONField(
        null=True,
        blank=True,
        help_text="For template messages: {name, language, parameters}.",
    )
    sender_contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    platform_message_id = models.CharField(max_length=255, null=True, blank=True)
    reply_to_platform_message_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(help_text="When the platform says it was sent.")
    edited_at = models.DateTimeField(
        null=True, blank=True, help_text="When the customer last edited it."
    )
    deleted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the customer deleted (unsent) it; the text is kept "
        "for the agents.",
    )
    details = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the platform tells beyond the text: the group member "
        "who wrote it, the raw event of an unsupported kind, what it refers "
        "to, folded parts (see platforms.base.InboundMessage).",
    )
    reactions = models.JSONField(
        default=list,
        blank=True,
        help_text='Reactions to it, oldest first: [{"by": "contact" or '
        '"agent", "emoji", "at" (ISO 8601), "author_id" (agents)}].',
    )
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Outbound. Queued: when the outbox sweeper hands the message "
        "to a worker again if none has claimed it by then. Sending: when the "
        "worker's lease runs out (it died mid-send).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "platform_message_id"],
                condition=Q(platform_message_id__isnull=False),
                name="message_unique_platform_id",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "id"], name="msg_thread_idx"),
            # The admins' list of delivery problems, newest first.
            models.Index(
                fields=["-id"],
                condition=Q(status__in=["failed", "uncertain"]),
                name="msg_delivery_problem_idx",
            ),
            # The outbox sweeper's scans: only queued and sending messages.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["queued", "sending"]),
                name="msg_outbox_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} message {self.pk} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try at sending an outbound message, with what the platform said."""

    class Outcome(models.TextChoices):
        SENT = "sent", pgettext_lazy("delivery attempt", "Sent")
        RETRY = "retry", pgettext_lazy("delivery attempt", "Will retry")
        FAILED = "failed", pgettext_lazy("delivery attempt", "Failed")
        UNCERTAIN = (
            "uncertain",
            pgettext_lazy("delivery attempt", "Worker stopped mid-send"),
        )
        # An agent sent it again, or said it had arrived.
        RETRIED = "retried", pgettext_lazy("delivery attempt", "Retried by an agent")
        MARKED_SENT = (
            "marked_sent",
            pgettext_lazy("delivery attempt", "Marked as sent by an agent"),
        )

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="delivery_attempts"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    attempted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["attempted_at"]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class PendingReceipt(models.Model):
    """A delivery receipt that arrived before PingBack recorded the send it
    reports on: the platform's callback (a WhatsApp status, a Twilio status
    callback) raced the worker between the platform's answer and the commit
    of the message's platform id. Applied when that id is stored; receipts for
    messages PingBack never sent are purged after a day."""

    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="pending_receipts"
    )
    platform_message_id = models.CharField(max_length=255)
    status = models.CharField(max_length=16)
    error = models.TextField(blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["channel", "platform_message_id"], name="pending_receipt_idx"
            )
        ]

    def __str__(self) -> str:
        return f"pending {self.status} for {self.platform_message_id}"


class Mention(models.Model):
    """An agent named with `@name` in a private note: it appears in that
    agent's Mentions view until `read_at` is set (they opened the
    conversation)."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="mentions"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="mentions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user"], name="mention_unique_per_message"
            )
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="mention_user_idx"),
        ]

    def __str__(self) -> str:
        return f"mention of {self.user_id} in message {self.message_id}"


class UnreadMention(models.Model):
    """One row per (conversation, agent) while the agent has an unread
    `Mention` there: what their Mentions view lists.

    `last_message_at` is the conversation's, kept equal by the writes that
    move it (`conversations.services.conversations.last_message_at_copy`), so
    the view reads `unread_mention_recent_idx` newest first and stops after
    a page, however many conversations mention the agent, as a label's list
    does with `ConversationLabel`. Written by
    `conversations.services.mentions` (a mention creates it, opening the
    conversation deletes it); the `Mention` rows stay as the history."""

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="unread_mentions",
        db_index=False,  # the unique (conversation, user) index leads with it
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="unread_mentions",
        db_index=False,  # unread_mention_recent_idx leads with it
    )
    last_message_at = models.DateTimeField(
        help_text="The conversation's last_message_at (a copy, for the Mentions view)."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"], name="unread_mention_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["user", "-last_message_at", "-conversation"],
                name="unread_mention_recent_idx",
            )
        ]

    def __str__(self) -> str:
        return f"unread mention of {self.user_id} in {self.conversation_id}"


class MessageSearch(models.Model):
    """PostgreSQL only: the search columns of `conversations_message`, which
    migration 0013 adds there and triggers keep (docs/search.md): the text's
    words (`search_vector`, in the business's `search_language`; null for
    activity entries) and the conversation's `business_id` (so a search
    walks one business's messages newest first, `msg_business_idx`).

    Not fields of `Message`: the database writes them on every insert,
    whatever code path stores the message, and Django never does (a
    `bulk_create` of messages stays as wide as before). Read-only; never
    query it on another database (the columns exist only on PostgreSQL)."""

    message = models.OneToOneField(
        Message,
        on_delete=models.DO_NOTHING,
        primary_key=True,
        db_column="id",
        related_name="+",
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.DO_NOTHING, related_name="+"
    )
    business = models.ForeignKey(
        Business, on_delete=models.DO_NOTHING, related_name="+", null=True
    )
    kind = models.CharField(max_length=16)
    sent_at = models.DateTimeField()
    search_vector = SearchVectorField(null=True)

    class Meta:
        managed = False
        db_table = "conversations_message"

    def __str__(self) -> str:
        return f"search columns of message {self.pk}"


class ConversationSearch(models.Model):
    """PostgreSQL only: the subject's words (`search_vector`) of
    `conversations_conversation`, kept by a trigger in the business's
    `search_language` (migration 0013; null without a subject). Read-only,
    as `MessageSearch`."""

    conversation = models.OneToOneField(
        Conversation,
        on_delete=models.DO_NOTHING,
        primary_key=True,
        db_column="id",
        related_name="+",
    )
    business = models.ForeignKey(
        Business, on_delete=models.DO_NOTHING, related_name="+"
    )
    search_vector = SearchVectorField(null=True)

    class Meta:
        managed = False
        db_table = "conversations_conversation"

    def __str__(self) -> str:
        return f"search columns of conversation {self.pk}"

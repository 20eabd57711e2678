"""Inbox reads, shared by the REST API and the inbox pages. Each takes the
business first and returns a queryset with the joins its callers need."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import JSONObject, Lower
from django.utils import timezone

from billing.models import Business
from conversations.models import (
    Conversation,
    ConversationLabel,
    Message,
    UnreadMention,
)
from workspace.models import Label


def inbox_conversation_list(
    business: Business,
    *,
    channel_type: str | None = None,
    status: str | None = None,
    assignee_id: int | None = None,
    team_id: int | Literal["none"] | None = None,
    label_id: int | None = None,
    label_name: str | None = None,
    mentioned_user_id: int | None = None,
) -> QuerySet[Conversation]:
    """The business's conversations, newest activity first (`-last_message_at`,
    `-id`), optionally filtered; contact, identity, assignee and team joined,
    and each row's labels as `label_rows` (see `with_label_rows`; no query of
    their own).

    Filters (all combine): `channel_type`, `status`, `assignee_id` (a user id);
    `team_id` (a team id, or `"none"`: no team); `label_id` or `label_name`
    (the business's label of that name, ignoring case; an unknown name gives
    no rows); `mentioned_user_id`: conversations where that agent has an
    unread mention (their Mentions view), in the same newest-activity order.

    The channel is not joined: list rows show `channel_type` (kept on the
    conversation) and `channel_id`, and loading each row's channel would
    decrypt its credentials once per row."""
    conversations = Conversation.objects.filter(business=business).select_related(
        "contact", "contact_identity", "assignee", "team"
    )
    conversations = with_label_rows(conversations)
    if channel_type:
        conversations = conversations.filter(channel_type=channel_type)
    if status:
        conversations = conversations.filter(status=status)
    if assignee_id:
        conversations = conversations.filter(assignee_id=assignee_id)
    if team_id == "none":
        conversations = conversations.filter(team__isnull=True)
    elif team_id is not None:
        conversations = conversations.filter(team_id=team_id)
    if label_id is not None:
        conversations = conversations_labelled(conversations, label_id)
    if label_name is not None:
        label = label_named(business, label_name)
        if label is None:
            return conversations.none()
        conversations = conversations_labelled(conversations, label.pk)
    if mentioned_user_id is not None:
        conversations = conversations_mentioning(conversations, mentioned_user_id)
    return conversations.order_by(*inbox_ordering(conversations))


def with_label_rows(
    conversations: QuerySet[Conversation],
) -> QuerySet[Conversation]:
    """`conversations` with `label_rows` on each: its labels as
    `[{"id": int, "name": str, "color": "#rrggbb"}]` by name ignoring case,
    gathered in the same query (on PostgreSQL an array subquery, evaluated
    only for the rows returned; elsewhere, as on the SQLite of `bin/run`, a
    JSON array subquery)."""
    rows = (
        ConversationLabel.objects.filter(conversation_id=OuterRef("pk"))
        .order_by(Lower("label__name"), "label_id")
        .values(
            json=JSONObject(id="label_id", name="label__name", color="label__color")
        )
    )
    if connection.vendor == "postgresql":
        return conversations.annotate(label_rows=ArraySubquery(rows))
    return conversations.annotate(label_rows=_JSONArraySubquery(rows))


class _JSONArraySubquery(Subquery):
    """A subquery's `json` column gathered into one JSON array (SQLite's
    `json_group_array`), decoded to a list."""

    template = (
        "(SELECT COALESCE(json_group_array(json(_rows.json)), json('[]')) "
        "FROM (%(subquery)s) _rows)"
    )
    output_field = JSONField()


def label_named(business: Business, name: str) -> Label | None:
    """The business's label called `name` (ignoring case), or None."""
    return (
        Label.objects.alias(lowered_name=Lower("name"))
        .filter(business=business, lowered_name=name.strip().lower())
        .first()
    )


def conversations_labelled(
    conversations: QuerySet[Conversation], label_id: int
) -> QuerySet[Conversation]:
    """Those of `conversations` with label `label_id`, each annotated with
    `label_last_message_at` (its label link's copy of `last_message_at`).

    The first label filter joins the label links, so that ordering by
    `LABEL_ORDERING` walks `conv_label_recent_idx` newest first and stops
    after one page: a label on 1 % of the conversations reads about one link
    per row shown, where an `EXISTS` per row of the inbox index read a
    hundred. A second label filter on the same list is an `EXISTS`."""
    if "label_last_message_at" in conversations.query.annotations:
        return conversations.filter(
            Exists(
                ConversationLabel.objects.filter(
                    conversation_id=OuterRef("pk"), label_id=label_id
                )
            )
        )
    return conversations.filter(label_links__label_id=label_id).annotate(
        label_last_message_at=F("label_links__last_message_at")
    )


# Newest activity first, for a list filtered by label: the label link's copy
# of the conversation's `last_message_at` (the same value), which
# `conv_label_recent_idx` holds in order; the conversation id equals the
# link's, so PostgreSQL serves both from that index.
LABEL_ORDERING = ("-label_last_message_at", "-id")
INBOX_ORDERING = ("-last_message_at", "-id")


# The same for the Mentions view: the `UnreadMention` row's copy, which
# `unread_mention_recent_idx` holds in order.
MENTION_ORDERING = ("-mention_last_message_at", "-id")


def inbox_ordering(conversations: QuerySet[Conversation]) -> tuple[str, str]:
    """The newest-first ordering that `conversations` can be read in from an
    index: `MENTION_ORDERING` for the Mentions view (even with a label
    filter: an agent's mentions are fewer than a label's conversations),
    `LABEL_ORDERING` when filtered by label, else `INBOX_ORDERING`."""
    annotations = conversations.query.annotations
    if "mention_last_message_at" in annotations:
        return MENTION_ORDERING
    if "label_last_message_at" in annotations:
        return LABEL_ORDERING
    return INBOX_ORDERING


def conversations_mentioning(
    conversations: QuerySet[Conversation], user_id: int
) -> QuerySet[Conversation]:
    """Those of `conversations` where agent `user_id` has an unread mention,
    each annotated with `mention_last_message_at` (its `UnreadMention` row's
    copy of `last_message_at`).

    Joined through the agent's `UnreadMention` rows (one per conversation),
    so that ordering by `MENTION_ORDERING` walks `unread_mention_recent_idx`
    newest first and stops after one page, however many conversations
    mention the agent (as `conversations_labelled` does for a label)."""
    return conversations.filter(unread_mentions__user_id=user_id).annotate(
        mention_last_message_at=F("unread_mentions__last_message_at")
    )


def inbox_view_counts(business: Business, user: AbstractBaseUser) -> dict[str, int]:
    """The numbers beside the inbox views, for agent `user`:
    `{"mine": open conversations assigned to them, "unassigned": open ones
    with no assignee, "all": open ones, "mentions": conversations (any
    status) where they have an unread mention}`. Two queries: one
    conditional aggregate over the business's open conversations (an
    index-only scan of the partial index `conv_open_assignee_idx`), one over
    the agent's `UnreadMention` rows (`unread_mention_recent_idx`)."""
    counts = Conversation.objects.filter(
        business=business, status=Conversation.Status.OPEN
    ).aggregate(
        # The business column (never null), not the id: the partial index
        # holds the business and the assignee only, so the count reads the
        # index alone.
        mine=Count("business", filter=Q(assignee_id=user.pk)),
        unassigned=Count("business", filter=Q(assignee__isnull=True)),
        all=Count("business"),
    )
    counts["mentions"] = UnreadMention.objects.filter(
        user_id=user.pk, conversation__business=business
    ).count()
    return counts


def conversation_get(
    business: Business, conversation_id: int, *, labels: bool = True
) -> Conversation:
    """One of the business's conversations (contact, identity, channel,
    assignee and team joined, and with `labels`, `label_rows` as in
    `with_label_rows`); raises `Conversation.DoesNotExist` for an unknown id
    or another business's conversation. `labels=False` (the customer panel,
    which does not show them) leaves the labels' subquery out."""
    conversations = Conversation.objects.select_related(
        "contact", "contact_identity", "channel", "assignee", "team"
    )
    if labels:
        conversations = with_label_rows(conversations)
    return conversations.filter(business=business).get(pk=conversation_id)


def conversation_message_list(conversation: Conversation) -> QuerySet[Message]:
    """A conversation's messages, oldest first, with the agent who wrote each."""
    return (
        Message.objects.filter(conversation=conversation)
        .select_related("author")
        .order_by("id")
    )


def conversation_thread(conversation: Conversation) -> QuerySet[Message]:
    """The thread as the agent's page shows it: `conversation_message_list`
    with each message's delivery attempts (one more query in all)."""
    return conversation_message_list(conversation).prefetch_related("delivery_attempts")


CUSTOMER_WINDOW = timedelta(hours=24)


def conversation_window_closed_at(conversation: Conversation) -> datetime | None:
    """When the 24-hour customer service window closed (WhatsApp: free-form
    messages only within 24 h of the customer's last message), or None while it
    is open. A conversation with no inbound message counts as closed since it
    started."""
    last_inbound = (
        Message.objects.filter(
            conversation=conversation, direction=Message.Direction.INBOUND
        )
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )
    closes_at = (
        (last_inbound + CUSTOMER_WINDOW) if last_inbound else conversation.created_at
    )
    return closes_at if closes_at <= timezone.now() else None


def delivery_problem_list(
    business: Business, *, stuck_after: timedelta, limit: int = 200
) -> QuerySet[Message]:
    """The business's replies an admin should look at, newest first, at most
    `limit`: `failed` and `uncertain` ones, and `queued` or `sending` ones
    older than `stuck_after` (a channel paused for long, or workers down).
    Each with its conversation's contact, channel and author."""
    stuck_before = timezone.now() - stuck_after
    problems = Q(status__in=[Message.Status.FAILED, Message.Status.UNCERTAIN]) | Q(
        status__in=[Message.Status.QUEUED, Message.Status.SENDING],
        created_at__lt=stuck_before,
    )
    return (
        Message.objects.filter(
            problems,
            conversation__business=business,
            direction=Message.Direction.OUTBOUND,
        )
        .select_related(
            "conversation__contact",
            "conversation__contact_identity",
            "channel",
            "author",
        )
        .order_by("-id")[:limit]
    )

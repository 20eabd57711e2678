"""Writes on conversations themselves: status, snooze, assignee, team, labels,
read state.

Every change made here is also recorded in the conversation's thread as an
`activity` message ("Ana resolved this conversation"): stored, never sent,
never shown to the customer (see `Message`), as a kind and its parameters
shown in the reader's language (`conversations.activity`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from automation import triggers as automation_triggers
from conversations import realtime
from conversations.activity import (
    SYSTEM_ACTOR,
    activity_details,
    activity_english,
    zone_name,
)
from conversations.models import (
    Conversation,
    ConversationLabel,
    Message,
    UnreadMention,
)
from conversations.services.snooze import business_zone_by_id
from pingback.errors import ApplicationError
from reports.services import status_changes_record
from satisfaction.services import satisfaction_resolutions_queue
from webhooks.services import events as webhook_events
from workspace.models import Label, Team

logger = logging.getLogger(__name__)

# An activity entry to write: its kind and parameters (`conversations.activity`).
_Activity = tuple[str, dict[str, Any]]

# One answer for an unknown user and another business's member alike, so the
# API never tells them apart.
NO_SUCH_AGENT = "No such agent in this business."
AGENT_DEACTIVATED = "This agent is deactivated: reactivate them to assign them."
# One answer for a missing id and another business's conversation alike.
NO_SUCH_CONVERSATIONS = "Each id must name a conversation of this business."
# Likewise for teams and labels: unknown and another business's alike.
NO_SUCH_TEAM = "No such team in this business."
NO_SUCH_LABEL = "No such label in this business: {names}."
LABEL_ADDED_AND_REMOVED = "A label cannot be both added and removed: {names}."
SNOOZE_IN_THE_PAST = "A time in the future."
SNOOZE_NEEDS_STATUS = 'Give status "snoozed" with snoozed_until.'
# Most conversations one bulk change may name.
BULK_MAX = 100
# Conversations the snooze wake-up reopens per transaction.
WAKE_BATCH = 500


class ConversationsNotFound(ApplicationError):
    """A bulk change named a conversation that is missing or another
    business's: nothing was changed (HTTP 400)."""

    code = "no_such_conversation"


class NoSuchTeam(ApplicationError):
    """The team is not one of the conversations' business (HTTP 400)."""

    code = "no_such_team"


class NoSuchLabel(ApplicationError):
    """A label is not one of the conversations' business (HTTP 400)."""

    code = "no_such_label"


def actor_name(user: AbstractBaseUser | None) -> str:
    """How an agent is named in activity entries: full name, else username;
    `PingBack` for changes PingBack made itself."""
    if user is None:
        return SYSTEM_ACTOR
    return user.get_full_name() or user.get_username()


def conversation_update(
    *,
    conversation: Conversation,
    by: AbstractBaseUser | None,
    status: str | None = None,
    assignee: AbstractBaseUser | None = None,
    unassign: bool = False,
    snoozed_until: datetime | None = None,
    team: Team | None = None,
    unteam: bool = False,
    labels: Sequence[Label] | None = None,
    labels_add: Sequence[Label] = (),
    labels_remove: Sequence[Label] = (),
) -> Conversation:
    """Change a conversation's status (`open`, `pending`, `resolved`,
    `snoozed`), assignee (a member of the same business), team and/or labels,
    as agent `by` (None: PingBack itself). `snoozed_until` (aware datetime, in
    the future) goes with status `snoozed`; without it the conversation sleeps
    until the customer writes. Leaving `snoozed` clears `snoozed_until`.

    `team` (a `workspace.Team` of the business) routes it to that team,
    `unteam=True` clears the team. `labels` (Labels of the business) replaces
    the set of labels; `labels_add` / `labels_remove` add and remove some
    (adding a label it has, or removing one it lacks, is no change).

    Each actual change stores an activity entry naming `by` ("Ana assigned
    this conversation to team Billing", "Ana added label vip"); agents hear of
    the change (and the entries) on commit. Returns the conversation as
    updated (its prefetched labels, if any, are stale: read them again).

    Raises `ApplicationError` (`NO_SUCH_AGENT`) for an assignee outside the
    business (`AGENT_DEACTIVATED` for a deactivated one), `NoSuchTeam` /
    `NoSuchLabel` for another business's team or label, and
    `ApplicationError` for a `snoozed_until` in the past or without status
    `snoozed`, or a label both added and removed. Nothing is changed when it
    raises."""
    _conversations_change(
        [conversation],
        by=by,
        status=status,
        assignee=assignee,
        unassign=unassign,
        snoozed_until=snoozed_until,
        team=team,
        unteam=unteam,
        labels=labels,
        labels_add=labels_add,
        labels_remove=labels_remove,
    )
    return conversation


def conversations_bulk_update(
    *,
    business_id: object,
    ids: Sequence[int],
    by: AbstractBaseUser | None,
    status: str | None = None,
    assignee: AbstractBaseUser | None = None,
    unassign: bool = False,
    snoozed_until: datetime | None = None,
    team: Team | None = None,
    unteam: bool = False,
    labels_add: Sequence[Label] = (),
    labels_remove: Sequence[Label] = (),
) -> int:
    """Apply one change (as `conversation_update`: status, assignee, team,
    labels added and removed) to each of the business's
    conversations `ids` (at most `BULK_MAX`), all or nothing, in one
    transaction and a number of queries that does not grow with `ids`.
    Returns how many conversations were named (duplicates counted once).

    Raises `ConversationsNotFound` when an id is missing or another
    business's (nothing is changed), and what `conversation_update` raises."""
    wanted = set(ids)
    if len(wanted) > BULK_MAX:
        raise ApplicationError(f"At most {BULK_MAX} conversations at once.")
    with transaction.atomic():
        conversations = list(
            Conversation.objects.select_for_update(of=("self",))
            .select_related("assignee", "team")
            .filter(business_id=business_id, pk__in=wanted)
            .order_by("pk")
        )
        if len(conversations) != len(wanted):
            raise ConversationsNotFound(NO_SUCH_CONVERSATIONS)
        _conversations_change(
            conversations,
            by=by,
            status=status,
            assignee=assignee,
            unassign=unassign,
            snoozed_until=snoozed_until,
            team=team,
            unteam=unteam,
            labels_add=labels_add,
            labels_remove=labels_remove,
        )
    logger.info(
        "conversations.bulk_update",
        extra={
            "business_id": str(business_id),
            "conversation_count": len(conversations),
            "user_id": getattr(by, "pk", None),
        },
    )
    return len(conversations)


def conversations_wake_snoozed(*, now: datetime | None = None) -> int:
    """Reopen every conversation whose `snoozed_until` has passed, each exactly
    once however many callers run at the same time: due rows are locked with
    `SKIP LOCKED` and updated only while still snoozed, so a second caller
    neither waits for nor repeats the first one's work. Each gets an activity
    entry; agents hear of it on commit. Returns how many were reopened."""
    now = now or timezone.now()
    woken = 0
    while True:
        with transaction.atomic():
            due = list(
                Conversation.objects.select_for_update(skip_locked=True)
                .filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=now)
                .order_by("snoozed_until", "pk")
                .only("pk", "business_id", "channel_id")[:WAKE_BATCH]
            )
            if not due:
                break
            Conversation.objects.filter(
                pk__in=[c.pk for c in due],
                status=Conversation.Status.SNOOZED,
                snoozed_until__lte=now,
            ).update(status=Conversation.Status.OPEN, snoozed_until=None)
            activities = Message.objects.bulk_create(
                [activity_entry(c, "snooze_ended", by=None) for c in due]
            )
            realtime.publish_messages_created(activities)
            webhook_events.conversations_reopened(
                due, activities, previous_status=Conversation.Status.SNOOZED
            )
            automation_triggers.conversations_reopened(due, activities)
        woken += len(due)
        if len(due) < WAKE_BATCH:
            break
    if woken:
        logger.info("conversations.woken", extra={"conversation_count": woken})
    return woken


def last_message_at_copy(conversation_ids: Iterable[int]) -> None:
    """Copy the conversations' `last_message_at` onto their label links and
    their unread mentions (`UnreadMention`), so a label's list
    (`selectors.conversations_labelled`) and an agent's Mentions view
    (`selectors.conversations_mentioning`) stay in the conversations'
    order. Every write that moves a conversation's last activity calls it
    in the same transaction.

    One statement on PostgreSQL (two UPDATEs in one WITH, each by its
    table's unique (conversation, ...) index; conversations without labels
    or mentions cost an index probe each); two UPDATEs elsewhere."""
    ids = list(conversation_ids)
    if not ids:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _COPY_SQL.format(
                    conversations=Conversation._meta.db_table,
                    labels=ConversationLabel._meta.db_table,
                    mentions=UnreadMention._meta.db_table,
                ),
                [ids],
            )
        return
    for model in (ConversationLabel, UnreadMention):
        model.objects.filter(conversation_id__in=ids).update(
            last_message_at=Subquery(
                Conversation.objects.filter(pk=OuterRef("conversation_id")).values(
                    "last_message_at"
                )[:1]
            )
        )


_COPY_SQL = """
WITH moved AS (
    SELECT id, last_message_at FROM {conversations} WHERE id = ANY(%s)
), labels AS (
    UPDATE {labels} AS link SET last_message_at = moved.last_message_at
    FROM moved WHERE link.conversation_id = moved.id
)
UPDATE {mentions} AS unread SET last_message_at = moved.last_message_at
FROM moved WHERE unread.conversation_id = moved.id
"""


def activity_message(
    conversation: Conversation, text: str, *, by: AbstractBaseUser | None
) -> Message:
    """An unsaved activity entry for `conversation` saying `text` (shown as
    written, in every language: prefer `activity_entry`): outbound, status
    `received` (nothing to deliver), authored by `by`."""
    return Message(
        conversation=conversation,
        channel_id=conversation.channel_id,
        direction=Message.Direction.OUTBOUND,
        kind=Message.ACTIVITY,
        text=text,
        author=by,
        status=Message.Status.RECEIVED,
        sent_at=timezone.now(),
    )


def activity_entry(
    conversation: Conversation,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    by: AbstractBaseUser | None,
) -> Message:
    """An unsaved activity entry of `kind` with `params` (one of
    `conversations.activity.ACTIVITY`, shown in each reader's language), its
    `text` the sentence in English; as `activity_message` otherwise. Raises
    `KeyError` for an unknown kind or a parameter the kind needs missing."""
    params = params or {}
    entry = activity_message(conversation, activity_english(kind, params), by=by)
    entry.details = activity_details(kind, params)
    return entry


def _conversations_change(
    conversations: Sequence[Conversation],
    *,
    by: AbstractBaseUser | None,
    status: str | None,
    assignee: AbstractBaseUser | None,
    unassign: bool,
    snoozed_until: datetime | None,
    team: Team | None = None,
    unteam: bool = False,
    labels: Sequence[Label] | None = None,
    labels_add: Sequence[Label] = (),
    labels_remove: Sequence[Label] = (),
) -> None:
    """Validate one change, apply it to `conversations` (loaded, of one
    business) in one UPDATE (plus at most one INSERT and one DELETE of label
    links), store an activity entry per actual change in one INSERT, and
    publish."""
    if not conversations:
        return
    business_id = conversations[0].business_id
    if status is not None and status not in Conversation.Status.values:
        raise ApplicationError(f"No such status: {status}.")
    if snoozed_until is not None:
        if status != Conversation.Status.SNOOZED:
            raise ApplicationError(SNOOZE_NEEDS_STATUS)
        if snoozed_until <= timezone.now():
            raise ApplicationError(SNOOZE_IN_THE_PAST)
    values: dict[str, Any] = {}
    if status is not None:
        values["status"] = status
        values["snoozed_until"] = (
            snoozed_until if status == Conversation.Status.SNOOZED else None
        )
    if unassign:
        values["assignee"] = None
    elif assignee is not None:
        member = getattr(assignee, "member", None)
        if member is None or member.business_id != business_id:
            raise ApplicationError(NO_SUCH_AGENT)
        if not assignee.is_active:
            raise ApplicationError(AGENT_DEACTIVATED)
        values["assignee"] = assignee
    if unteam:
        values["team"] = None
    elif team is not None:
        if team.business_id != business_id:
            raise NoSuchTeam(NO_SUCH_TEAM)
        values["team"] = team
    wanted_labels = _labels_of(business_id, labels) if labels is not None else None
    adding = _labels_of(business_id, labels_add)
    removing = _labels_of(business_id, labels_remove)
    both = {label.pk for label in adding} & {label.pk for label in removing}
    if both:
        names = ", ".join(sorted(label.name for label in adding if label.pk in both))
        raise ApplicationError(LABEL_ADDED_AND_REMOVED.format(names=names))
    touches_labels = wanted_labels is not None or adding or removing
    if not values and not touches_labels:
        return
    with transaction.atomic():
        # Two agents (or two quick clicks) changing the same conversations at
        # once: each change is worked out from the rows as they are under
        # its lock, so neither records "added label vip" the other made.
        _conversations_lock_refresh(conversations)
        before = webhook_events.conversation_state(conversations)
        links_add: list[ConversationLabel] = []
        links_remove: list[tuple[int, int]] = []
        label_texts: dict[int, list[_Activity]] = {}
        if touches_labels:
            links_add, links_remove, label_texts = _label_changes(
                conversations, by, wanted_labels, adding, removing
            )
        zone = None
        if values.get("snoozed_until") is not None:
            zone = business_zone_by_id(business_id)
        activities: list[Message] = []
        status_changes_record(conversations, values.get("status"))
        for conversation in conversations:
            activities += [
                activity_entry(conversation, kind, params, by=by)
                for kind, params in _activity_texts(conversation, values, by, zone)
                + label_texts.get(conversation.pk, [])
            ]
            for name, value in values.items():
                setattr(conversation, name, value)
        if values:
            Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(
                **values
            )
        if links_remove:
            gone = Q()
            for conversation_id, label_id in links_remove:
                gone |= Q(conversation_id=conversation_id, label_id=label_id)
            ConversationLabel.objects.filter(gone).delete()
        if links_add:
            ConversationLabel.objects.bulk_create(links_add, ignore_conflicts=True)
        created = Message.objects.bulk_create(activities)
        webhook_events.conversations_changed(
            conversations, before, created, labels=(links_add, links_remove)
        )
        satisfaction_resolutions_queue(conversations, before, created)
        automation_triggers.status_changed(conversations, before, created)
        realtime.publish_messages_created(created)
        noted = {message.conversation_id for message in created}
        if values:  # (as before: a status or assignee given, changed or not)
            for conversation in conversations:
                if conversation.pk not in noted:
                    realtime.publish_conversation_changed(conversation)


def _conversations_lock_refresh(conversations: Sequence[Conversation]) -> None:
    """Lock `conversations`' rows (in pk order, as every writer does) and
    refresh what a change is compared with: status, snooze, assignee, team."""
    fields = ("status", "snoozed_until", "assignee_id", "team_id")
    locked = {
        row["pk"]: row
        for row in Conversation.objects.select_for_update()
        .filter(pk__in=[c.pk for c in conversations])
        .order_by("pk")
        .values("pk", *fields)
    }
    for conversation in conversations:
        row = locked.get(conversation.pk)
        if row is not None:
            for name in fields:
                setattr(conversation, name, row[name])


def _labels_of(business_id: object, labels: Sequence[Label]) -> list[Label]:
    """`labels` without duplicates; raises `NoSuchLabel` naming those that are
    not the business's."""
    unique = list({label.pk: label for label in labels}.values())
    foreign = [label.name for label in unique if label.business_id != business_id]
    if foreign:
        raise NoSuchLabel(NO_SUCH_LABEL.format(names=", ".join(sorted(foreign))))
    return unique


def _label_changes(
    conversations: Sequence[Conversation],
    by: AbstractBaseUser | None,
    wanted: list[Label] | None,
    adding: list[Label],
    removing: list[Label],
) -> tuple[list[ConversationLabel], list[tuple[int, int]], dict[int, list[_Activity]]]:
    """The label links to create and delete ((conversation id, label id)), and
    each conversation's activity entries (kind, params), from the
    conversations' current labels (one query). `wanted` replaces the set;
    otherwise `adding` / `removing`."""
    current: dict[int, dict[int, Label]] = {c.pk: {} for c in conversations}
    for link in ConversationLabel.objects.filter(
        conversation_id__in=list(current)
    ).select_related("label"):
        current[link.conversation_id][link.label_id] = link.label
    who = actor_name(by)
    links_add: list[ConversationLabel] = []
    links_remove: list[tuple[int, int]] = []
    texts: dict[int, list[_Activity]] = {}
    for conversation in conversations:
        has = current[conversation.pk]
        if wanted is not None:
            wanted_ids = {label.pk for label in wanted}
            added = [label for label in wanted if label.pk not in has]
            removed = [label for pk, label in has.items() if pk not in wanted_ids]
        else:
            added = [label for label in adding if label.pk not in has]
            removed = [label for label in removing if label.pk in has]
        added.sort(key=lambda label: label.name.lower())
        removed.sort(key=lambda label: label.name.lower())
        links_add += [
            ConversationLabel(
                conversation_id=conversation.pk,
                label_id=label.pk,
                last_message_at=conversation.last_message_at,
            )
            for label in added
        ]
        links_remove += [(conversation.pk, label.pk) for label in removed]
        texts[conversation.pk] = [
            ("label_added", {"actor": who, "label": label.name}) for label in added
        ] + [
            ("label_removed", {"actor": who, "label": label.name}) for label in removed
        ]
    return links_add, links_remove, texts


def _activity_texts(
    conversation: Conversation,
    values: dict[str, Any],
    by: AbstractBaseUser | None,
    zone: tzinfo | None = None,
) -> list[_Activity]:
    """What changed, as activity kinds and parameters
    (`conversations.activity`), comparing the conversation as loaded with
    `values`."""
    who = actor_name(by)
    entries: list[_Activity] = []
    if "status" in values:
        status, until = values["status"], values["snoozed_until"]
        if (status, until) != (conversation.status, conversation.snoozed_until):
            if status == Conversation.Status.SNOOZED and until is not None:
                entries.append(
                    (
                        "snoozed",
                        {
                            "actor": who,
                            "until": until.isoformat(),
                            "zone": zone_name(zone),
                        },
                    )
                )
            elif status == Conversation.Status.SNOOZED:
                entries.append(("snoozed_until_reply", {"actor": who}))
            elif status == Conversation.Status.OPEN:
                entries.append(("reopened", {"actor": who}))
            elif status == Conversation.Status.PENDING:
                entries.append(("pending", {"actor": who}))
            else:
                entries.append(("resolved", {"actor": who}))
    if "assignee" in values:
        new, old = values["assignee"], conversation.assignee
        if new is None and old is not None:
            entries.append(("unassigned", {"actor": who, "agent": actor_name(old)}))
        elif new is not None and getattr(old, "pk", None) != new.pk:
            if by is not None and new.pk == by.pk:
                entries.append(("assigned_self", {"actor": who}))
            else:
                entries.append(("assigned", {"actor": who, "agent": actor_name(new)}))
    if "team" in values:
        new_team, old_team = values["team"], conversation.team
        if new_team is None and old_team is not None:
            entries.append(("team_removed", {"actor": who, "team": old_team.name}))
        elif new_team is not None and getattr(old_team, "pk", None) != new_team.pk:
            entries.append(("team_assigned", {"actor": who, "team": new_team.name}))
    return entries


def conversation_mark_read(*, conversation: Conversation) -> None:
    """Clear the unread count (an agent opened the conversation)."""
    if conversation.unread_count:
        Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
        conversation.unread_count = 0
        realtime.publish_conversation_changed(conversation)

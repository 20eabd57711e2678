"""Writes of a business's teams, labels and canned responses, an agent's
saved filters, and the filling of a canned response's variables.

Refusals raise Django's `ValidationError` with a dict naming the field
(`{"name": [...]}`, `{"member_ids": [...]}`, `{"short_code": [...]}`); the API
answers them 400 with that dict. Nothing is stored when a write is refused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils.translation import gettext

from billing.models import Business, Member
from workspace.models import (
    AWAY_MESSAGE_MAX_LENGTH,
    LABEL_DEFAULT_COLOR,
    AwayMessage,
    AwayMessageSent,
    CannedResponse,
    Label,
    OpeningInterval,
    SavedFilter,
    Team,
)

logger = logging.getLogger(__name__)

TEAM_NAME_TAKEN = "A team with this name already exists."
LABEL_NAME_TAKEN = "A label with this name already exists."
SHORT_CODE_TAKEN = "A canned response with this short code already exists."
SAVED_FILTER_NAME_TAKEN = "You already have a saved filter with this name."
NO_SUCH_MEMBER = "No such member in this business: {ids}."

# `{{contact.name}}`, `{{ agent.name }}`, ...: the variables a canned response
# may hold, spaces inside the braces allowed.
_VARIABLE = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")


# ------------------------------------------------------------------ helpers


def _name_taken(
    queryset: models.QuerySet, *, field: str, value: str, exclude_pk: int | None
) -> bool:
    """Whether a row of `queryset` has `field` equal to `value` ignoring case,
    as PostgreSQL's `lower()` does (the unique constraints' own comparison)."""
    rows = queryset.alias(_lowered=Lower(field)).filter(_lowered=Lower(Value(value)))
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    return rows.exists()


def _save_unique(save: Callable[[], None], *, field: str, message: str) -> None:
    """Run `save` in a savepoint; a unique violation (a concurrent write took
    the name between the check and the insert) becomes the same 400 the check
    gives."""
    try:
        with transaction.atomic():
            save()
    except IntegrityError as error:
        raise ValidationError({field: [message]}) from error


def _members_of(business: Business, user_ids: Iterable[int]) -> list[Member]:
    """The members of `business` whose user ids are `user_ids`; raises
    `ValidationError({"member_ids": [...]})` naming the ids that are not
    (unknown and another business's alike)."""
    wanted = set(user_ids)
    members = list(Member.objects.filter(business=business, user_id__in=wanted))
    missing = wanted - {member.user_id for member in members}
    if missing:
        ids = ", ".join(str(user_id) for user_id in sorted(missing))
        raise ValidationError({"member_ids": [NO_SUCH_MEMBER.format(ids=ids)]})
    return members


# ------------------------------------------------------------------ teams


def team_create(
    *,
    business: Business,
    name: str,
    description: str = "",
    member_user_ids: Iterable[int] = (),
) -> Team:
    """Create a team of `business` with the members whose user ids are
    `member_user_ids`. Raises `ValidationError` naming `name` (taken, ignoring
    case) or `member_ids` (not members of `business`)."""
    members = _members_of(business, member_user_ids)
    if _name_taken(
        Team.objects.filter(business=business),
        field="name",
        value=name,
        exclude_pk=None,
    ):
        raise ValidationError({"name": [TEAM_NAME_TAKEN]})
    team = Team(business=business, name=name, description=description)

    def save() -> None:
        team.save()
        team.members.set(members)

    _save_unique(save, field="name", message=TEAM_NAME_TAKEN)
    logger.info(
        "team.created", extra={"team_id": team.pk, "business_id": str(business.pk)}
    )
    return team


def team_update(
    *,
    team: Team,
    name: str | None = None,
    description: str | None = None,
    member_user_ids: Iterable[int] | None = None,
) -> Team:
    """Change what is given (None leaves it); `member_user_ids` replaces the
    members. Raises `ValidationError` as `team_create` does."""
    members = None
    if member_user_ids is not None:
        members = _members_of(team.business, member_user_ids)
    if name is not None:
        if _name_taken(
            Team.objects.filter(business_id=team.business_id),
            field="name",
            value=name,
            exclude_pk=team.pk,
        ):
            raise ValidationError({"name": [TEAM_NAME_TAKEN]})
        team.name = name
    if description is not None:
        team.description = description

    def save() -> None:
        team.save()
        if members is not None:
            team.members.set(members)

    _save_unique(save, field="name", message=TEAM_NAME_TAKEN)
    logger.info("team.updated", extra={"team_id": team.pk})
    return team


def team_delete(*, team: Team) -> None:
    """Delete `team` (its members stay members of the business)."""
    team_id = team.pk
    team.delete()
    logger.info("team.deleted", extra={"team_id": team_id})


# ------------------------------------------------------------------ labels


def label_create(
    *,
    business: Business,
    name: str,
    color: str = LABEL_DEFAULT_COLOR,
    description: str = "",
) -> Label:
    """Create a label of `business`; `color` is stored lowercase. Raises
    `ValidationError` naming `name` when the business has a label of that
    name, ignoring case."""
    if _name_taken(
        Label.objects.filter(business=business),
        field="name",
        value=name,
        exclude_pk=None,
    ):
        raise ValidationError({"name": [LABEL_NAME_TAKEN]})
    label = Label(
        business=business, name=name, color=color.lower(), description=description
    )
    _save_unique(label.save, field="name", message=LABEL_NAME_TAKEN)
    logger.info(
        "label.created", extra={"label_id": label.pk, "business_id": str(business.pk)}
    )
    return label


def label_update(
    *,
    label: Label,
    name: str | None = None,
    color: str | None = None,
    description: str | None = None,
) -> Label:
    """Change what is given (None leaves it). Raises `ValidationError` as
    `label_create` does."""
    if name is not None:
        if _name_taken(
            Label.objects.filter(business_id=label.business_id),
            field="name",
            value=name,
            exclude_pk=label.pk,
        ):
            raise ValidationError({"name": [LABEL_NAME_TAKEN]})
        label.name = name
    if color is not None:
        label.color = color.lower()
    if description is not None:
        label.description = description
    _save_unique(label.save, field="name", message=LABEL_NAME_TAKEN)
    logger.info("label.updated", extra={"label_id": label.pk})
    return label


def label_delete(*, label: Label) -> None:
    """Delete `label`."""
    label_id = label.pk
    label.delete()
    logger.info("label.deleted", extra={"label_id": label_id})


# ------------------------------------------------------------------ canned responses


def canned_response_create(
    *,
    business: Business,
    short_code: str,
    content: str,
    created_by: Member | None = None,
) -> CannedResponse:
    """Create a canned response of `business`. Raises `ValidationError` naming
    `short_code` when the business already has one with it."""
    if CannedResponse.objects.filter(business=business, short_code=short_code).exists():
        raise ValidationError({"short_code": [SHORT_CODE_TAKEN]})
    canned = CannedResponse(
        business=business, short_code=short_code, content=content, created_by=created_by
    )
    _save_unique(canned.save, field="short_code", message=SHORT_CODE_TAKEN)
    logger.info(
        "canned_response.created",
        extra={"canned_response_id": canned.pk, "business_id": str(business.pk)},
    )
    return canned


def canned_response_update(
    *,
    canned: CannedResponse,
    short_code: str | None = None,
    content: str | None = None,
) -> CannedResponse:
    """Change what is given (None leaves it). Raises `ValidationError` as
    `canned_response_create` does."""
    if short_code is not None:
        taken = (
            CannedResponse.objects.filter(
                business_id=canned.business_id, short_code=short_code
            )
            .exclude(pk=canned.pk)
            .exists()
        )
        if taken:
            raise ValidationError({"short_code": [SHORT_CODE_TAKEN]})
        canned.short_code = short_code
    if content is not None:
        canned.content = content
    _save_unique(canned.save, field="short_code", message=SHORT_CODE_TAKEN)
    logger.info("canned_response.updated", extra={"canned_response_id": canned.pk})
    return canned


def canned_response_delete(*, canned: CannedResponse) -> None:
    """Delete `canned`."""
    canned_id = canned.pk
    canned.delete()
    logger.info("canned_response.deleted", extra={"canned_response_id": canned_id})


# ------------------------------------------------------------------ saved filters


def saved_filter_create(*, member: Member, name: str, query: str) -> SavedFilter:
    """Save a filter for `member` alone: `name` (unique among their saved
    filters, ignoring case) and `query`, the inbox list's query string
    (`status=open&label=vip`), stored without a leading `?`. The caller
    validates `query` against the list's filters. Raises `ValidationError`
    naming `name` when taken."""
    if _name_taken(
        SavedFilter.objects.filter(member=member),
        field="name",
        value=name,
        exclude_pk=None,
    ):
        raise ValidationError({"name": [SAVED_FILTER_NAME_TAKEN]})
    saved = SavedFilter(member=member, name=name, query=query.lstrip("?"))
    _save_unique(saved.save, field="name", message=SAVED_FILTER_NAME_TAKEN)
    logger.info(
        "saved_filter.created",
        extra={"saved_filter_id": saved.pk, "member_id": member.pk},
    )
    return saved


def saved_filter_update(
    *, saved: SavedFilter, name: str | None = None, query: str | None = None
) -> SavedFilter:
    """Change what is given (None leaves it). Raises `ValidationError` as
    `saved_filter_create` does."""
    if name is not None:
        if _name_taken(
            SavedFilter.objects.filter(member_id=saved.member_id),
            field="name",
            value=name,
            exclude_pk=saved.pk,
        ):
            raise ValidationError({"name": [SAVED_FILTER_NAME_TAKEN]})
        saved.name = name
    if query is not None:
        saved.query = query.lstrip("?")
    _save_unique(saved.save, field="name", message=SAVED_FILTER_NAME_TAKEN)
    logger.info("saved_filter.updated", extra={"saved_filter_id": saved.pk})
    return saved


def saved_filter_delete(*, saved: SavedFilter) -> None:
    """Delete `saved`."""
    saved_id = saved.pk
    saved.delete()
    logger.info("saved_filter.deleted", extra={"saved_filter_id": saved_id})


def canned_response_render(
    content: str, *, contact_name: str, agent_name: str, conversation_id: int | str
) -> str:
    """`content` with its variables filled: `{{contact.name}}`,
    `{{agent.name}}` and `{{conversation.id}}` (spaces inside the braces
    allowed). Plain text substitution in one pass: any other `{{...}}` is left
    as typed, a value that itself looks like a variable is not filled again,
    no template engine runs and nothing is HTML-escaped or interpreted (the
    result is text, escaped wherever it is shown)."""
    values = {
        "contact.name": contact_name,
        "agent.name": agent_name,
        "conversation.id": str(conversation_id),
    }

    def fill(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    return _VARIABLE.sub(fill, content)


# ---------------------------------------------------------------- business hours


def business_hours_set(
    *, business: Business, week: dict[int, list[tuple[int, int]]] | None
) -> None:
    """Replace `business`'s weekly hours with `week` (as `workspace.hours.
    week_parse` returns it), or remove them (None: always open). Raises
    `workspace.hours.BusinessHoursInvalid` for a week `week_parse` would
    refuse; nothing changes then. When the hours differ from those stored,
    raises `Business.hours_version` in the same transaction and queues the
    refresh of the reports' business-hours times after the commit
    (`reports.services.hours_version_bump`); the same hours again change
    nothing."""
    from reports.services import hours_version_bump
    from workspace.hours import WEEKDAYS, week_parse, week_show

    if week is not None:
        week = week_parse(week_show(week))  # the same checks as the API's
    rows = [
        OpeningInterval(business=business, weekday=weekday, opens=o, closes=c)
        for weekday, intervals in (week or {}).items()
        if 0 <= weekday < len(WEEKDAYS)
        for o, c in intervals
    ]
    with transaction.atomic():
        # The business's row locked: two changes of its hours at once are
        # compared with the stored hours one after the other.
        Business.objects.select_for_update().filter(pk=business.pk).values_list(
            "pk"
        ).get()
        stored = OpeningInterval.objects.filter(business=business)
        if sorted(stored.values_list("weekday", "opens", "closes")) != sorted(
            (row.weekday, row.opens, row.closes) for row in rows
        ):
            stored.delete()
            OpeningInterval.objects.bulk_create(rows)
            hours_version_bump(business)
    logger.info(
        "business.hours_set",
        extra={"business_id": str(business.pk), "intervals": len(rows)},
    )


def away_message_save(*, channel, enabled: bool, body: str) -> AwayMessage:
    """Store `channel`'s away message: `enabled` turns it on, `body` is what
    the customer gets (surrounding spaces dropped). Raises `ValidationError`
    `{"body": [...]}` for an enabled message without text, or a text over
    `AWAY_MESSAGE_MAX_LENGTH` or over what the channel carries in one
    message; nothing is stored then. Returns the away message."""
    from channels_app.platforms.capabilities import channel_capabilities

    body = body.strip()
    if enabled and not body:
        raise ValidationError(
            {"body": [gettext("Write the away message, or turn it off.")]}
        )
    if len(body) > AWAY_MESSAGE_MAX_LENGTH:
        raise ValidationError(
            {
                "body": [
                    gettext(
                        "An away message has at most %(limit)d characters; "
                        "this one has %(length)d."
                    )
                    % {"limit": AWAY_MESSAGE_MAX_LENGTH, "length": len(body)}
                ]
            }
        )
    refusal = channel_capabilities(channel.type).text_refusal(
        len(body), subject="away message"
    )
    if refusal:
        raise ValidationError({"body": [refusal]})
    away, _ = AwayMessage.objects.update_or_create(
        channel=channel, defaults={"enabled": enabled, "body": body}
    )
    return away


# An inbound message received this long after it was written gets no away
# message: it is a backlog (a mailbox read for the first time, a platform
# redelivering old events), and the customer is not waiting on this reply.
AWAY_MESSAGE_LATE_AFTER = timedelta(hours=1)


def away_messages_queue(*, channel_id: object, message_ids: Iterable[int]) -> None:
    """Once the current transaction commits, have a worker send the away
    messages the inbound messages `message_ids` of channel `channel_id` call
    for (`workspace.tasks.send_away_messages`). Called at the end of
    `ingest`: no query inside its transaction; after the commit, one query,
    and a task only when the channel's away message is on (most channels
    cost the broker nothing). A broker error is logged, not raised."""
    ids = list(message_ids)
    if ids:
        transaction.on_commit(
            lambda: _away_messages_publish(channel_id, ids), robust=True
        )


def _away_messages_publish(channel_id: object, message_ids: list[int]) -> None:
    from workspace.tasks import send_away_messages

    if AwayMessage.objects.filter(channel_id=channel_id, enabled=True).exists():
        send_away_messages.delay(message_ids)


def away_messages_send(*, message_ids: Iterable[int]) -> list[int]:
    """Send the away message for each conversation where one of the inbound
    customer messages `message_ids` arrived outside business hours, and
    return the ids of the away messages queued.

    A conversation gets one only when: the message is a customer's (inbound,
    kind `message`: not a note, an activity entry, an outbound message or a
    public mention); its channel is active and has an enabled away message;
    the business has hours and was closed when the message was written
    (`sent_at`) and PingBack received it within `AWAY_MESSAGE_LATE_AFTER`
    of that (a backlog fetched late is not answered); the customer has not
    opted out on the channel; and no away
    message was sent in it since the business last closed
    (`AwayMessageSent`, unique per conversation and closed period). So a
    conversation gets at most one per closed period: redelivered webhooks,
    several messages and concurrent workers included. The message goes out
    through the outbox, marked `details["automatic"] = "away_message"`."""
    from conversations.models import Message
    from conversations.services.replies import (
        ReplyRefused,
        post_automatic_reply,
        reply_check,
    )
    from workspace.selectors import business_hours

    messages = (
        Message.objects.filter(
            pk__in=list(message_ids),
            direction=Message.Direction.INBOUND,
            kind="message",
            channel__is_active=True,
            channel__away_message__enabled=True,
        )
        .select_related(
            "conversation__contact_identity",
            "conversation__business",
            "channel__away_message",
        )
        .order_by("sent_at", "pk")
    )
    sent: list[int] = []
    seen: set[int] = set()
    hours_of: dict = {}
    for message in messages:
        conversation = message.conversation
        if conversation.pk in seen or conversation.channel_id != message.channel_id:
            continue
        seen.add(conversation.pk)
        if message.created_at - message.sent_at > AWAY_MESSAGE_LATE_AFTER:
            continue
        identity = conversation.contact_identity
        if identity is not None and identity.opted_out_at is not None:
            continue
        business = conversation.business
        if business.pk not in hours_of:
            hours_of[business.pk] = business_hours(business)
        hours = hours_of[business.pk]
        closed_since = hours.closed_since(message.sent_at) if hours else None
        if closed_since is None:
            continue
        body = message.channel.away_message.body
        try:
            reply_check(conversation=conversation, text=body)
        except ReplyRefused as refusal:
            logger.warning(
                "away_message.refused",
                extra={"conversation_id": conversation.pk, "reason": refusal.detail},
            )
            continue
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = AwayMessageSent.objects.create(
                        conversation=conversation, closed_since=closed_since
                    )
            except IntegrityError:
                continue  # already sent in this closed period
            away = post_automatic_reply(
                conversation=conversation, text=body, automatic="away_message"
            )
            record.message = away
            record.save(update_fields=["message"])
        sent.append(away.pk)
        logger.info(
            "away_message.queued",
            extra={"conversation_id": conversation.pk, "message_id": away.pk},
        )
    return sent

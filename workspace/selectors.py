"""Reads of a business's teams, labels, canned responses and agents, and of
an agent's saved filters.

Every read is scoped to one business: another business's rows are never
returned, and `*_get` raises `DoesNotExist` for them exactly as for an id that
does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from billing.models import Business, Member
from channels_app.models import Channel
from workspace.hours import WeeklyHours, weekly_hours_of
from workspace.models import (
    AwayMessage,
    CannedResponse,
    Label,
    OpeningInterval,
    SavedFilter,
    Team,
)


def team_list(business: Business) -> QuerySet[Team]:
    """`business`'s teams by name ignoring case (`sort_name`), with their
    members and users prefetched (a fixed number of queries however many teams
    and members)."""
    return (
        Team.objects.filter(business=business)
        .annotate(sort_name=Lower("name"))
        .prefetch_related("members__user")
        .order_by("sort_name", "id")
    )


def team_get(business: Business, team_id: int) -> Team:
    """One of `business`'s teams; raises `Team.DoesNotExist` otherwise."""
    return team_list(business).get(pk=team_id)


def label_list(business: Business, *, search: str = "") -> QuerySet[Label]:
    """`business`'s labels by name ignoring case (`sort_name`); `search`
    (case-insensitive) keeps those whose name contains it, for the `/` picker
    as the agent types."""
    labels = Label.objects.filter(business=business).annotate(sort_name=Lower("name"))
    if search:
        labels = labels.filter(name__icontains=search)
    return labels.order_by("sort_name", "id")


def label_get(business: Business, label_id: int) -> Label:
    """One of `business`'s labels; raises `Label.DoesNotExist` otherwise."""
    return label_list(business).get(pk=label_id)


def canned_response_list(
    business: Business, *, search: str = ""
) -> QuerySet[CannedResponse]:
    """`business`'s canned responses by short code, their authors joined in;
    `search` (case-insensitive) keeps those whose short code or content
    contains it."""
    canned = CannedResponse.objects.filter(business=business).select_related(
        "created_by__user"
    )
    if search:
        canned = canned.filter(
            Q(short_code__icontains=search) | Q(content__icontains=search)
        )
    return canned.order_by("short_code", "id")


def canned_response_get(business: Business, canned_response_id: int) -> CannedResponse:
    """One of `business`'s canned responses; raises
    `CannedResponse.DoesNotExist` otherwise."""
    return canned_response_list(business).get(pk=canned_response_id)


def agent_list(business: Business) -> QuerySet[Member]:
    """`business`'s active members (agents and admins; not the deactivated,
    who can be neither assigned nor put in a team) by user id, each with its
    user joined and its teams prefetched (two queries however many
    members)."""
    return (
        Member.objects.filter(business=business, user__is_active=True)
        .select_related("user")
        .prefetch_related("teams")
        .order_by("user_id")
    )


def saved_filter_list(member: Member) -> QuerySet[SavedFilter]:
    """`member`'s own saved filters by name ignoring case (`sort_name`);
    nobody else's."""
    return (
        SavedFilter.objects.filter(member=member)
        .annotate(sort_name=Lower("name"))
        .order_by("sort_name", "id")
    )


def saved_filter_get(member: Member, saved_filter_id: int) -> SavedFilter:
    """One of `member`'s saved filters; raises `SavedFilter.DoesNotExist` for
    another member's as for an unknown id."""
    return saved_filter_list(member).get(pk=saved_filter_id)


# ---------------------------------------------------------------- business hours


def business_hours(business: Business) -> WeeklyHours | None:
    """`business`'s weekly hours in its time zone (`workspace.hours`), or None
    when it has set none (always open). One query."""
    rows = OpeningInterval.objects.filter(business=business).values_list(
        "weekday", "opens", "closes"
    )
    return weekly_hours_of(business.time_zone, rows)


def is_open(business: Business, at: datetime) -> bool:
    """Whether `business` is open at `at` (an aware datetime): True when it
    has no business hours."""
    hours = business_hours(business)
    return hours is None or hours.is_open(at)


def next_opening(business: Business, at: datetime) -> datetime:
    """`at` when `business` is open then (or has no business hours), else the
    next moment it opens (UTC)."""
    hours = business_hours(business)
    opening = hours.next_opening(at) if hours is not None else None
    return opening or at


def open_seconds(business: Business, start: datetime, end: datetime) -> float:
    """Seconds between `start` and `end` that fall in `business`'s hours; all
    of them when it has none (0 when `end` is not after `start`)."""
    hours = business_hours(business)
    if hours is None:
        # In UTC: Python subtracts two datetimes of one zone as wall times.
        return max((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds(), 0.0)
    return hours.open_seconds(start, end)


def away_message_list(business: Business) -> list[tuple[Channel, AwayMessage]]:
    """`business`'s channels by name, each with its away message (an unsaved,
    disabled one when it has none yet). Two queries."""
    channels = list(Channel.objects.filter(business=business).order_by("name", "id"))
    saved = {
        away.channel_id: away
        for away in AwayMessage.objects.filter(channel__in=channels)
    }
    return [
        (channel, saved.get(channel.pk) or AwayMessage(channel=channel))
        for channel in channels
    ]

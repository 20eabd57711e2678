"""Reads of customer satisfaction (CSAT): the report's figures, a
conversation's ratings, and what the widget shows of a rating request
(docs/satisfaction.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count

from billing.models import Business
from conversations.models import Conversation
from conversations.services.snooze import zone_named
from satisfaction.models import SatisfactionRating, SatisfactionRequest

RECENT_COMMENTS = 10
SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class RecentComment:
    """A rating with a comment, for the report's list."""

    conversation_id: int
    contact_name: str
    score: int
    comment: str
    created_at: dt.datetime


@dataclass(frozen=True)
class CsatReport:
    """A business's CSAT over local days `since` to `until` (both included, in
    its time zone). `asked`: resolutions the customer was asked to rate in
    those days; `skipped`: resolutions not asked (a closed window, a
    deactivated channel…); `count`: ratings given in those days; `average`:
    their mean score (None without ratings); `distribution`: ratings per score
    1 to 5; `response_rate`: share (0 to 1) of the requests asked in those days that
    were rated (None when none was asked); `recent_comments`: the newest
    ratings with a comment (at most `RECENT_COMMENTS`)."""

    since: dt.date
    until: dt.date
    time_zone: str
    asked: int
    skipped: int
    count: int
    average: float | None
    distribution: dict[int, int]
    response_rate: float | None
    recent_comments: list[RecentComment] = field(default_factory=list)

    @property
    def distribution_rows(self) -> list[dict[str, Any]]:
        """`[{score, count, share}]` from 5 down to 1, `share` in percent
        (0 without ratings), for the page's bars."""
        return [
            {
                "score": score,
                "count": self.distribution[score],
                "share": round(100 * self.distribution[score] / self.count)
                if self.count
                else 0,
            }
            for score in reversed(SCORES)
        ]


def day_bounds(
    business: Business, since: dt.date, until: dt.date
) -> tuple[dt.datetime, dt.datetime]:
    """The instants starting local day `since` and ending local day `until`
    (exclusive) in the business's time zone."""
    zone = zone_named(business.time_zone)
    start = dt.datetime.combine(since, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start, end


def csat_report(business: Business, since: dt.date, until: dt.date) -> CsatReport:
    """The business's `CsatReport` for local days `since` to `until`. Four
    queries, each on an index of (business, created_at)."""
    start, end = day_bounds(business, since, until)
    requests = SatisfactionRequest.objects.filter(
        business=business, created_at__gte=start, created_at__lt=end
    )
    by_status = dict(requests.values_list("status").annotate(n=Count("pk")).order_by())
    asked = by_status.get(SatisfactionRequest.Status.ASKED, 0)
    answered = requests.filter(
        status=SatisfactionRequest.Status.ASKED, rating__isnull=False
    ).count()
    ratings = SatisfactionRating.objects.filter(
        business=business, created_at__gte=start, created_at__lt=end
    )
    distribution = dict.fromkeys(SCORES, 0)
    total = 0
    score_sum = 0
    for score, n in ratings.values_list("score").annotate(n=Count("pk")).order_by():
        distribution[score] = n
        total += n
        score_sum += score * n
    recent = [
        RecentComment(
            conversation_id=r.conversation_id,
            contact_name=r.conversation.contact.name,
            score=r.score,
            comment=r.comment,
            created_at=r.created_at,
        )
        for r in ratings.exclude(comment="")
        .select_related("conversation__contact")
        .order_by("-created_at", "-pk")[:RECENT_COMMENTS]
    ]
    return CsatReport(
        since=since,
        until=until,
        time_zone=business.time_zone,
        asked=asked,
        skipped=by_status.get(SatisfactionRequest.Status.SKIPPED, 0),
        count=total,
        average=round(score_sum / total, 2) if total else None,
        distribution=distribution,
        response_rate=round(answered / asked, 4) if asked else None,
        recent_comments=recent,
    )


def conversation_satisfaction(conversation: Conversation) -> dict[str, Any]:
    """`{ratings, last_request}`: the conversation's ratings, newest first,
    and its newest rating request (asked or skipped; None when never asked).
    One query."""
    requests = list(
        SatisfactionRequest.objects.filter(conversation=conversation)
        .select_related("rating")
        .order_by("-created_at", "-pk")
    )
    ratings = [r.rating for r in requests if getattr(r, "rating", None) is not None]
    ratings.sort(key=lambda rating: (rating.created_at, rating.pk), reverse=True)
    return {"ratings": ratings, "last_request": requests[0] if requests else None}


def ratings_export(conversation_ids: list[int]) -> list[dict[str, Any]]:
    """The ratings of `conversation_ids` (a contact's conversations) for the
    contact's data export, oldest first: `[{"conversation_id", "score" (1 to
    5), "comment" (empty when none, or emptied by an erasure), "rated_at"
    (ISO 8601)}]`. One query."""
    rows = (
        SatisfactionRating.objects.filter(conversation_id__in=conversation_ids)
        .order_by("created_at", "id")
        .values_list("conversation_id", "score", "comment", "created_at")
    )
    return [
        {
            "conversation_id": conversation_id,
            "score": score,
            "comment": comment,
            "rated_at": rated_at.isoformat(),
        }
        for conversation_id, score, comment, rated_at in rows
    ]


def widget_rating(message_id: int) -> dict[str, Any] | None:
    """What the widget shows under the rating question `message_id`:
    `{"token": str, "score": int | None}` (`score` once rated; the token is
    the one of the rating link), or None when the message is no question
    (one query)."""
    from satisfaction.services import rating_token

    request = (
        SatisfactionRequest.objects.filter(message_id=message_id)
        .select_related("rating")
        .first()
    )
    if request is None:
        return None
    rating = getattr(request, "rating", None)
    return {
        "token": rating_token(request),
        "score": rating.score if rating is not None else None,
    }

"""Writes of customer satisfaction (CSAT): the business's settings, asking
the customer when a conversation is resolved, and storing their rating
(docs/satisfaction.md)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from billing.models import Business
from conversations import realtime
from conversations.models import Conversation, Message
from pingback.errors import ApplicationError, FieldInvalid
from satisfaction.models import (
    SatisfactionRating,
    SatisfactionRequest,
    SatisfactionSettings,
)
from webhooks.services import events as webhook_events

logger = logging.getLogger(__name__)

WIDGET_TYPES = frozenset({"webchat", "widget"})
# Platforms where a free-form message may only follow the customer's last
# message by 24 hours (outside it, only approved templates).
WINDOW_TYPES = frozenset({"whatsapp", "instagram"})
AUTOMATIC = "csat_request"
TOKEN_SALT = "satisfaction.rating"
# How long a rating link (and the widget's inline rating) stays valid.
RATING_LINK_MAX_AGE = timedelta(days=7)
QUESTION_MAX_LENGTH = 1000
COMMENT_MAX_LENGTH = 2000

# Why a request was skipped: stored in English (`skip_reason`), shown in the
# reader's language (`{% load satisfaction %}`'s `skip_reason` filter).
SKIP_CHANNEL_GONE = gettext_noop("the channel is deactivated or deleted")
SKIP_OPTED_OUT = gettext_noop("the customer opted out of messages on this channel")
SKIP_WINDOW = gettext_noop(
    "the customer last wrote more than 24 hours ago, so {platform} accepts "
    "no free-form message"
)
SKIP_PUBLIC = gettext_noop("a public post: the link would be public")
SKIP_REOPENED = gettext_noop("the conversation was reopened before PingBack asked")
SKIP_DOES_NOT_FIT = gettext_noop("the question does not fit the channel: {detail}")

# Shown to the customer on the rating page, in the page's language (lazy:
# translated when raised; COMMENT_TOO_LONG takes `limit`).
LINK_INVALID = gettext_lazy(
    "This rating link is not valid: it may be mistyped or more than 7 days old."
)
ALREADY_RATED = gettext_lazy("This conversation has already been rated. Thank you!")
SCORE_INVALID = gettext_lazy("Choose a score from 1 (bad) to 5 (great).")
COMMENT_TOO_LONG = gettext_lazy("A comment may have at most %(limit)s characters.")


class RatingLinkInvalid(ApplicationError):
    """A rating token that was forged, mistyped, has expired, or names a
    request that is gone (HTTP 404)."""

    status_code = 404
    code = "rating_link_invalid"


class AlreadyRated(ApplicationError):
    """The request was already answered: a token is good for one rating
    (HTTP 409)."""

    status_code = 409
    code = "already_rated"


# ------------------------------------------------------------------- settings


def satisfaction_settings_get(business: Business) -> SatisfactionSettings:
    """The business's CSAT settings; unsaved defaults (off) when it has none."""
    found = SatisfactionSettings.objects.filter(business=business).first()
    return found or SatisfactionSettings(business=business)


def satisfaction_settings_save(
    *, business: Business, enabled: bool, question: str
) -> SatisfactionSettings:
    """Turn CSAT on or off for `business` and set the question text (stripped,
    1 to `QUESTION_MAX_LENGTH` characters). Raises `FieldInvalid` naming
    `question` when it is empty or too long; nothing is saved then."""
    question = question.strip()
    if not question:
        raise FieldInvalid(
            "question", gettext("Write the question the customer is asked.")
        )
    if len(question) > QUESTION_MAX_LENGTH:
        raise FieldInvalid(
            "question",
            gettext(
                "The question may have at most %(limit)s characters; it has %(count)s."
            )
            % {"limit": QUESTION_MAX_LENGTH, "count": len(question)},
        )
    saved, _ = SatisfactionSettings.objects.update_or_create(
        business=business, defaults={"enabled": enabled, "question": question}
    )
    logger.info(
        "satisfaction.settings_saved",
        extra={"business_id": str(business.pk), "enabled": enabled},
    )
    return saved


# ---------------------------------------------------------------- asking


def satisfaction_resolutions_queue(
    conversations: Sequence[Conversation],
    before: dict[int, tuple],
    created: Sequence[Message],
) -> None:
    """Called by `conversations.services.conversations` after a change:
    for each of `conversations` that became resolved (its status in `before`,
    `{id: (status, ...)}`, was not resolved and is now), queue
    `satisfaction.ask` with the id of its resolution's activity entry (its
    first entry in `created`: the status comes first). No query here; after
    the commit, one query, and tasks only when the business has CSAT on. A
    broker error is logged, not raised."""
    resolved = Conversation.Status.RESOLVED
    ids = {
        c.pk
        for c in conversations
        if c.status == resolved and before.get(c.pk, (resolved,))[0] != resolved
    }
    if not ids:
        return
    entries: dict[int, int] = {}
    for message in created:
        if message.conversation_id in ids and message.kind == Message.ACTIVITY:
            entries.setdefault(message.conversation_id, message.pk)
    if entries:
        business_id = conversations[0].business_id
        resolution_ids = list(entries.values())
        transaction.on_commit(
            lambda: _ask_publish(business_id, resolution_ids), robust=True
        )


def _ask_publish(business_id: object, resolution_ids: list[int]) -> None:
    from satisfaction.tasks import ask

    if SatisfactionSettings.objects.filter(
        business_id=business_id, enabled=True
    ).exists():
        for resolution_id in resolution_ids:
            ask.delay(resolution_id)


def rating_token(request: SatisfactionRequest) -> str:
    """The signed token of `request`'s rating link: names the request and its
    conversation, timestamped (valid `RATING_LINK_MAX_AGE`). It cannot be
    made without the server's secret key, nor changed to name another
    request or conversation."""
    return signing.dumps(
        {"r": request.pk, "c": request.conversation_id}, salt=TOKEN_SALT
    )


def rating_link(request: SatisfactionRequest) -> str:
    """The public rating page's absolute URL for `request`."""
    path = reverse("satisfaction-rate", args=[rating_token(request)])
    return settings.PINGBACK_PUBLIC_BASE_URL.rstrip("/") + path


def satisfaction_ask(*, resolution_id: int) -> SatisfactionRequest | None:
    """Ask the customer to rate the resolution whose activity entry is
    `resolution_id`, once: a second call (a retried task) finds the request
    and does nothing. Returns the new `SatisfactionRequest`, or None when
    nothing was recorded (CSAT off, entry gone, already handled).

    The question goes through the outbox like an away message
    (`post_automatic_reply`, `details.automatic = "csat_request"`): in the
    widget it shows an inline rating; on other channels it ends with the
    rating page's link. It is not sent, and the request is recorded
    `skipped` with the reason, when the channel is deactivated or deleted,
    the customer opted out, the conversation is a public post, the 24-hour
    window of WhatsApp or Instagram has closed, the text does not fit the
    channel, or the conversation was reopened before this ran. Either way an
    activity entry in the thread tells the agents."""
    from conversations.services.conversations import activity_entry

    resolution = (
        Message.objects.filter(pk=resolution_id, kind=Message.ACTIVITY)
        .select_related(
            "conversation__channel",
            "conversation__contact_identity",
        )
        .first()
    )
    if resolution is None:
        return None
    conversation = resolution.conversation
    found = (
        SatisfactionSettings.objects.filter(
            business_id=conversation.business_id, enabled=True
        )
        .values_list("question", flat=True)
        .first()
    )
    if found is None:
        return None
    question = found
    with transaction.atomic():
        locked = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation.pk)
            .values_list("status", flat=True)
            .first()
        )
        try:
            with transaction.atomic():
                request = SatisfactionRequest.objects.create(
                    business_id=conversation.business_id,
                    conversation=conversation,
                    resolution=resolution,
                    channel_type=conversation.channel_type,
                    status=SatisfactionRequest.Status.SKIPPED,
                )
        except IntegrityError:
            return None  # this resolution was already handled
        reason = _skip_reason(conversation, locked)
        text = question
        if reason is None and conversation.channel_type not in WIDGET_TYPES:
            text = f"{question}\n{rating_link(request)}"
        if reason is None:
            reason = _refusal(conversation, text)
        if reason is None:
            from conversations.services.replies import post_automatic_reply

            message = post_automatic_reply(
                conversation=conversation, text=text, automatic=AUTOMATIC
            )
            request.status = SatisfactionRequest.Status.ASKED
            request.message = message
            kind, params = "csat_asked", {}
        else:
            request.skip_reason = reason[:255]
            kind, params = "csat_skipped", {"reason": reason}
        request.save(update_fields=["status", "message", "skip_reason"])
        entry = activity_entry(conversation, kind, params, by=None)
        entry.save()
        realtime.publish_message_created(entry)
    logger.info(
        "satisfaction.asked" if request.message_id else "satisfaction.skipped",
        extra={"conversation_id": conversation.pk, "reason": request.skip_reason},
    )
    return request


def _skip_reason(conversation: Conversation, status: str | None) -> str | None:
    """Why the question cannot be sent (None: it can), before its text."""
    from conversations.selectors import conversation_window_closed_at

    if status != Conversation.Status.RESOLVED:
        return SKIP_REOPENED
    channel = conversation.channel
    if channel is None or not channel.is_active:
        return SKIP_CHANNEL_GONE
    identity = conversation.contact_identity
    if identity is not None and identity.opted_out_at is not None:
        return SKIP_OPTED_OUT
    if conversation.thread_key.startswith("tweet:"):
        return SKIP_PUBLIC
    if conversation.channel_type in WINDOW_TYPES and conversation_window_closed_at(
        conversation
    ):
        return SKIP_WINDOW.format(platform=channel.get_type_display())
    return None


def _refusal(conversation: Conversation, text: str) -> str | None:
    from conversations.services.replies import ReplyRefused, reply_check

    try:
        reply_check(conversation=conversation, text=text)
    except ReplyRefused as refusal:
        return SKIP_DOES_NOT_FIT.format(detail=refusal.detail)
    return None


# ---------------------------------------------------------------- answering


def rating_request_from_token(token: str) -> SatisfactionRequest:
    """The asked `SatisfactionRequest` a rating token names (with its
    conversation and business). Raises `RatingLinkInvalid` for a forged,
    mistyped or expired token, or one naming a request that is gone, was
    never asked, belongs to another conversation, or is of a contact whose
    data was erased (as a message from them starts a new conversation, a
    link sent before the erasure no longer adds to the erased one)."""
    try:
        data = signing.loads(
            token, salt=TOKEN_SALT, max_age=RATING_LINK_MAX_AGE.total_seconds()
        )
    except signing.BadSignature as error:  # (SignatureExpired included)
        raise RatingLinkInvalid(str(LINK_INVALID)) from error
    if not isinstance(data, dict):
        raise RatingLinkInvalid(str(LINK_INVALID))
    request = (
        SatisfactionRequest.objects.filter(
            pk=data.get("r"),
            conversation_id=data.get("c"),
            status=SatisfactionRequest.Status.ASKED,
            conversation__contact__erased_at__isnull=True,
        )
        .select_related("conversation__contact", "business")
        .first()
    )
    if request is None:
        raise RatingLinkInvalid(str(LINK_INVALID))
    return request


def rating_clean(score: Any, comment: Any) -> tuple[int, str]:
    """`(score, comment)` from what a form or frame gave: `score` an integer
    1 to 5 (a string of digits is read), `comment` text stripped, its line
    breaks as `\\n`. Raises
    `FieldInvalid` naming `score` or `comment`."""
    if isinstance(score, str) and score.strip().isdigit():
        score = int(score.strip())
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise FieldInvalid("score", str(SCORE_INVALID))
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise FieldInvalid("comment", gettext("The comment must be text."))
    # (Browsers send a form's line breaks as CRLF.)
    comment = comment.replace("\r\n", "\n").replace("\x00", "\ufffd").strip()
    if len(comment) > COMMENT_MAX_LENGTH:
        raise FieldInvalid(
            "comment", str(COMMENT_TOO_LONG) % {"limit": COMMENT_MAX_LENGTH}
        )
    return score, comment


def rating_submit(
    *, request: SatisfactionRequest, score: Any, comment: Any = ""
) -> SatisfactionRating:
    """Store the customer's rating of `request` (from
    `rating_request_from_token`): `score` 1 to 5 and an optional comment (see
    `rating_clean`). An activity entry in the thread tells the agents the
    score, live (the comment is on the customer panel), and the
    `conversation.rated` webhook event is recorded in the same transaction
    (docs/webhooks.md). Raises
    `FieldInvalid` (400, naming `score` or `comment`) and `AlreadyRated`
    (409) when the request has its rating: nothing is stored then."""
    from conversations.services.conversations import activity_entry

    score, comment = rating_clean(score, comment)
    conversation = request.conversation
    with transaction.atomic():
        try:
            with transaction.atomic():
                rating = SatisfactionRating.objects.create(
                    business_id=request.business_id,
                    conversation=conversation,
                    request=request,
                    score=score,
                    comment=comment,
                )
        except IntegrityError as error:
            raise AlreadyRated(str(ALREADY_RATED)) from error
        # The comment is the customer's words: the customer panel shows it,
        # and erasing the contact empties it (`ratings_erase`); the activity
        # entry, kept through an erasure, never holds it.
        entry = activity_entry(
            conversation,
            "csat_rated",
            {"score": score, "comment": bool(comment)},
            by=None,
        )
        entry.save()
        webhook_events.conversation_rated(rating)
        realtime.publish_message_created(entry)
    logger.info(
        "satisfaction.rated",
        extra={"conversation_id": conversation.pk, "score": score},
    )
    return rating


def visitor_rating_submit(
    *, channel: Any, visitor_id: str, token: str, score: Any, comment: Any = ""
) -> SatisfactionRating:
    """A widget visitor's rating (the widget consumer's `rating` frame):
    `rating_submit` for the request `token` names, when that request is of
    this visitor's conversation on widget channel `channel`. Raises
    `RatingLinkInvalid` (another visitor's or channel's request, a forged or
    expired token), `AlreadyRated` and `FieldInvalid` as `rating_submit`."""
    from channels_app.platforms.web_widget import visitor_thread_key

    request = rating_request_from_token(token or "")
    conversation = request.conversation
    if (
        conversation.channel_id != channel.id
        or conversation.thread_key != visitor_thread_key(visitor_id)
    ):
        raise RatingLinkInvalid(str(LINK_INVALID))
    return rating_submit(request=request, score=score, comment=comment)


def ratings_erase(conversation_ids: Sequence[int]) -> int:
    """Empty the comments of the ratings of `conversation_ids` (an erased
    contact's conversations, `contacts.services.rights.contact_erase`): the
    scores stay, as reports keep their counts. Returns how many ratings had a
    comment."""
    return (
        SatisfactionRating.objects.filter(conversation_id__in=list(conversation_ids))
        .exclude(comment="")
        .update(comment="")
    )

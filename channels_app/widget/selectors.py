"""Reads for the widget: its channel, what visitors see of it, their history."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext

from billing.plans import WEB_WIDGET_TYPES
from channels_app.models import Channel
from channels_app.platforms.web_widget import visitor_thread_key
from conversations.models import Conversation, Message
from conversations.services.attachments import attachment_link

DEFAULT_BRAND_COLOR = "#2553c7"
HISTORY_LENGTH = 50
CATCH_UP_LIMIT = 200
# Outbound messages a visitor sees: `sending` too, as the push happens before
# the delivery is recorded as sent.
VISIBLE_OUTBOUND = (
    Message.Status.SENDING,
    Message.Status.SENT,
    Message.Status.DELIVERED,
    Message.Status.READ,
)


def widget_channel_get(channel_id: object) -> Channel | None:
    """The active widget channel `channel_id` (business joined), or None for an
    unknown, inactive or non-widget channel or a malformed id."""
    try:
        return (
            Channel.objects.select_related("business")
            .filter(type__in=WEB_WIDGET_TYPES, is_active=True)
            .get(pk=channel_id)
        )
    except (Channel.DoesNotExist, ValidationError, ValueError):
        return None


def widget_public_settings(channel: Channel) -> dict[str, str]:
    """What the widget shows: `name` (the business), `welcome_message`,
    `brand_color` (`#rrggbb`) and `logo_url` (may be empty)."""
    return {
        "name": channel.business.name,
        "welcome_message": channel.config.get("welcome_message", ""),
        "brand_color": channel.config.get("brand_color") or DEFAULT_BRAND_COLOR,
        "logo_url": channel.config.get("logo_url", ""),
    }


def widget_strings() -> dict[str, str]:
    """The widget's own texts in the active language (the consumer activates
    the visitor's browser language, `pingback.i18n.language_from_headers`):
    key -> text, e.g. `{"send": "Send", "typing": "typing…", ...}`. The
    widget's script has the English ones built in and uses these instead."""
    return {
        "open_chat": gettext("Open chat"),
        "chat": gettext("Chat"),
        "close_chat": gettext("Close chat"),
        "your_message": gettext("Your message"),
        "placeholder": gettext("Write a message…"),
        "send": gettext("Send"),
        "typing": gettext("typing…"),
        "closed": gettext("This chat is closed."),
        "reconnecting": gettext(
            "Reconnecting… Messages you write are sent once the connection is back."
        ),
        "sending": gettext("Sending…"),
        "not_sent": gettext("Not sent: %(reason)s"),
        # The inline rating under a customer satisfaction question.
        "rate_conversation": gettext("Rate this conversation"),
        "score_label": gettext("%(score)s of 5: %(word)s"),
        "score_1": gettext("Bad"),
        "score_2": gettext("Poor"),
        "score_3": gettext("OK"),
        "score_4": gettext("Good"),
        "score_5": gettext("Great"),
        "rating_comment": gettext("Comment (optional)"),
        "send_rating": gettext("Send rating"),
        "rated": gettext("You rated us %(score)s of 5. Thank you!"),
        "not_connected": gettext("Not connected: try again in a moment."),
    }


def visitor_message_list(
    *, channel: Channel, visitor_id: str, after_id: int | None = None
) -> list[Message]:
    """The visitor's messages on this channel that they may see, oldest first:
    theirs, and the agents' replies once pushed (failed or queued replies are
    not shown). Without `after_id`, the last `HISTORY_LENGTH`; with it, up to
    `CATCH_UP_LIMIT` messages after that id (what a reconnecting widget
    missed)."""
    messages = Message.objects.filter(
        Q(direction=Message.Direction.INBOUND) | Q(status__in=VISIBLE_OUTBOUND),
        conversation__channel=channel,
        conversation__thread_key=visitor_thread_key(visitor_id),
    )
    if after_id is not None:
        return list(messages.filter(id__gt=after_id).order_by("id")[:CATCH_UP_LIMIT])
    return list(reversed(messages.order_by("-id")[:HISTORY_LENGTH]))


def message_payload(message: Message) -> dict[str, Any]:
    """A stored message as the widget shows it (the frame described in
    `channels_app.platforms.web_widget`); attachment links are signed. A
    customer satisfaction question also carries `rating` (`{token, score}`,
    `satisfaction.selectors.widget_rating`): the widget shows an inline
    rating under it."""
    inbound = message.direction == Message.Direction.INBOUND
    payload = {
        "id": message.pk,
        "client_id": message.platform_message_id if inbound else None,
        "direction": message.direction,
        "text": message.text,
        "sent_at": message.sent_at.isoformat(),
        "attachments": [
            {
                "kind": attachment.get("kind") or "file",
                "name": attachment.get("filename") or "file",
                "url": attachment_link(message.pk, index, absolute=True),
            }
            for index, attachment in enumerate(message.attachments)
            if attachment.get("stored")
        ],
    }
    if (message.details or {}).get("automatic") == "csat_request":
        from satisfaction.selectors import widget_rating

        rating = widget_rating(message.pk)
        if rating is not None:
            payload["rating"] = rating
    return payload


def visitor_conversation(channel: Channel, visitor_id: str) -> tuple[int, str] | None:
    """(conversation id, business id as text) of the visitor's conversation on
    the channel, or None before their first message is stored."""
    found = (
        Conversation.objects.filter(
            channel=channel, thread_key=visitor_thread_key(visitor_id)
        )
        .values_list("pk", "business_id")
        .first()
    )
    return (found[0], str(found[1])) if found else None

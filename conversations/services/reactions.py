"""Agents' reactions to messages: stored on the message, then sent to the
platform in the background (`conversations.tasks.send_reaction`).

On the platforms PingBack connects, the business has one reaction per
message, whoever of its agents set it: what is sent is the newest agent
reaction still on the message, or a removal when none is left. Each agent
keeps theirs in `Message.reactions` (`{by: agent, author_id, emoji, at}`).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from channels_app.platforms import get_platform
from channels_app.platforms.base import PermanentDeliveryError
from conversations import realtime
from conversations.models import Message
from conversations.services.platform_events import reactions_with
from pingback.errors import ApplicationError, ChannelInactive

logger = logging.getLogger(__name__)


class ReactionRefused(ApplicationError):
    """The message cannot take a reaction from an agent (HTTP 400): a note,
    an activity entry, a reply not sent yet, or a channel whose platform
    does not take reactions. `code` names which."""


def message_react(*, message: Message, agent, emoji: str) -> Message:
    """Set `agent`'s reaction to `message` to `emoji` (an empty `emoji`
    removes it) and, when it changed, send the business's reaction to the
    platform after commit (`send_reaction` task, by message id). Returns the
    message with its reactions.

    Raises `ReactionRefused` (400) for a note or activity entry, a message
    without a platform id yet, or a channel whose platform does not support
    reactions (`Platform.supports_reactions`); `ChannelInactive` (409) when
    the channel is deleted or deactivated.
    """
    if message.kind in Message.PRIVATE_KINDS:
        raise ReactionRefused(
            "Notes and activity entries are not sent, so they take no reaction.",
            code="not_reactable",
        )
    channel = message.channel
    if channel is None or not channel.is_active:
        raise ChannelInactive(
            "This message's channel is deleted or deactivated; it cannot send "
            "reactions."
        )
    if not get_platform(channel.type).supports_reactions:
        raise ReactionRefused(
            f"{channel.get_type_display()} does not support reactions.",
            code="reactions_unsupported",
        )
    if not message.platform_message_id:
        raise ReactionRefused(
            "This reply has not reached the platform yet: react once it is sent.",
            code="not_reactable",
        )
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        current = _agent_emoji(locked.reactions, agent.pk)
        if current == emoji:
            return locked
        locked.reactions = reactions_with(
            locked.reactions,
            by="agent",
            emoji=emoji,
            at=timezone.now(),
            author_id=agent.pk,
        )
        locked.save(update_fields=["reactions", "updated_at"])
        realtime.publish_message_edited(channel.pk, locked.platform_message_id)
        transaction.on_commit(lambda: _schedule_send(locked.pk))
    return locked


def _agent_emoji(reactions: list[dict], author_id: int) -> str:
    for item in reactions or []:
        if item.get("by") == "agent" and item.get("author_id") == author_id:
            return str(item.get("emoji") or "")
    return ""


def business_reaction(reactions: list[dict]) -> str:
    """The business's reaction as the platform should show it: the newest
    agent reaction of `reactions`, or "" when no agent reacted."""
    if not any(
        item.get("by") == "agent" and item.get("emoji") for item in reactions or []
    ):
        return ""
    return str(_newest_agent_reaction(reactions)["emoji"])


def _schedule_send(message_id: int) -> None:
    from conversations.tasks import send_reaction

    send_reaction.delay(message_id)


def reaction_deliver(*, message_id: int) -> str:
    """Send the business's current reaction to message `message_id` (see
    `business_reaction`; a removal when none is left) to its platform.
    Idempotent: it sends the state at the time it runs, so a repeat, or two
    runs out of order, end with the platform showing the newest reaction.

    Returns `sent`, or `skipped` (message, channel or recipient gone, channel
    deactivated, customer opted out) or `failed` (the platform refused for
    good: logged, the reaction stays in PingBack and shows the refusal, see
    `reaction_outcome_record`). Raises `TransientDeliveryError` for the task
    to retry.
    """
    message = (
        Message.objects.select_related("channel", "conversation__contact_identity")
        .filter(pk=message_id)
        .first()
    )
    if message is None or message.channel is None or not message.channel.is_active:
        return "skipped"
    identity = message.conversation.contact_identity
    if identity is None or identity.opted_out_at is not None:
        return "skipped"
    platform = get_platform(message.channel.type)
    if not platform.supports_reactions or not message.platform_message_id:
        return "skipped"
    emoji = business_reaction(message.reactions)
    try:
        platform.send_reaction(
            message.channel,
            message.platform_message_id,
            identity.external_id,
            emoji,
        )
    except PermanentDeliveryError as error:
        logger.warning(
            "reaction.failed",
            extra={"message_id": message_id, "reason": error.reason},
        )
        reaction_outcome_record(message_id=message_id, emoji=emoji, error=error.reason)
        return "failed"
    reaction_outcome_record(message_id=message_id, emoji=emoji)
    return "sent"


def reaction_outcome_record(*, message_id: int, emoji: str, error: str = "") -> None:
    """Record on message `message_id` whether the platform took the business's
    reaction `emoji`, as a reply's delivery status is: the agent reaction
    that was sent (the newest agent reaction, when it is still `emoji`) gets
    `status` `sent`, or `failed` with `error`, the platform's reason (shown
    in the thread and in the API's `reactions`). A failure is published to
    the open pages. Nothing is recorded for a removal (`emoji` empty: no
    reaction is left to carry it; the refusal is logged) or when an agent
    reacted again meanwhile (that newer reaction is sent by its own task)."""
    if not emoji:
        return
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if message is None or business_reaction(message.reactions) != emoji:
            return
        sent = _newest_agent_reaction(message.reactions)
        status = "failed" if error else "sent"
        if (sent.get("status"), sent.get("error", "")) == (status, error):
            return
        sent["status"] = status
        if error:
            sent["error"] = error
        else:
            sent.pop("error", None)
        message.save(update_fields=["reactions", "updated_at"])
        if error and message.channel_id:
            realtime.publish_message_edited(
                message.channel_id, message.platform_message_id
            )


def reaction_give_up(*, message_id: int, error: str) -> None:
    """The platform kept failing (retries used up): record `error` on the
    business's current reaction to message `message_id`, as a refusal."""
    message = Message.objects.filter(pk=message_id).only("reactions").first()
    if message is not None:
        emoji = business_reaction(message.reactions)
        reaction_outcome_record(message_id=message_id, emoji=emoji, error=error)


def _newest_agent_reaction(reactions: list[dict]) -> dict:
    """The item of `reactions` `business_reaction` reads its emoji from."""
    agents = [
        item
        for item in reactions or []
        if item.get("by") == "agent" and item.get("emoji")
    ]
    return max(agents, key=lambda item: str(item.get("at") or ""))

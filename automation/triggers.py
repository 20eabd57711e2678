"""Where automation rules hear of what happened: small calls the
conversation services make inside their transaction (`messages_created`
from `ingest`, `status_changed` from `conversation_update`).

They run no query: each registers, on commit, one cheap check ("does this
business have an active rule for this trigger?", from the cache, one query on
a miss: `active_triggers`) and sends the `automation.run_rules` task only when
the answer is yes. So an ingest batch of a business without rules costs the
same queries as before, and a rolled-back change runs no rule.

Changes that rules make themselves (`rules_running`) trigger no rule: a rule
that resolves a conversation does not start the "status changed" rules, so
rules cannot loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.cache import cache
from django.db import transaction

from automation.models import Rule, Trigger

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300
_running: ContextVar[bool] = ContextVar("automation_rules_running", default=False)


@contextmanager
def rules_running():
    """While inside, changes trigger no rule (the rules' own actions)."""
    token = _running.set(True)
    try:
        yield
    finally:
        _running.reset(token)


def _cache_key(business_id: object) -> str:
    return f"automation:triggers:{business_id}"


def active_triggers(business_id: object) -> frozenset[str]:
    """The triggers of `business_id`'s active rules: from the cache, else one
    query (then cached for `CACHE_SECONDS`; `triggers_forget` clears it on
    every rule change). A cache error falls back to the query."""
    key = _cache_key(business_id)
    try:
        cached = cache.get(key)
    except Exception:
        logger.warning("automation.cache_unavailable", exc_info=True)
        cached = None
    if cached is not None:
        return frozenset(cached)
    found = frozenset(
        Rule.objects.filter(business_id=business_id, is_active=True)
        .values_list("trigger", flat=True)
        .distinct()
    )
    try:
        cache.set(key, sorted(found), CACHE_SECONDS)
    except Exception:
        logger.warning("automation.cache_unavailable", exc_info=True)
    return found


def triggers_forget(business_id: object) -> None:
    """Drop the cached triggers of `business_id` (its rules changed), on
    commit of the current transaction."""

    def forget() -> None:
        try:
            cache.delete(_cache_key(business_id))
        except Exception:
            logger.warning("automation.cache_unavailable", exc_info=True)

    transaction.on_commit(forget)


def event(
    trigger: str,
    conversation_id: int,
    key: str,
    message_id: int | None = None,
    status: str = "",
) -> dict[str, Any]:
    """One triggering event as the task takes it (JSON-able); `status`: the
    status a conversation moved to (status_changed)."""
    return {
        "trigger": trigger,
        "conversation_id": conversation_id,
        "message_id": message_id,
        "key": key,
        "status": status,
    }


def events_queue(business_id: object, events: Sequence[Mapping[str, Any]]) -> None:
    """On commit: send `events` of `business_id` whose trigger some active
    rule of the business has to the `automation.run_rules` task. No query
    here; a broker error is logged, not raised (the change is committed)."""
    if not events or _running.get():
        return
    events = list(events)
    transaction.on_commit(lambda: _publish(business_id, events), robust=True)


def _publish(business_id: object, events: list[Mapping[str, Any]]) -> None:
    from automation.tasks import run_rules

    triggers = active_triggers(business_id)
    wanted = [e for e in events if e["trigger"] in triggers]
    if wanted:
        run_rules.delay(wanted)


def messages_created(business_id: object, messages: Iterable[Any]) -> None:
    """An ingest stored the customer's `messages` (of business
    `business_id`): `message_created` for each, `conversation_created` for
    the conversations the ingest opened (their `_ingest_opened` mark) and
    `status_changed` for those it reopened (`_webhook_reopened`, set by
    `webhooks.services.events.conversations_mark_reopened`), with the first
    of their messages. No query."""
    events = []
    opened: set[int] = set()
    for message in messages:
        if message.direction != "inbound" or message.kind in ("note", "activity"):
            continue
        conversation = message.conversation
        reopened = getattr(conversation, "_webhook_reopened", None)
        if reopened is not None and conversation.pk not in opened:
            # Reopened by this message ("Reopened by the customer").
            opened.add(conversation.pk)
            events.append(
                event(
                    Trigger.STATUS_CHANGED,
                    conversation.pk,
                    f"conversation.status_changed:{conversation.pk}"
                    f":activity:{reopened[1]}",
                    message.pk,
                    status="open",
                )
            )
        if (
            getattr(conversation, "_ingest_opened", False)
            and conversation.pk not in opened
        ):
            opened.add(conversation.pk)
            events.append(
                event(
                    Trigger.CONVERSATION_CREATED,
                    conversation.pk,
                    f"conversation.created:{conversation.pk}",
                    message.pk,
                )
            )
        events.append(
            event(
                Trigger.MESSAGE_CREATED,
                conversation.pk,
                f"message.created:{message.pk}",
                message.pk,
            )
        )
    events_queue(business_id, events)


def status_changed(
    conversations: Sequence[Any],
    before: Mapping[int, tuple],
    activities: Sequence[Any] = (),
) -> None:
    """Conversations whose status moved under `conversation_update`
    (`before`: id -> (status, ...) as `webhooks.services.events.
    conversation_state` gives it; the objects hold the new status). Keyed by
    the activity entry the change wrote, so each change is one event. No
    query."""
    activity_of: dict[int, int] = {}
    for activity in activities:
        activity_of.setdefault(activity.conversation_id, activity.pk)
    events = []
    for conversation in conversations:
        old = before.get(conversation.pk)
        if old is None or old[0] == conversation.status:
            continue
        marker = activity_of.get(conversation.pk)
        if marker is None:
            continue
        events.append(
            event(
                Trigger.STATUS_CHANGED,
                conversation.pk,
                f"conversation.status_changed:{conversation.pk}:activity:{marker}",
                status=conversation.status,
            )
        )
    if events:
        events_queue(conversations[0].business_id, events)


def conversations_reopened(conversations: Sequence[Any], activities: Sequence[Any]):
    """Conversations (of any businesses) whose snooze ended: a status change
    to open each, keyed by the activity entry written. No query."""
    activity_of = {a.conversation_id: a.pk for a in activities}
    by_business: dict[object, list] = {}
    for conversation in conversations:
        marker = activity_of.get(conversation.pk)
        if marker is None:
            continue
        by_business.setdefault(conversation.business_id, []).append(
            event(
                Trigger.STATUS_CHANGED,
                conversation.pk,
                f"conversation.status_changed:{conversation.pk}:activity:{marker}",
                status="open",
            )
        )
    for business_id, events in by_business.items():
        events_queue(business_id, events)

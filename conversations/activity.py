"""Activity entries and agent notifications in the reader's language
(docs/translations.md).

What happened is stored as data, and the sentence is written when it is
shown, in the language of the agent who reads it.

**Activity entries** (`Message.kind == "activity"`) keep in `details`:

    {"activity": <kind>, "params": {<name>: <value>, ...}}

and in `text` the same sentence in English (`settings.LANGUAGE_CODE`), for
the API, exports and anything else that reads the row. `activity_text(message)`
writes the sentence in the active language; an entry without a known kind (a
row stored before kinds existed, or free text) is shown as stored. The kinds
and their parameters (all strings unless said; `actor` is who did it, by
name, `PingBack` for PingBack itself):

- `reopened`, `pending`, `resolved` {actor}: "Ana resolved this conversation";
- `snoozed` {actor, until (ISO 8601), zone (time zone name)} and
  `snoozed_until_reply` {actor};
- `assigned` {actor, agent}, `assigned_self` {actor}, `unassigned`
  {actor, agent}, `auto_assigned` {agent};
- `team_assigned`, `team_removed` {actor, team};
- `label_added`, `label_removed` {actor, label};
- `snooze_ended`, `customer_reopened` {};
- `contact_erased` {actor}, `contacts_merged` {actor, other, kept};
- `csat_asked` {}, `csat_skipped` {reason (as stored in
  `SatisfactionRequest.skip_reason`)}, `csat_rated` {score (int), comment
  (bool)};
- `rule_ran` {rule (its name), steps: [{"step": <step kind>, ...}]}: one
  step per action (`RULE_STEPS`), e.g. {"step": "team_routed", "team":
  "Billing"}; a step that failed is {"step": "failed", "action": <action>,
  "reason": str} (the reason is shown translated when the catalogue has it).

**Notifications** (`{"type": "notification", "kind": ...}` events of
`conversations.realtime`) carry `params` and an English `title`;
`notification_title(kind, params)` writes the title in the active language
(the inbox websocket does, per page, in its agent's language):

- `mention` {actor}: "Ana mentioned you";
- `reply` {contact (the contact's name; empty when unknown)};
- `new_conversation` {contact}.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from django.conf import settings
from django.utils import dateformat, timezone, translation
from django.utils.translation import gettext, ngettext, pgettext

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "PingBack"

Params = Mapping[str, Any]


# ------------------------------------------------------------------ snooze time


def snooze_label(until: datetime | None, zone: tzinfo | None = None) -> str:
    """`Tue 9 Dec 09:00 EST` (in `zone`, the business's time zone; in
    `settings.TIME_ZONE` when None; in the active language: `mar 9 dic
    09:00 EST`), or `the customer answers` for an
    open-ended snooze."""
    if until is None:
        return gettext("the customer answers")
    local = until.astimezone(zone) if zone is not None else timezone.localtime(until)
    # Translators: Django date format letters (D weekday, j day, M month,
    # b month in lower case, H:i time, T time zone), e.g. "D j b H:i T".
    return dateformat.format(local, pgettext("snooze time format", "D j M H:i T"))


def _snooze_time(params: Params) -> str:
    from conversations.services.snooze import zone_named

    until = datetime.fromisoformat(params["until"])
    return snooze_label(until, zone_named(params.get("zone")))


def zone_name(zone: tzinfo | None) -> str:
    """A time zone's name for `params` (`Europe/Madrid`; `UTC`)."""
    if zone is None:
        return settings.TIME_ZONE
    return getattr(zone, "key", None) or zone.tzname(None) or "UTC"


# ------------------------------------------------------------- activity entries

# Every msgid is written out in a gettext call, so makemessages finds it.
ACTIVITY: dict[str, Callable[[Params], str]] = {
    "reopened": lambda p: gettext("%(actor)s reopened this conversation") % p,
    "pending": lambda p: gettext("%(actor)s marked this conversation as pending") % p,
    "resolved": lambda p: gettext("%(actor)s resolved this conversation") % p,
    "snoozed": lambda p: (
        gettext("Snoozed until %(time)s by %(actor)s")
        % {"time": _snooze_time(p), "actor": p["actor"]}
    ),
    "snoozed_until_reply": lambda p: (
        gettext("Snoozed until the customer answers by %(actor)s") % p
    ),
    "assigned": lambda p: (
        gettext("%(actor)s assigned this conversation to %(agent)s") % p
    ),
    "assigned_self": lambda p: (
        gettext("%(actor)s assigned this conversation to themselves") % p
    ),
    "unassigned": lambda p: gettext("%(actor)s unassigned %(agent)s") % p,
    "auto_assigned": lambda p: (
        gettext("PingBack assigned this conversation to %(agent)s (auto-assignment)")
        % p
    ),
    "team_assigned": lambda p: (
        gettext("%(actor)s assigned this conversation to team %(team)s") % p
    ),
    "team_removed": lambda p: (
        gettext("%(actor)s removed this conversation from team %(team)s") % p
    ),
    "label_added": lambda p: gettext("%(actor)s added label %(label)s") % p,
    "label_removed": lambda p: gettext("%(actor)s removed label %(label)s") % p,
    "snooze_ended": lambda p: gettext("Reopened: the snooze ended"),
    "customer_reopened": lambda p: gettext("Reopened by the customer"),
    "contact_erased": lambda p: gettext("%(actor)s erased this contact's data.") % p,
    "contacts_merged": lambda p: (
        gettext("%(actor)s merged %(other)s into %(kept)s") % p
    ),
    "csat_asked": lambda p: gettext(
        "PingBack asked the customer to rate this conversation"
    ),
    "csat_skipped": lambda p: (
        gettext("PingBack did not ask the customer for a rating: %(reason)s")
        % {"reason": _skip_reason(p["reason"])}
    ),
    "csat_rated": lambda p: (
        (
            gettext(
                "The customer rated this conversation %(score)s/5 and left a "
                "comment (in the customer panel)"
            )
            if p.get("comment")
            else gettext("The customer rated this conversation %(score)s/5")
        )
        % {"score": int(p["score"])}
    ),
    "rule_ran": lambda p: (
        gettext("Automation rule “%(rule)s” ran: %(steps)s")
        % {"rule": p["rule"], "steps": "; ".join(_step_text(s) for s in p["steps"])}
    ),
}


def _skip_reason(reason: str) -> str:
    from satisfaction.templatetags.satisfaction import skip_reason

    return skip_reason(reason)


def _priority(value: str) -> str:
    from conversations.models import Conversation

    try:
        label = Conversation.Priority(value).label
    except ValueError:
        return value
    return str(label).lower()


# What an automation rule's action did (`rule_ran`'s steps).
RULE_STEPS: dict[str, Callable[[Params], str]] = {
    "team_already": lambda p: gettext("already in team %(team)s") % p,
    "team_routed": lambda p: gettext("routed to team %(team)s") % p,
    "agent_already": lambda p: gettext("already assigned to %(agent)s") % p,
    "agent_assigned": lambda p: gettext("assigned to %(agent)s") % p,
    "label_already": lambda p: gettext("label %(label)s already on") % p,
    "label_added": lambda p: gettext("added label %(label)s") % p,
    "priority_already": lambda p: (
        gettext("priority already %(priority)s")
        % {"priority": _priority(p["priority"])}
    ),
    "priority_set": lambda p: (
        gettext("set priority %(priority)s") % {"priority": _priority(p["priority"])}
    ),
    "canned_sent": lambda p: gettext("sent canned response /%(code)s") % p,
    "snoozed_minutes": lambda p: (
        ngettext(
            "snoozed for %(minutes)s minute",
            "snoozed for %(minutes)s minutes",
            int(p["minutes"]),
        )
        % {"minutes": int(p["minutes"])}
    ),
    "snoozed_until_reply": lambda p: gettext("snoozed until the customer writes"),
    "resolved_already": lambda p: gettext("already resolved"),
    "resolved": lambda p: pgettext("automation step", "resolved"),
    "webhook_sent": lambda p: gettext("sent to webhook %(url)s") % p,
    "failed": lambda p: (
        _step_failed(p["action"])
        % {"reason": gettext(p["reason"]) if p["reason"] else ""}
    ),
}


def _step_failed(action: str) -> str:
    return {
        "team": gettext("could not route to the team (%(reason)s)"),
        "agent": gettext("could not assign the agent (%(reason)s)"),
        "label": gettext("could not add the label (%(reason)s)"),
        "priority": gettext("could not set the priority (%(reason)s)"),
        "canned": gettext("could not send the canned response (%(reason)s)"),
        "snooze": gettext("could not snooze (%(reason)s)"),
        "resolve": gettext("could not resolve (%(reason)s)"),
        "webhook": gettext("could not send to the webhook (%(reason)s)"),
    }[action]


def _step_text(step: Params) -> str:
    return RULE_STEPS[step["step"]](step)


def activity_details(kind: str, params: Params | None = None) -> dict[str, Any]:
    """The `details` of an activity entry of `kind` with `params` (JSON
    values). Raises `KeyError` for an unknown kind."""
    if kind not in ACTIVITY:
        raise KeyError(kind)
    return {"activity": kind, "params": dict(params or {})}


def activity_render(kind: str, params: Params) -> str:
    """The sentence of an activity entry of `kind`, in the active language.
    Raises `KeyError`, `TypeError` or `ValueError` for an unknown kind or
    missing parameters."""
    return ACTIVITY[kind](params)


def activity_english(kind: str, params: Params) -> str:
    """The sentence in English (`settings.LANGUAGE_CODE`): the `text` stored
    with the entry."""
    with translation.override(settings.LANGUAGE_CODE):
        return activity_render(kind, params)


def activity_text(message: Any) -> str:
    """What an activity entry (`Message`) says, in the active language; its
    stored `text` when it has no known kind or its parameters do not fit
    (an older row, free text)."""
    details = message.details if isinstance(message.details, dict) else {}
    kind = details.get("activity")
    params = details.get("params")
    if kind in ACTIVITY and isinstance(params, dict):
        try:
            return activity_render(kind, params)
        except (KeyError, TypeError, ValueError):
            logger.warning(
                "activity.render_failed",
                extra={"message_id": getattr(message, "pk", None), "kind": kind},
            )
    return message.text


# ---------------------------------------------------------------- notifications

NOTIFICATION: dict[str, Callable[[Params], str]] = {
    "mention": lambda p: gettext("%(actor)s mentioned you") % p,
    "reply": lambda p: (
        gettext("%(contact)s replied") % p
        if p.get("contact")
        else gettext("A customer replied")
    ),
    "new_conversation": lambda p: (
        gettext("New conversation from %(contact)s") % p
        if p.get("contact")
        else gettext("New conversation from a customer")
    ),
}


def notification_title(kind: str, params: Params) -> str:
    """A notification's title in the active language. Raises `KeyError` for
    an unknown kind or a missing parameter."""
    return NOTIFICATION[kind](params)


def notification_title_english(kind: str, params: Params) -> str:
    """The title in English (the event's `title` as published)."""
    with translation.override(settings.LANGUAGE_CODE):
        return notification_title(kind, params)


def notification_localized(event: dict[str, Any]) -> dict[str, Any]:
    """`event` with its `title` written in the active language, when it is a
    notification with `params`; else `event` unchanged."""
    if event.get("type") != "notification" or not isinstance(event.get("params"), dict):
        return event
    try:
        title = notification_title(event.get("kind", ""), event["params"])
    except (KeyError, TypeError, ValueError):
        return event
    return {**event, "title": title}

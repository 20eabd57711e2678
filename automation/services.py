"""Automation rules: storing them (validated, scoped to the business) and
running them.

Running: `events_run` (the `automation.run_rules` task) takes triggering
events (see `automation.triggers`) and, for each, evaluates the business's
active rules of that trigger in `position` order; `unanswered_scan` (beat)
finds the conversations a "stays unanswered" rule is due on. A rule whose
conditions hold is applied once per event (`RuleRun`, unique on rule and
event key): its actions, one activity entry in the thread naming the rule
and what it did, all in one transaction. Each rule sees the conversation as
the rules before it left it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from automation import triggers
from automation.models import Rule, RuleRun, Trigger
from billing.models import Business, Member
from channels_app.models import Channel
from conversations import realtime
from conversations.models import Conversation, ConversationLabel, Message
from pingback.errors import ApplicationError
from webhooks.models import WebhookEndpoint
from workspace.models import CannedResponse, Label, Team

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = 100
MAX_WORDS = 20
WORD_MAX_LENGTH = 100
MAX_UNANSWERED_MINUTES = 7 * 24 * 60
MAX_SNOOZE_MINUTES = 90 * 24 * 60
# Conversations one "unanswered" rule acts on per scan (the rest next scan).
UNANSWERED_BATCH = 200
AUTOMATIC = "automation_rule"
WEBHOOK_EVENT_TYPE = "automation.rule_matched"

CONDITION_KEYS = (
    "channel_types",
    "channel_ids",
    "text_contains",
    "contact_attribute",
    "label_id",
    "label_absent",
    "business_hours",
    "languages",
)
ACTION_KEYS = (
    "assign_team_id",
    "assign_agent_id",
    "add_label_id",
    "priority",
    "canned_response_id",
    "snooze_minutes",
    "resolve",
    "webhook_endpoint_id",
)


# ------------------------------------------------------------------ validation


def _int(value: Any) -> int | None:
    """A whole number from 0 to 2**63 - 1 (an int or its digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 <= value < 2**63:
        return value
    return None


def _words(value: Any, field: str, errors: dict, *, lower: bool = False) -> list:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors[field] = [_("A list of strings.")]
        return []
    words = [v.strip() for v in value if v.strip()]
    if lower:
        words = [w.lower() for w in words]
    if not words:
        errors[field] = [_("Give at least one, or leave the condition out.")]
    elif len(words) > MAX_WORDS:
        errors[field] = [_("At most %(count)s.") % {"count": MAX_WORDS}]
    elif any(len(w) > WORD_MAX_LENGTH for w in words):
        errors[field] = [
            _("Each at most %(count)s characters.") % {"count": WORD_MAX_LENGTH}
        ]
    return list(dict.fromkeys(words))


def _owned(model, business: Business, value: Any, field: str, errors: dict, what):
    """The id `value` if it names a row of `model` of the business (else
    None, and `what`, the refusal, in `errors[field]`)."""
    pk = _int(value)
    if pk is None:
        errors[field] = [_("A whole number (an id).")]
        return None
    if not model.objects.filter(business=business, pk=pk).exists():
        errors[field] = [what]
        return None
    return pk


def _clean_conditions(business: Business, raw: Any, errors: dict) -> dict:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping):
        errors["conditions"] = [_("An object of conditions (see the docs).")]
        return {}
    unknown = sorted(set(raw) - set(CONDITION_KEYS))
    if unknown:
        errors["conditions"] = [
            _("Unknown condition: %(keys)s.") % {"keys": ", ".join(unknown)}
        ]
    out: dict[str, Any] = {}
    if "channel_types" in raw:
        types = _words(raw["channel_types"], "conditions.channel_types", errors)
        bad = [t for t in types if t not in Channel.Type.values]
        if bad:
            errors["conditions.channel_types"] = [
                _("No such channel type: %(types)s.") % {"types": ", ".join(bad)}
            ]
        out["channel_types"] = types
    if "channel_ids" in raw:
        ids = _words(raw["channel_ids"], "conditions.channel_ids", errors)
        found = set()
        try:
            found = {
                str(pk)
                for pk in Channel.objects.filter(
                    business=business, pk__in=ids
                ).values_list("pk", flat=True)
            }
        except (ValidationError, ValueError):
            pass
        if ids and len(found) != len(ids):
            errors["conditions.channel_ids"] = [
                _("Each id must name a channel of this business.")
            ]
        out["channel_ids"] = sorted(found)
    if "text_contains" in raw:
        out["text_contains"] = _words(
            raw["text_contains"], "conditions.text_contains", errors
        )
    if "contact_attribute" in raw:
        attribute = raw["contact_attribute"]
        key = attribute.get("key") if isinstance(attribute, Mapping) else None
        value = attribute.get("value", "") if isinstance(attribute, Mapping) else ""
        if not isinstance(key, str) or not key.strip() or len(key) > 100:
            errors["conditions.contact_attribute"] = [
                _(
                    'An object {"key": "plan", "value": "gold"}: a key of 1 to '
                    "100 characters."
                )
            ]
        elif not isinstance(value, str | int | float | bool) or len(str(value)) > 200:
            errors["conditions.contact_attribute"] = [
                _("The value is text of at most 200 characters.")
            ]
        else:
            out["contact_attribute"] = {"key": key.strip(), "value": str(value)}
    if "label_id" in raw and raw["label_id"] not in (None, ""):
        out["label_id"] = _owned(
            Label,
            business,
            raw["label_id"],
            "conditions.label_id",
            errors,
            _("No such label in this business."),
        )
        out["label_absent"] = bool(raw.get("label_absent", False))
    if "business_hours" in raw and raw["business_hours"] not in (None, ""):
        if raw["business_hours"] not in ("open", "closed"):
            errors["conditions.business_hours"] = [_('"open" or "closed".')]
        out["business_hours"] = raw["business_hours"]
    if "languages" in raw:
        out["languages"] = _words(
            raw["languages"], "conditions.languages", errors, lower=True
        )
    return out


def _clean_actions(business: Business, raw: Any, errors: dict) -> dict:
    if not isinstance(raw, Mapping):
        errors["actions"] = [_("An object of actions (see the docs).")]
        return {}
    unknown = sorted(set(raw) - set(ACTION_KEYS))
    if unknown:
        errors["actions"] = [
            _("Unknown action: %(keys)s.") % {"keys": ", ".join(unknown)}
        ]
    given = {k: v for k, v in raw.items() if v not in (None, "", False)}
    out: dict[str, Any] = {}
    owned = {
        "assign_team_id": (Team, _("No such team in this business.")),
        "add_label_id": (Label, _("No such label in this business.")),
        "canned_response_id": (
            CannedResponse,
            _("No such canned response in this business."),
        ),
        "webhook_endpoint_id": (
            WebhookEndpoint,
            _("No such webhook endpoint in this business."),
        ),
    }
    for key, (model, what) in owned.items():
        if key in given:
            out[key] = _owned(
                model, business, given[key], f"actions.{key}", errors, what
            )
    if "assign_agent_id" in given:
        pk = _int(given["assign_agent_id"])
        member = (
            Member.objects.filter(business=business, user_id=pk)
            .select_related("user")
            .first()
            if pk is not None
            else None
        )
        if member is None:
            errors["actions.assign_agent_id"] = [_("No such agent in this business.")]
        elif not member.user.is_active:
            errors["actions.assign_agent_id"] = [
                _("This agent is deactivated: reactivate them to assign them.")
            ]
        out["assign_agent_id"] = pk
    if "priority" in given:
        if given["priority"] not in Conversation.Priority.values:
            errors["actions.priority"] = [
                _("One of %(values)s.")
                % {"values": ", ".join(Conversation.Priority.values)}
            ]
        out["priority"] = given["priority"]
    if "snooze_minutes" in raw and raw["snooze_minutes"] not in (None, ""):
        minutes = _int(raw["snooze_minutes"])
        if minutes is None or not 0 <= minutes <= MAX_SNOOZE_MINUTES:
            errors["actions.snooze_minutes"] = [
                _("Minutes from 0 (until the customer writes) to %(max)s.")
                % {"max": MAX_SNOOZE_MINUTES}
            ]
        out["snooze_minutes"] = minutes
    if "resolve" in given:
        if given["resolve"] is not True:
            errors["actions.resolve"] = [_("true, or leave it out.")]
        out["resolve"] = True
    if "snooze_minutes" in out and out.get("resolve"):
        errors["actions.resolve"] = [_("Snooze or resolve, not both.")]
    if not out and "actions" not in errors:
        errors["actions"] = [_("Give at least one action.")]
    return out


def rule_clean(
    business: Business, data: Mapping[str, Any], *, rule: Rule | None = None
) -> dict:
    """Check a rule's fields (all of them for a new rule; those given when
    `rule` is being changed) and return them cleaned. Every id must name a
    row of `business` (agent: a user who is an active member).

    Raises `ValidationError` whose `message_dict` names each refused field,
    dotted for the parts of conditions and actions
    (`actions.assign_team_id`)."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if rule is None or "name" in data:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            errors["name"] = [_("Give the rule a name.")]
        elif len(name.strip()) > NAME_MAX_LENGTH:
            errors["name"] = [
                _("At most %(count)s characters.") % {"count": NAME_MAX_LENGTH}
            ]
        else:
            out["name"] = name.strip()
    trigger = data.get("trigger", rule.trigger if rule else None)
    if rule is None or "trigger" in data:
        if trigger not in Trigger.values:
            errors["trigger"] = [
                _("One of %(values)s.") % {"values": ", ".join(Trigger.values)}
            ]
        else:
            out["trigger"] = trigger
    if "trigger_status" in data or "trigger" in data or rule is None:
        status = data.get("trigger_status", rule.trigger_status if rule else "") or ""
        if trigger != Trigger.STATUS_CHANGED:
            status = ""
        elif status and status not in Conversation.Status.values:
            errors["trigger_status"] = [
                _("One of %(values)s, or empty for any.")
                % {"values": ", ".join(Conversation.Status.values)}
            ]
        out["trigger_status"] = status
    if "unanswered_minutes" in data or "trigger" in data or rule is None:
        minutes = data.get(
            "unanswered_minutes", rule.unanswered_minutes if rule else None
        )
        if trigger == Trigger.UNANSWERED:
            minutes = _int(minutes)
            if minutes is None or not 1 <= minutes <= MAX_UNANSWERED_MINUTES:
                errors["unanswered_minutes"] = [
                    _("Minutes from 1 to %(max)s.") % {"max": MAX_UNANSWERED_MINUTES}
                ]
        else:
            minutes = None
        out["unanswered_minutes"] = minutes
    if rule is None or "conditions" in data:
        out["conditions"] = _clean_conditions(business, data.get("conditions"), errors)
    if rule is None or "actions" in data:
        out["actions"] = _clean_actions(business, data.get("actions"), errors)
    if "is_active" in data:
        if not isinstance(data["is_active"], bool):
            errors["is_active"] = [_("true or false.")]
        out["is_active"] = data["is_active"]
    if errors:
        raise ValidationError(errors)
    return out


# ------------------------------------------------------------------ writes


def rule_create(*, business: Business, data: Mapping[str, Any]) -> Rule:
    """Create a rule of `business` from `data` (`rule_clean`'s fields), last
    in the order. Raises `ValidationError` (field named); nothing stored
    then."""
    values = rule_clean(business, data)
    with transaction.atomic():
        last = (
            Rule.objects.select_for_update()
            .filter(business=business)
            .order_by("-position")
            .values_list("position", flat=True)
            .first()
        )
        rule = Rule.objects.create(
            business=business,
            position=0 if last is None else last + 1,
            **values,
        )
        triggers.triggers_forget(business.pk)
    logger.info("automation.rule_created", extra={"rule_id": rule.pk})
    return rule


def rule_update(*, rule: Rule, data: Mapping[str, Any]) -> Rule:
    """Change the fields of `rule` given in `data`; `position` (0 first)
    moves it (`rule_move`). Raises `ValidationError` (field named); nothing
    changes then."""
    values = rule_clean(rule.business, data, rule=rule)
    position = data.get("position")
    if position is not None and _int(position) is None:
        raise ValidationError({"position": [_("A whole number, 0 for the first.")]})
    with transaction.atomic():
        for name, value in values.items():
            setattr(rule, name, value)
        rule.save()
        if position is not None:
            rule_move(rule=rule, position=_int(position))
        triggers.triggers_forget(rule.business_id)
    return rule


def rule_move(*, rule: Rule, position: int) -> None:
    """Put `rule` at `position` (0 first; past the end: last) among its
    business's rules and number them all 0, 1, 2... again."""
    with transaction.atomic():
        rules = list(
            Rule.objects.select_for_update()
            .filter(business_id=rule.business_id)
            .order_by("position", "pk")
        )
        others = [r for r in rules if r.pk != rule.pk]
        position = max(0, min(position, len(others)))
        others.insert(position, rule)
        changed = []
        for index, row in enumerate(others):
            if row.position != index:
                row.position = index
                changed.append(row)
        Rule.objects.bulk_update(changed, ["position"])
        rule.position = position


def rule_delete(*, rule: Rule) -> None:
    """Delete `rule` (and the record of its runs)."""
    business_id = rule.business_id
    with transaction.atomic():
        rule.delete()
        triggers.triggers_forget(business_id)


# ------------------------------------------------------------------ running


def events_run(events: Iterable[Mapping[str, Any]]) -> int:
    """Run the rules for triggering events (`automation.triggers.event`):
    for each, the active rules of its conversation's business with its
    trigger, in `position` order. Idempotent: a rule applies once per event
    key. Returns how many rules were applied."""
    applied = 0
    for event in events:
        conversation = (
            Conversation.objects.select_related("business", "contact", "channel")
            .filter(pk=event["conversation_id"])
            .first()
        )
        if conversation is None:
            continue
        rules = list(
            Rule.objects.filter(
                business_id=conversation.business_id,
                trigger=event["trigger"],
                is_active=True,
            ).order_by("position", "pk")
        )
        if not rules:
            continue
        message = None
        if event.get("message_id"):
            message = Message.objects.filter(pk=event["message_id"]).first()
        for rule in rules:
            if rule_apply(
                rule=rule,
                conversation=conversation,
                message=message,
                key=event["key"],
                status=event.get("status", ""),
            ):
                applied += 1
    return applied


def _latest_inbound(conversation: Conversation) -> Message | None:
    return (
        Message.objects.filter(
            conversation=conversation, direction=Message.Direction.INBOUND
        )
        .exclude(kind__in=Message.PRIVATE_KINDS)
        .order_by("-pk")
        .first()
    )


def _language(contact) -> str:
    value = (contact.custom_attributes or {}).get("language")
    if not isinstance(value, str):
        return ""
    return value.strip().replace("_", "-").split("-")[0].lower()


def rule_matches(
    rule: Rule,
    conversation: Conversation,
    message: Message | None,
    *,
    now: datetime | None = None,
    status: str = "",
) -> bool:
    """Whether `conversation` (and `message`, the one that triggered the
    rule; else the customer's latest) meets every condition of `rule` and,
    for a status rule, moved to the status it waits for (`status`, the
    event's; else the conversation's now). Reads only what its conditions
    need."""
    if rule.trigger_status and (status or conversation.status) != rule.trigger_status:
        return False
    conditions = rule.conditions or {}
    if "channel_types" in conditions:
        if conversation.channel_type not in conditions["channel_types"]:
            return False
    if "channel_ids" in conditions:
        if str(conversation.channel_id) not in conditions["channel_ids"]:
            return False
    if "text_contains" in conditions:
        if message is None:
            message = _latest_inbound(conversation)
        text = (message.text if message else "").casefold()
        if not any(word.casefold() in text for word in conditions["text_contains"]):
            return False
    if "contact_attribute" in conditions:
        wanted = conditions["contact_attribute"]
        attributes = conversation.contact.custom_attributes or {}
        if wanted["key"] not in attributes:
            return False
        actual = attributes[wanted["key"]]
        if isinstance(actual, bool):
            actual = "true" if actual else "false"
        if wanted["value"] and str(actual).casefold() != wanted["value"].casefold():
            return False
    if conditions.get("label_id"):
        has = ConversationLabel.objects.filter(
            conversation=conversation, label_id=conditions["label_id"]
        ).exists()
        if has == bool(conditions.get("label_absent")):
            return False
    if "business_hours" in conditions:
        from workspace.selectors import is_open

        open_now = is_open(conversation.business, now or timezone.now())
        if open_now != (conditions["business_hours"] == "open"):
            return False
    if "languages" in conditions:
        if _language(conversation.contact) not in conditions["languages"]:
            return False
    return True


def rule_apply(
    *,
    rule: Rule,
    conversation: Conversation,
    message: Message | None,
    key: str,
    now: datetime | None = None,
    status: str = "",
) -> RuleRun | None:
    """Apply `rule` to `conversation` for the event `key` if its conditions
    hold and it has not been applied for that event yet: its actions and one
    activity entry ("Automation rule “Refunds” ran: ..."), in one
    transaction with the `RuleRun` that records it. An action that cannot
    be done (an agent deactivated since, a channel that cannot send) is
    skipped and named in the entry; the others are still done. Returns the
    run, or None when the rule did not apply."""
    conversation.refresh_from_db(
        fields=["status", "snoozed_until", "assignee", "team", "priority"]
    )
    if not rule_matches(rule, conversation, message, now=now, status=status):
        return None
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = RuleRun.objects.create(
                    rule=rule, conversation=conversation, trigger_key=key[:200]
                )
        except IntegrityError:
            return None  # applied for this event already
        with triggers.rules_running():
            steps = _actions_do(rule, conversation, message, run)
        from conversations.services.conversations import activity_entry

        entry = activity_entry(
            conversation, "rule_ran", {"rule": rule.name, "steps": steps}, by=None
        )
        summary = entry.text
        entry.text = summary[:2000]
        entry.details["automation_rule_id"] = rule.pk
        entry.save()
        realtime.publish_message_created(entry)
        run.summary = summary
        run.details = entry.details["params"]
        run.save(update_fields=["summary", "details"])
    logger.info(
        "automation.rule_applied",
        extra={
            "rule_id": rule.pk,
            "conversation_id": conversation.pk,
            "trigger_key": key,
        },
    )
    return run


_Step = dict[str, Any]


def _actions_do(
    rule: Rule, conversation: Conversation, message: Message | None, run: RuleRun
) -> list[_Step]:
    """Do the rule's actions in their fixed order; return what each did (or
    why it could not) as the `rule_ran` activity's steps
    (`conversations.activity.RULE_STEPS`: `{"step": kind, ...params}`)."""
    from conversations.services.conversations import conversation_update

    actions = rule.actions or {}
    done: list[_Step] = []

    def attempt(what: str, step) -> None:
        try:
            with transaction.atomic():
                result = step()
        except (ApplicationError, ValidationError, ObjectGone) as error:
            reason = getattr(error, "detail", None) or "; ".join(
                getattr(error, "messages", [str(error)])
            )
            done.append({"step": "failed", "action": what, "reason": str(reason)})
            return
        done.append(result)

    if actions.get("assign_team_id"):

        def team_step() -> _Step:
            team = _get(
                Team, conversation.business_id, actions["assign_team_id"], TEAM_GONE
            )
            if conversation.team_id == team.pk:
                return {"step": "team_already", "team": team.name}
            conversation_update(conversation=conversation, by=None, team=team)
            return {"step": "team_routed", "team": team.name}

        attempt("team", team_step)
    if actions.get("assign_agent_id"):

        def agent_step() -> _Step:
            user = (
                get_user_model()
                .objects.select_related("member")
                .filter(pk=actions["assign_agent_id"])
                .first()
            )
            if user is None:
                raise ObjectGone(AGENT_GONE)
            name = user.get_full_name() or user.get_username()
            if conversation.assignee_id == user.pk:
                return {"step": "agent_already", "agent": name}
            conversation_update(conversation=conversation, by=None, assignee=user)
            return {"step": "agent_assigned", "agent": name}

        attempt("agent", agent_step)
    if actions.get("add_label_id"):

        def label_step() -> _Step:
            label = _get(
                Label, conversation.business_id, actions["add_label_id"], LABEL_GONE
            )
            if ConversationLabel.objects.filter(
                conversation=conversation, label=label
            ).exists():
                return {"step": "label_already", "label": label.name}
            conversation_update(conversation=conversation, by=None, labels_add=[label])
            return {"step": "label_added", "label": label.name}

        attempt("label", label_step)
    if actions.get("priority"):
        attempt("priority", lambda: _priority_set(conversation, actions["priority"]))
    if actions.get("canned_response_id"):
        attempt(
            "canned",
            lambda: _canned_send(conversation, actions["canned_response_id"]),
        )
    if "snooze_minutes" in actions and actions["snooze_minutes"] is not None:
        minutes = actions["snooze_minutes"]

        def snooze_step() -> _Step:
            until = timezone.now() + timedelta(minutes=minutes) if minutes else None
            conversation_update(
                conversation=conversation,
                by=None,
                status="snoozed",
                snoozed_until=until,
            )
            if minutes:
                return {"step": "snoozed_minutes", "minutes": minutes}
            return {"step": "snoozed_until_reply"}

        attempt("snooze", snooze_step)
    if actions.get("resolve"):

        def resolve_step() -> _Step:
            if conversation.status == Conversation.Status.RESOLVED:
                return {"step": "resolved_already"}
            conversation_update(conversation=conversation, by=None, status="resolved")
            return {"step": "resolved"}

        attempt("resolve", resolve_step)
    if actions.get("webhook_endpoint_id"):
        attempt(
            "webhook",
            lambda: _webhook_send(rule, conversation, message, run),
        )
    return done


class ObjectGone(Exception):
    """What an action names was deleted since the rule was saved."""


# Why an action could not be done, stored in English in the activity entry's
# steps and shown in the reader's language.
TEAM_GONE = gettext_noop("the team no longer exists")
AGENT_GONE = gettext_noop("the agent no longer exists")
LABEL_GONE = gettext_noop("the label no longer exists")
CANNED_GONE = gettext_noop("the canned response no longer exists")
WEBHOOK_GONE = gettext_noop("the webhook endpoint no longer exists")
CHANNEL_GONE = gettext_noop("the channel is deactivated or deleted")
OPTED_OUT = gettext_noop("the customer opted out on this channel")
WEBHOOK_DISABLED = gettext_noop("the webhook endpoint is disabled")


def _get(model, business_id: object, pk: int, gone: str):
    row = model.objects.filter(business_id=business_id, pk=pk).first()
    if row is None:
        raise ObjectGone(gone)
    return row


def _priority_set(conversation: Conversation, priority: str) -> _Step:
    if conversation.priority == priority:
        return {"step": "priority_already", "priority": priority}
    Conversation.objects.filter(pk=conversation.pk).update(priority=priority)
    conversation.priority = priority
    realtime.publish_conversation_changed(conversation)
    return {"step": "priority_set", "priority": priority}


def _canned_send(conversation: Conversation, canned_id: int) -> _Step:
    from conversations.services.replies import post_automatic_reply, reply_check
    from pingback.errors import ChannelInactive
    from workspace.services import canned_response_render

    canned = _get(CannedResponse, conversation.business_id, canned_id, CANNED_GONE)
    channel = conversation.channel
    if channel is None or not channel.is_active:
        raise ChannelInactive(CHANNEL_GONE)
    identity = conversation.contact_identity
    if identity is not None and identity.opted_out_at is not None:
        raise ApplicationError(OPTED_OUT)
    assignee = conversation.assignee
    text = canned_response_render(
        canned.content,
        contact_name=conversation.contact.name,
        agent_name=(assignee.get_full_name() or assignee.get_username())
        if assignee
        else "",
        conversation_id=conversation.pk,
    ).strip()
    reply_check(conversation=conversation, text=text)
    post_automatic_reply(conversation=conversation, text=text, automatic=AUTOMATIC)
    return {"step": "canned_sent", "code": canned.short_code}


def _webhook_send(
    rule: Rule, conversation: Conversation, message: Message | None, run: RuleRun
) -> _Step:
    from webhooks.services import events as webhook_events

    endpoint = _get(
        WebhookEndpoint,
        conversation.business_id,
        rule.actions["webhook_endpoint_id"],
        WEBHOOK_GONE,
    )
    if not endpoint.is_active:
        raise ApplicationError(WEBHOOK_DISABLED)
    data = {
        "rule": {"id": rule.pk, "name": rule.name, "trigger": rule.trigger},
        "conversation": webhook_events.conversation_data(conversation),
        "message": webhook_events.message_data(message) if message else None,
    }
    webhook_events.endpoint_event_record(
        endpoint.pk,
        webhook_events.Change(WEBHOOK_EVENT_TYPE, f"{run.pk}", data),
    )
    return {"step": "webhook_sent", "url": endpoint.url}


def unanswered_scan(*, now: datetime | None = None) -> int:
    """Apply every active "stays unanswered" rule to the open conversations
    of its business whose customer wrote last, at least `unanswered_minutes`
    ago, with no reply since (an agent's message or template; PingBack's
    automatic messages do not count as a reply). Once per conversation per
    rule per unanswered spell: the event key names the last reply before the
    spell (`conversation.unanswered:<id>:since:<reply id or 0>`). Only spells
    that cross the rule's threshold after the rule was created count, so a
    new rule does not act on months-old conversations. At most
    `UNANSWERED_BATCH` conversations per rule per scan. Returns how many
    rules were applied."""
    now = now or timezone.now()
    applied = 0
    rules = Rule.objects.filter(
        trigger=Trigger.UNANSWERED, is_active=True, unanswered_minutes__isnull=False
    ).order_by("business_id", "position", "pk")
    replies = (
        Message.objects.filter(
            conversation=OuterRef("pk"),
            direction=Message.Direction.OUTBOUND,
            kind__in=["message", "template"],
        )
        .exclude(details__has_key="automatic")
        .order_by("-pk")
        .values("pk")[:1]
    )
    inbound = (
        Message.objects.filter(
            conversation=OuterRef("pk"), direction=Message.Direction.INBOUND
        )
        .exclude(kind__in=Message.PRIVATE_KINDS)
        .order_by("-pk")
        .values("pk")[:1]
    )
    for rule in rules:
        wait = timedelta(minutes=rule.unanswered_minutes)
        due = (
            Conversation.objects.filter(
                business_id=rule.business_id,
                status=Conversation.Status.OPEN,
                last_message_at__lte=now - wait,
                last_message_at__gte=rule.created_at - wait,
            )
            .annotate(last_in=Subquery(inbound), last_reply=Subquery(replies))
            .filter(last_in__isnull=False)
            .filter(Q(last_reply__isnull=True) | Q(last_in__gt=F("last_reply")))
            .select_related("business", "contact", "channel")
            .order_by("last_message_at", "pk")[:UNANSWERED_BATCH]
        )
        for conversation in due:
            since = conversation.last_reply or 0
            key = f"conversation.unanswered:{conversation.pk}:since:{since}"
            if RuleRun.objects.filter(rule=rule, trigger_key=key).exists():
                continue
            if rule_apply(
                rule=rule, conversation=conversation, message=None, key=key, now=now
            ):
                applied += 1
    return applied

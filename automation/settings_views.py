"""Settings → Automation (admins only): the business's rules in the order
they run, with buttons to move one up or down, disable or enable it, edit
and delete it; and the form to create or change one.

Writes go through `automation.services`, as `/api/v1/automation-rules/`
does: a refused value is shown beside its field (answer 400) with the words
the API would give, and the form keeps what was typed. Agents get 403,
another business's rule 404, anonymous visitors the login page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from automation import selectors, services
from automation.models import Rule, Trigger
from billing.models import Member
from channels_app.models import Channel
from conversations.models import Conversation
from webhooks.models import WebhookEndpoint
from workspace.models import CannedResponse, Label, Team
from workspace.settings_views import (
    _admin,
    _isolated,
    business_row_or_404,
    member_name,
    settings_page_for,
)

# Form inputs of the parts of `conditions` and `actions` (the API's keys).
_ERROR_FIELDS = {
    "conditions.contact_attribute": "attribute_key",
    "conditions": "conditions",
    "actions": "actions",
}


def _rule(member: Member, rule_id: int) -> Rule:
    return business_row_or_404(
        selectors.rule_get, member, rule_id, "No such automation rule."
    )


_page = settings_page_for("automation")


def _choices(business) -> dict[str, list[tuple[str, str]]]:
    """The business's teams, agents, labels, canned responses, channels and
    webhook endpoints as (value, label) pairs for the form's menus."""
    agents = (
        Member.objects.filter(business=business, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    )
    return {
        "teams": [(str(t.pk), t.name) for t in Team.objects.filter(business=business)],
        "agents": [(str(m.user_id), member_name(m)) for m in agents],
        "labels": [
            (str(label.pk), label.name)
            for label in Label.objects.filter(business=business)
        ],
        "canned": [
            (str(c.pk), f"/{c.short_code}")
            for c in CannedResponse.objects.filter(business=business)
        ],
        "channels": [
            (str(c.pk), str(c))
            for c in Channel.objects.filter(business=business).order_by("name", "pk")
        ],
        "endpoints": [
            (str(e.pk), e.url)
            for e in WebhookEndpoint.objects.filter(business=business)
        ],
        "channel_types": list(Channel.Type.choices),
        "triggers": list(Trigger.choices),
        "statuses": list(Conversation.Status.choices),
        "priorities": [
            p
            for p in Conversation.Priority.choices
            if p[0] != Conversation.Priority.NONE
        ],
    }


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _values_from_post(post) -> dict[str, Any]:
    """The form as typed (kept when it is refused)."""
    keys = (
        "name",
        "trigger",
        "trigger_status",
        "unanswered_minutes",
        "text_contains",
        "attribute_key",
        "attribute_value",
        "label_id",
        "label_absent",
        "business_hours",
        "languages",
        "assign_team_id",
        "assign_agent_id",
        "add_label_id",
        "priority",
        "canned_response_id",
        "snooze_minutes",
        "webhook_endpoint_id",
    )
    values: dict[str, Any] = {key: post.get(key, "") for key in keys}
    values["channel_types"] = post.getlist("channel_types")
    values["channel_ids"] = post.getlist("channel_ids")
    values["resolve"] = post.get("resolve") == "on"
    values["is_active"] = post.get("is_active") == "on"
    return values


def _data(values: dict[str, Any]) -> dict[str, Any]:
    """The rule the form's `values` describe, as the API takes it."""
    conditions: dict[str, Any] = {}
    if values["channel_types"]:
        conditions["channel_types"] = values["channel_types"]
    if values["channel_ids"]:
        conditions["channel_ids"] = values["channel_ids"]
    if _split(values["text_contains"]):
        conditions["text_contains"] = _split(values["text_contains"])
    if values["attribute_key"].strip() or values["attribute_value"].strip():
        conditions["contact_attribute"] = {
            "key": values["attribute_key"],
            "value": values["attribute_value"].strip(),
        }
    if values["label_id"]:
        conditions["label_id"] = values["label_id"]
        conditions["label_absent"] = values["label_absent"] == "absent"
    if values["business_hours"]:
        conditions["business_hours"] = values["business_hours"]
    if _split(values["languages"]):
        conditions["languages"] = _split(values["languages"])
    actions: dict[str, Any] = {}
    for key in (
        "assign_team_id",
        "assign_agent_id",
        "add_label_id",
        "priority",
        "canned_response_id",
        "webhook_endpoint_id",
    ):
        if values[key]:
            actions[key] = values[key]
    if str(values["snooze_minutes"]).strip():
        actions["snooze_minutes"] = str(values["snooze_minutes"]).strip()
    if values["resolve"]:
        actions["resolve"] = True
    return {
        "name": values["name"],
        "trigger": values["trigger"],
        "trigger_status": values["trigger_status"],
        "unanswered_minutes": values["unanswered_minutes"] or None,
        "conditions": conditions,
        "actions": actions,
        "is_active": values["is_active"],
    }


def _values_of(rule: Rule) -> dict[str, Any]:
    """The form's values for a stored rule."""
    c, a = rule.conditions or {}, rule.actions or {}
    attribute = c.get("contact_attribute") or {}
    return {
        "name": rule.name,
        "trigger": rule.trigger,
        "trigger_status": rule.trigger_status,
        "unanswered_minutes": rule.unanswered_minutes or "",
        "channel_types": c.get("channel_types", []),
        "channel_ids": c.get("channel_ids", []),
        "text_contains": ", ".join(c.get("text_contains", [])),
        "attribute_key": attribute.get("key", ""),
        "attribute_value": attribute.get("value", ""),
        "label_id": str(c.get("label_id") or ""),
        "label_absent": "absent" if c.get("label_absent") else "",
        "business_hours": c.get("business_hours", ""),
        "languages": ", ".join(c.get("languages", [])),
        "assign_team_id": str(a.get("assign_team_id") or ""),
        "assign_agent_id": str(a.get("assign_agent_id") or ""),
        "add_label_id": str(a.get("add_label_id") or ""),
        "priority": a.get("priority", ""),
        "canned_response_id": str(a.get("canned_response_id") or ""),
        "snooze_minutes": ""
        if a.get("snooze_minutes") is None
        else a["snooze_minutes"],
        "resolve": bool(a.get("resolve")),
        "webhook_endpoint_id": str(a.get("webhook_endpoint_id") or ""),
        "is_active": rule.is_active,
    }


def _form_errors(error: ValidationError) -> dict[str, list[str]]:
    """The service's refusal by form input (`actions.add_label_id` is the
    `add_label_id` menu)."""
    lines: dict[str, list[str]] = {}
    for field, problems in error.message_dict.items():
        name = _ERROR_FIELDS.get(field, field.split(".")[-1])
        lines.setdefault(name, []).extend(problems)
    return lines


def describe(rule: Rule, names: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """A rule in words for its row: `when`, `conditions` and `actions`
    (lists of short phrases; an id whose row is gone reads "(deleted)")."""
    c, a = rule.conditions or {}, rule.actions or {}

    def name(kind: str, pk: object) -> str:
        found = names[kind].get(str(pk))
        return _isolated(found) if found is not None else _("(deleted)")

    types = dict(Channel.Type.choices)

    when = [rule.get_trigger_display()]
    if rule.trigger_status:
        statuses = dict(Conversation.Status.choices)
        # The status's name, in lower case inside the phrase ("to pending").
        status = str(statuses.get(rule.trigger_status, rule.trigger_status)).lower()
        when.append(_("to %(status)s") % {"status": status})
    if rule.unanswered_minutes:
        when.append(_("for %(minutes)d minutes") % {"minutes": rule.unanswered_minutes})
    ifs = []
    if c.get("channel_types"):
        ifs.append(
            _("channel type is %(t)s")
            % {"t": _(" or ").join(str(types.get(t, t)) for t in c["channel_types"])}
        )
    if c.get("channel_ids"):
        ifs.append(
            _("channel is %(c)s")
            % {"c": _(" or ").join(name("channels", pk) for pk in c["channel_ids"])}
        )
    if c.get("text_contains"):
        ifs.append(
            _("text contains %(w)s")
            % {"w": _(" or ").join(f"“{_isolated(w)}”" for w in c["text_contains"])}
        )
    if c.get("contact_attribute"):
        attribute = c["contact_attribute"]
        if attribute.get("value"):
            ifs.append(
                _("contact attribute %(k)s is “%(v)s”")
                % {"k": _isolated(attribute["key"]), "v": _isolated(attribute["value"])}
            )
        else:
            ifs.append(_("contact has %(k)s") % {"k": _isolated(attribute["key"])})
    if c.get("label_id"):
        text = _("lacks label %(l)s") if c.get("label_absent") else _("has label %(l)s")
        ifs.append(text % {"l": name("labels", c["label_id"])})
    if c.get("business_hours") == "open":
        ifs.append(_("during business hours"))
    elif c.get("business_hours") == "closed":
        ifs.append(_("outside business hours"))
    if c.get("languages"):
        ifs.append(
            _("language is %(l)s")
            % {"l": _(" or ").join(_isolated(code) for code in c["languages"])}
        )
    thens = []
    if a.get("assign_team_id"):
        thens.append(
            _("route to team %(t)s") % {"t": name("teams", a["assign_team_id"])}
        )
    if a.get("assign_agent_id"):
        thens.append(_("assign to %(a)s") % {"a": name("agents", a["assign_agent_id"])})
    if a.get("add_label_id"):
        thens.append(_("add label %(l)s") % {"l": name("labels", a["add_label_id"])})
    if a.get("priority"):
        priorities = dict(Conversation.Priority.choices)
        priority = str(priorities.get(a["priority"], a["priority"])).lower()
        thens.append(_("set priority %(p)s") % {"p": priority})
    if a.get("canned_response_id"):
        thens.append(_("send %(c)s") % {"c": name("canned", a["canned_response_id"])})
    if a.get("snooze_minutes") is not None and "snooze_minutes" in a:
        thens.append(
            _("snooze %(m)d minutes") % {"m": a["snooze_minutes"]}
            if a["snooze_minutes"]
            else _("snooze until the customer writes")
        )
    if a.get("resolve"):
        thens.append(_("resolve"))
    if a.get("webhook_endpoint_id"):
        thens.append(
            _("send to webhook %(u)s")
            % {"u": name("endpoints", a["webhook_endpoint_id"])}
        )
    return {"when": when, "conditions": ifs, "actions": thens}


def _form(
    request: HttpRequest,
    member: Member,
    rule: Rule | None,
    values: dict[str, Any],
    errors: dict[str, list[str]],
) -> HttpResponse:
    context = {
        "row": rule,
        "values": values,
        "errors": errors,
        "choices": _choices(member.business),
        "runs": list(selectors.rule_recent_runs(rule)) if rule else [],
    }
    return _page(request, "form.html", context, status=400 if errors else 200)


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    """The business's rules in the order they run, each in words."""
    member = _admin(request)
    choices = _choices(member.business)
    names = {
        kind: dict(choices[kind])
        for kind in ("teams", "agents", "labels", "canned", "channels", "endpoints")
    }
    rows = list(selectors.rule_list(member.business))
    for row in rows:
        row.words = describe(row, names)
    return _page(request, "list.html", {"rows": rows})


@login_required
def rule_new(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: create the rule (last in the order), or the form
    again (400) with each refusal beside its field."""
    member = _admin(request)
    if request.method != "POST":
        values = {"trigger": Trigger.MESSAGE_CREATED, "is_active": True}
        return _form(request, member, None, values, {})
    values = _values_from_post(request.POST)
    values["is_active"] = True
    try:
        rule = services.rule_create(business=member.business, data=_data(values))
    except ValidationError as error:
        return _form(request, member, None, values, _form_errors(error))
    flash.success(
        request, _("Rule “%(name)s” created.") % {"name": _isolated(rule.name)}
    )
    return redirect("settings-automation")


@login_required
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    """GET: the rule's form and its latest runs. POST: save, or the form
    again (400) with each refusal beside its field."""
    member = _admin(request)
    rule = _rule(member, rule_id)
    if request.method != "POST":
        return _form(request, member, rule, _values_of(rule), {})
    values = _values_from_post(request.POST)
    try:
        services.rule_update(rule=rule, data=_data(values))
    except ValidationError as error:
        rule.refresh_from_db()
        return _form(request, member, rule, values, _form_errors(error))
    flash.success(request, _("Rule “%(name)s” saved.") % {"name": _isolated(rule.name)})
    return redirect("settings-automation")


@login_required
@require_POST
def rule_move(request: HttpRequest, rule_id: int) -> HttpResponse:
    """Move the rule one place up (`direction=up`) or down."""
    member = _admin(request)
    rule = _rule(member, rule_id)
    order = [r.pk for r in selectors.rule_list(member.business)]
    index = order.index(rule.pk)
    step = -1 if request.POST.get("direction") == "up" else 1
    services.rule_move(rule=rule, position=max(0, index + step))
    return redirect("settings-automation")


@login_required
@require_POST
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    """Disable an active rule, enable a disabled one."""
    member = _admin(request)
    rule = _rule(member, rule_id)
    services.rule_update(rule=rule, data={"is_active": not rule.is_active})
    text = (
        _("Rule “%(name)s” enabled.")
        if rule.is_active
        else _("Rule “%(name)s” disabled.")
    )
    flash.success(request, text % {"name": _isolated(rule.name)})
    return redirect("settings-automation")


@login_required
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    """GET: a button to confirm. POST: delete."""
    member = _admin(request)
    rule = _rule(member, rule_id)
    if request.method == "POST":
        services.rule_delete(rule=rule)
        flash.success(
            request, _("Rule “%(name)s” deleted.") % {"name": _isolated(rule.name)}
        )
        return redirect("settings-automation")
    return _page(request, "delete.html", {"row": rule})

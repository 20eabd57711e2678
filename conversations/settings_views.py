"""Inbox pages for admins: the business's web widgets (allowed domains,
welcome message, brand colour, logo) and their embed snippet, and the list of
replies with delivery problems.

Edits go through `channel_config_clean` and `channel_update`, so they are
validated exactly as the channels API validates `config`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext, ngettext

from billing.models import Business
from billing.permissions import member_of
from billing.plans import WEB_WIDGET_TYPES
from channels_app.models import Channel
from channels_app.platforms.web_widget import embed_snippet
from channels_app.services import (
    ConfigInvalid,
    channel_config_clean,
    channel_create,
    channel_update,
)
from channels_app.widget.selectors import DEFAULT_BRAND_COLOR
from conversations.selectors import delivery_problem_list
from conversations.services import messages_retry
from pingback.errors import ApplicationError

WIDGET_FIELDS = ("allowed_domains", "welcome_message", "brand_color", "logo_url")


def _admin_business(request: HttpRequest) -> Business:
    member = member_of(request.user)
    if member is None or not member.is_admin:
        raise PermissionDenied("Only a business admin may see this page.")
    return member.business


@login_required
def delivery_problems(request: HttpRequest) -> HttpResponse:
    """GET: the business's failed, uncertain and stuck replies
    (`delivery_problem_list`). POST `message_ids`: retry the selected ones
    (`messages_retry`), then back to the list with how many went. Admins
    only (403)."""
    business = _admin_business(request)
    if request.method == "POST":
        ids = [
            int(value)
            for value in request.POST.getlist("message_ids")
            if value.isdigit()
        ]
        retried = messages_retry(business_id=business.pk, message_ids=ids)
        if retried:
            flash.success(
                request,
                ngettext(
                    "%(count)d reply sent again.",
                    "%(count)d replies sent again.",
                    len(retried),
                )
                % {"count": len(retried)},
            )
        if len(retried) < len(ids):
            flash.error(
                request,
                gettext(
                    "%(count)d could not be retried: sent meanwhile, "
                    "already retried, or on a deactivated channel."
                )
                % {"count": len(ids) - len(retried)},
            )
        return redirect("delivery-problems")
    stuck_after = timedelta(minutes=settings.DELIVERY_STUCK_MINUTES)
    return render(
        request,
        "conversations/delivery_problems.html",
        {
            "problems": delivery_problem_list(business, stuck_after=stuck_after),
            "stuck_minutes": settings.DELIVERY_STUCK_MINUTES,
        },
    )


def _widget_channels(business: Business):
    return Channel.objects.filter(business=business, type__in=WEB_WIDGET_TYPES)


def _config_from_form(form: QueryDict) -> dict[str, Any]:
    """The widget config an admin submitted: allowed domains one per line (or
    separated by commas or spaces); an empty field removes the setting."""
    domains = [d for d in re.split(r"[\s,]+", form.get("allowed_domains", "")) if d]
    config: dict[str, Any] = {"allowed_domains": domains}
    for name in ("welcome_message", "brand_color", "logo_url"):
        config[name] = form.get(name, "").strip() or None
    return config


def _error_lines(errors: dict[str, Any], config: dict[str, Any]) -> dict[str, list]:
    """`ConfigInvalid.errors` as lines per field; a bad allowed domain is named
    (the serializer reports it by its index in the list)."""
    lines: dict[str, list[str]] = {}
    for name, problem in errors.items():
        if isinstance(problem, dict):
            domains = config.get(name) or []
            lines[name] = [
                f"{domains[int(index)]}: {' '.join(map(str, messages))}"
                for index, messages in problem.items()
            ]
        else:
            lines[name] = [str(message) for message in problem]
    return lines


@login_required
def widget_settings(request: HttpRequest) -> HttpResponse:
    """The business's widget channels; POST adds one (checked against the
    plan: a refusal is shown as a notice)."""
    business = _admin_business(request)
    if request.method == "POST":
        try:
            channel = channel_create(
                business=business,
                channel_type=Channel.Type.WEBCHAT,
                config=channel_config_clean(
                    channel_type=Channel.Type.WEBCHAT, config={}
                ),
            )
        except ApplicationError as error:
            flash.error(request, error.detail)
            return redirect("widget-settings")
        flash.success(
            request, gettext("Widget created: add the sites that may embed it.")
        )
        return redirect("widget-settings-edit", channel_id=channel.pk)
    return render(
        request,
        "conversations/widget_settings.html",
        {"channels": _widget_channels(business)},
    )


@login_required
def widget_settings_edit(request: HttpRequest, channel_id: str) -> HttpResponse:
    """Edit one widget's settings and copy its embed snippet. A refused value
    is shown beside its field (400) and nothing is saved."""
    business = _admin_business(request)
    try:
        channel = _widget_channels(business).get(pk=channel_id)
    except (Channel.DoesNotExist, ValidationError) as error:
        raise Http404("No such widget.") from error
    values = {name: channel.config.get(name) for name in WIDGET_FIELDS}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        config = _config_from_form(request.POST)
        try:
            clean = channel_config_clean(
                channel_type=channel.type, config=config, current=channel
            )
        except ConfigInvalid as error:
            errors = _error_lines(error.errors, config)
            values = config
        else:
            channel_update(channel=channel, config=clean)
            flash.success(request, gettext("Widget settings saved."))
            return redirect("widget-settings-edit", channel_id=channel.pk)
    return render(
        request,
        "conversations/widget_settings_edit.html",
        {
            "channel": channel,
            "values": values,
            "domains_text": "\n".join(values.get("allowed_domains") or []),
            "default_brand_color": DEFAULT_BRAND_COLOR,
            "errors": errors,
            "snippet": embed_snippet(channel),
        },
        status=400 if errors else 200,
    )

"""`{% load satisfaction %}`: customer satisfaction on the conversation's
customer panel and on the reports page, so those pages' views need no
change."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext

from billing.permissions import member_of
from conversations.models import Conversation
from satisfaction import services
from satisfaction.selectors import CsatReport, conversation_satisfaction, csat_report

register = template.Library()


@register.simple_tag
def satisfaction_panel(conversation: Conversation) -> dict[str, Any]:
    """`{% satisfaction_panel conversation as csat %}` → `{ratings,
    last_request}`: the conversation's ratings (newest first) and its newest
    rating request (to say it was asked, or why not). One query."""
    return conversation_satisfaction(conversation)


@register.simple_tag(takes_context=True)
def satisfaction_report(context: template.Context) -> CsatReport | None:
    """`{% satisfaction_report as csat %}` on the reports page: the
    `CsatReport` of the signed-in admin's business for the page's `since` and
    `until`; None when either is missing or the user is no member."""
    request = context.get("request")
    since, until = context.get("since"), context.get("until")
    member = member_of(request.user) if request is not None else None
    if member is None or since is None or until is None:
        return None
    return csat_report(member.business, since, until)


@register.filter
def skip_reason(reason: str) -> str:
    """`{{ request.skip_reason|skip_reason }}`: a stored (English) reason why
    the customer was not asked, in the active language; the platform's name
    and a refusal's detail are kept as stored. A reason PingBack does not
    know (e.g. from an older version) is shown as stored."""
    fixed = (
        services.SKIP_CHANNEL_GONE,
        services.SKIP_OPTED_OUT,
        services.SKIP_PUBLIC,
        services.SKIP_REOPENED,
    )
    if reason in fixed:
        return gettext(reason)
    for pattern, key in (
        (services.SKIP_WINDOW, "platform"),
        (services.SKIP_DOES_NOT_FIT, "detail"),
    ):
        before, after = pattern.split("{" + key + "}")
        if (
            reason.startswith(before)
            and reason.endswith(after)
            and len(reason) > len(before) + len(after)
        ):
            value = reason[len(before) : len(reason) - len(after)]
            return gettext(pattern).format(**{key: value})
    return reason

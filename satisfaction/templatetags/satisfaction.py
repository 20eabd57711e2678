"""`{% load satisfaction %}`: customer satisfaction on the conversation's
customer panel and on the reports page, so those pages' views need no
change."""

from __future__ import annotations

from typing import Any

from django import template

from billing.permissions import member_of
from conversations.models import Conversation
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

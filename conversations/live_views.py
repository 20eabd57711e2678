"""Small endpoints the live inbox pages call (`static/inbox/live.js`) when an
event of `conversations.realtime` arrives."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from billing.models import Business
from billing.permissions import member_of
from channels_app.models import Channel
from conversations.models import Conversation
from conversations.selectors import conversation_get, inbox_conversation_list
from conversations.services import conversation_mark_read


def _business(request: HttpRequest) -> Business:
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied("Only members of a business have an inbox.")
    return member.business


@login_required
@require_GET
def conversation_row(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """One row of the inbox list (`_conversation_row.html`) under the list's
    filters, given as on the inbox (`?channel_type=x&status=open`; status
    defaults to open). 204 when the conversation is not in the filtered list
    (the page removes the row); 404 for another business's conversation."""
    business = _business(request)
    channel_type = request.GET.get("channel_type") or None
    status = request.GET.get("status", "open") or None
    if channel_type not in (None, *Channel.Type.values):
        channel_type = None
    if status not in (None, *Conversation.Status.values):
        status = None
    if not Conversation.objects.filter(business=business, pk=conversation_id).exists():
        raise Http404("Conversation not found.")
    conversation = (
        inbox_conversation_list(business, channel_type=channel_type, status=status)
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        return HttpResponse(status=204)
    return render(
        request,
        "conversations/_conversation_row.html",
        {"conversation": conversation},
    )


@login_required
@require_POST
def conversation_read(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Clear the unread count: the agent has the conversation open while new
    messages arrive. 204; 404 for another business's conversation."""
    try:
        conversation = conversation_get(_business(request), conversation_id)
    except Conversation.DoesNotExist as error:
        raise Http404("Conversation not found.") from error
    conversation_mark_read(conversation=conversation)
    return HttpResponse(status=204)

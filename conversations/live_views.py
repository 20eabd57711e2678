"""Small endpoints the live inbox pages call (`static/inbox/live.js`) when an
event of `conversations.realtime` arrives."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from conversations.models import Conversation
from conversations.services import conversation_mark_read
from conversations.views import inbox_business, inbox_conversation
from conversations.workspace import list_conversations, list_state


@login_required
@require_GET
def conversation_row(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """One row of the list (`_conversation_row.html`) under the list's view
    and filters, given as on the page (`?view=mine&status=open`, see
    `conversations.workspace`). 204 when the conversation is not in that list
    (the page removes the row); 404 for another business's conversation."""
    business = inbox_business(request)
    state = list_state(business, request.GET)
    if not Conversation.objects.filter(business=business, pk=conversation_id).exists():
        raise Http404("Conversation not found.")
    conversation = (
        list_conversations(business, request.user, state)
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        return HttpResponse(status=204)
    return render(
        request,
        "conversations/_conversation_row.html",
        {"conversation": conversation, "state": state},
    )


@login_required
@require_POST
def conversation_read(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Clear the unread count: the agent has the conversation open while new
    messages arrive. 204; 404 for another business's conversation."""
    conversation = inbox_conversation(request, conversation_id)
    conversation_mark_read(conversation=conversation)
    return HttpResponse(status=204)

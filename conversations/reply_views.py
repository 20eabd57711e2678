"""Page endpoints behind the reply box (`templates/conversations/_reply_box.html`,
`static/inbox/reply-box.js`): sending a reply or a private note without
reloading the page, and the `/` canned-response picker.

URL patterns: `conversations/reply_urls.py`.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from conversations.services.replies import ReplyRefused, post_note, post_reply
from conversations.views import inbox_conversation
from pingback.errors import ApplicationError
from workspace.selectors import canned_response_list
from workspace.services import canned_response_render

CANNED_PICKER_SIZE = 20


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _agent_name(user) -> str:
    return user.get_full_name() or user.get_username()


@login_required
@require_POST
def reply_send(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Send the agent's reply (`post_reply`: `text`, repeated `files`) or, with
    `private=1`, store a private note (`post_note`: `text` only, never sent).

    With `X-Requested-With: fetch` it answers JSON: `{"ok": true,
    "message_id": n}` (202 for a reply, queued; 200 for a note), or
    `{"error": str, "field": "text" | "files"}` with 400 (a refusal: empty,
    over the channel's limits, see `reply_check`) or 409 (the channel is
    deactivated or deleted); nothing is stored on refusal. Without it (no
    JavaScript) it goes back to the thread, a refusal shown there. 404 for a
    conversation of another business; login required."""
    conversation = inbox_conversation(request, conversation_id)
    text = request.POST.get("text", "").replace("\r\n", "\n")
    private = request.POST.get("private") in {"1", "true", "on"}
    files = request.FILES.getlist("files")
    try:
        if private:
            if files:
                raise ReplyRefused(
                    "A private note is text only; remove the files or send a reply.",
                    code="note_with_files",
                    field="files",
                )
            message = post_note(
                conversation=conversation, author=request.user, text=text
            )
        else:
            message = post_reply(
                conversation=conversation, author=request.user, text=text, files=files
            )
    except ApplicationError as error:
        if not _wants_json(request):
            flash.error(request, error.detail)
            return redirect("conversation", conversation_id=conversation.pk)
        return JsonResponse(
            {"error": error.detail, "field": getattr(error, "field", "text")},
            status=error.status_code,
        )
    if not _wants_json(request):
        return redirect("conversation", conversation_id=conversation.pk)
    return JsonResponse(
        {"ok": True, "message_id": message.pk}, status=200 if private else 202
    )


@login_required
@require_GET
def canned_responses(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """`GET /conversations/<id>/canned-responses/?q=ref`: the business's canned
    responses whose short code or content contains `q` (case-insensitive; all
    when empty), by short code, at most 20, as `[{"short_code": str,
    "content": str}]` with `content`'s variables filled for this conversation
    and the agent asking (`canned_response_render`). 404 for a conversation of
    another business; login required. Two queries whatever the count."""
    conversation = inbox_conversation(request, conversation_id)
    query = request.GET.get("q", "").strip()[:100]
    contact_name = conversation.contact.name if conversation.contact_id else ""
    agent_name = _agent_name(request.user)
    found = canned_response_list(conversation.business_id, search=query).select_related(
        None
    )[:CANNED_PICKER_SIZE]
    return JsonResponse(
        [
            {
                "short_code": canned.short_code,
                "content": canned_response_render(
                    canned.content,
                    contact_name=contact_name,
                    agent_name=agent_name,
                    conversation_id=conversation.pk,
                ),
            }
            for canned in found
        ],
        safe=False,
    )

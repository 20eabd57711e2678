"""The agent inbox pages (server-rendered)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from billing.models import Business
from billing.permissions import member_of
from channels_app.models import Channel
from channels_app.platforms import get_platform
from conversations.models import Conversation, Message
from conversations.selectors import (
    conversation_get,
    conversation_message_list,
    conversation_thread,
    conversation_window_closed_at,
    inbox_conversation_list,
)
from conversations.services import (
    conversation_mark_read,
    conversation_update,
    message_mark_sent,
    message_retry,
    post_reply,
)
from conversations.services.attachments import attachment_resolve
from conversations.services.remote_images import (
    RemoteImageError,
    remote_image_fetch,
    remote_image_resolve,
)
from pingback.errors import ApplicationError

INBOX_PAGE_SIZE = 50


def inbox_business(request: HttpRequest) -> Business:
    """The business of the logged-in member; `PermissionDenied` (403) for a
    user who is no member."""
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied("Only members of a business have an inbox.")
    return member.business


def inbox_conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    """One of the member's business's conversations; `Http404` otherwise."""
    try:
        return conversation_get(inbox_business(request), conversation_id)
    except Conversation.DoesNotExist as error:
        raise Http404("Conversation not found.") from error


def inbox_filters(request: HttpRequest) -> tuple[str | None, str | None]:
    """The list's `(channel_type, status)` from `?channel_type=x&status=open`:
    status defaults to open, `status=` means any, unknown values mean any."""
    channel_type = request.GET.get("channel_type") or None
    status = request.GET.get("status", "open") or None
    if channel_type not in (None, *Channel.Type.values):
        channel_type = None
    if status not in (None, *Conversation.Status.values):
        status = None
    return channel_type, status


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """The conversation list, newest activity first, filtered by channel type and
    status (`?channel_type=x&status=open`)."""
    business = inbox_business(request)
    channel_type, status = inbox_filters(request)
    conversations = inbox_conversation_list(
        business, channel_type=channel_type, status=status
    )
    return render(
        request,
        "conversations/inbox.html",
        {
            "business": business,
            "conversations": conversations[:INBOX_PAGE_SIZE],
            "channel_types": Channel.Type.choices,
            "statuses": Conversation.Status.choices,
            "selected_channel_type": channel_type or "",
            "selected_status": status or "",
            "channels": Channel.objects.filter(business=business),
        },
    )


@login_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """One conversation: its thread, each outbound message's status, a reply box."""
    conversation = inbox_conversation(request, conversation_id)
    conversation_mark_read(conversation=conversation)
    channel = conversation.channel
    supports_templates = bool(channel and get_platform(channel.type).supports_templates)
    paused_until = channel.paused_until if channel else None
    return render(
        request,
        "conversations/conversation.html",
        {
            "conversation": conversation,
            "thread": conversation_thread(conversation),
            "channel_paused_until": paused_until
            if paused_until and paused_until > timezone.now()
            else None,
            "statuses": Conversation.Status.choices,
            "supports_templates": supports_templates,
            "window_closed_at": conversation_window_closed_at(conversation)
            if supports_templates
            else None,
        },
    )


@login_required
def conversation_status(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Messages only, for the page to refresh statuses (`_messages.html`)."""
    conversation = inbox_conversation(request, conversation_id)
    return render(
        request,
        "conversations/_messages.html",
        {
            "conversation": conversation,
            "thread": conversation_thread(conversation),
        },
    )


@login_required
@require_POST
def conversation_reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Queue the agent's reply and go back to the thread."""
    conversation = inbox_conversation(request, conversation_id)
    template = None
    if request.POST.get("template_name"):
        template = {
            "name": request.POST["template_name"].strip(),
            "language": request.POST.get("template_language", "").strip() or "en_US",
            "parameters": [
                line.strip()
                for line in request.POST.get("template_parameters", "").splitlines()
                if line.strip()
            ],
        }
    try:
        post_reply(
            conversation=conversation,
            author=request.user,
            text=request.POST.get("text", ""),
            files=request.FILES.getlist("files"),
            template=template,
        )
    except ApplicationError as error:
        flash.error(request, error.detail)
    return redirect("conversation", conversation_id=conversation.pk)


@login_required
@require_POST
def message_retry_view(
    request: HttpRequest, conversation_id: int, message_id: int
) -> HttpResponse:
    """Send a failed or uncertain reply again (`message_retry`), then back to
    the thread; a refusal is shown there."""
    return _message_action(request, conversation_id, message_id, message_retry)


@login_required
@require_POST
def message_mark_sent_view(
    request: HttpRequest, conversation_id: int, message_id: int
) -> HttpResponse:
    """Record that an uncertain reply did arrive (`message_mark_sent`)."""
    return _message_action(request, conversation_id, message_id, message_mark_sent)


def _message_action(
    request: HttpRequest, conversation_id: int, message_id: int, action
) -> HttpResponse:
    conversation = inbox_conversation(request, conversation_id)
    message = get_object_or_404(conversation_message_list(conversation), pk=message_id)
    try:
        action(message=message)
    except ApplicationError as error:
        flash.error(request, error.detail)
    return redirect("conversation", conversation_id=conversation.pk)


@login_required
@require_POST
def conversation_set_status(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Open, set pending or resolve the conversation."""
    conversation = inbox_conversation(request, conversation_id)
    status = request.POST.get("status")
    if status in Conversation.Status.values:
        conversation_update(conversation=conversation, by=request.user, status=status)
    return redirect("conversation", conversation_id=conversation.pk)


# Types a browser may show inline: raster images. Anything else (SVG, HTML,
# PDF, audio, video, ...) is served as a download, so an uploaded or received
# file cannot run script on PingBack's origin.
_INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# The file's own policy: nothing it names loads, nothing in it runs (should a
# browser render it as a document after all), and no other site may frame it.
ATTACHMENT_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def attachment(request: HttpRequest, token: str) -> HttpResponse:
    """Serve an attachment through its signed link (`attachment_link`): the
    stored file, or a redirect to the platform's public `https` link when
    PingBack does not hold the file. No login: the signed, expiring token is
    the permission, so platforms can fetch outbound media (Twilio MMS,
    Instagram). 404 for a forged or expired token.

    A JPEG, PNG, GIF or WebP image is served `inline` with its type; any other
    file as `Content-Disposition: attachment` and `application/octet-stream`.
    Every file carries `X-Content-Type-Options: nosniff` and its own
    `Content-Security-Policy` (`ATTACHMENT_CSP`)."""
    resolved = attachment_resolve(token)
    if resolved is None:
        raise Http404("No such attachment, or the link has expired.")
    item = resolved.attachment
    stored = item.get("stored")
    if not stored:
        url = item.get("url", "")
        if url.startswith("https://") and not item.get("ref"):
            return HttpResponseRedirect(url)
        raise Http404("PingBack does not hold this file.")
    content_type = (item.get("content_type") or "").split(";", 1)[0].strip().lower()
    inline = content_type in _INLINE_TYPES
    response = FileResponse(
        default_storage.open(stored, "rb"),
        as_attachment=not inline,
        filename=item.get("filename") or "file",
        content_type=content_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = ATTACHMENT_CSP
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
def remote_image(request: HttpRequest, token: str) -> HttpResponse:
    """A remote image of an e-mail, fetched by PingBack for the agent
    (`conversations.services.remote_images`): the token, made by
    `remote_image_link`, names the message and the image URL; the message must
    belong to the agent's business (404 otherwise, nothing fetched). 502 with a
    short plain-text reason when the image cannot be fetched or is not a PNG,
    JPEG, GIF or WebP. The image is served inline with `nosniff` and the
    attachments' sandbox policy."""
    business = inbox_business(request)
    try:
        message, url = remote_image_resolve(token, business=business)
    except Message.DoesNotExist as error:
        raise Http404("No such image.") from error
    try:
        image = remote_image_fetch(message=message, url=url)
    except RemoteImageError as error:
        return HttpResponse(
            error.reason, status=502, content_type="text/plain; charset=utf-8"
        )
    response = HttpResponse(image.content, content_type=image.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = ATTACHMENT_CSP
    response["Cache-Control"] = "private, max-age=3600"
    return response

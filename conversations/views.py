"""The agent workspace (server-rendered): one page with the conversation
list, the open conversation's thread and the customer panel, and the partials
`static/inbox/workspace.js` swaps in so nothing reloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from billing.models import Business
from billing.permissions import member_of
from channels_app.models import Channel
from contacts.selectors.merge import contact_panel
from conversations.models import Conversation, Message
from conversations.selectors import (
    conversation_get,
    conversation_message_list,
    conversation_thread,
    inbox_view_counts,
)
from conversations.services import (
    conversation_mark_read,
    conversation_update,
    message_mark_sent,
    message_retry,
    post_reply,
)
from conversations.services.attachments import (
    attachment_file_open,
    attachment_redirect_url,
    attachment_resolve,
)
from conversations.services.mentions import mentions_mark_read
from conversations.services.remote_images import (
    RemoteImageError,
    remote_image_fetch,
    remote_image_resolve,
)
from conversations.services.snooze import snooze_presets, snooze_until_from_local
from conversations.workspace import (
    VIEWS,
    list_conversations,
    list_state,
    workspace_agents,
)
from pingback.errors import ApplicationError
from workspace.models import Team
from workspace.selectors import label_list, saved_filter_list

INBOX_PAGE_SIZE = 50


def inbox_business(request: HttpRequest) -> Business:
    """The business of the logged-in member; `PermissionDenied` (403) for a
    user who is no member."""
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied("Only members of a business have an inbox.")
    return member.business


def inbox_conversation(
    request: HttpRequest, conversation_id: int, *, labels: bool = True
) -> Conversation:
    """One of the member's business's conversations (see `conversation_get`,
    `labels` included); `Http404` otherwise."""
    try:
        return conversation_get(inbox_business(request), conversation_id, labels=labels)
    except Conversation.DoesNotExist as error:
        raise Http404("Conversation not found.") from error


def _lookups(request: HttpRequest, business: Business) -> dict[str, list]:
    """The business's channels, agents, teams and labels, loaded once per
    request (four queries) for the menus of the list and the thread."""
    cached = getattr(request, "_workspace_lookups", None)
    if cached is None:
        cached = {
            "channels": list(Channel.objects.filter(business=business)),
            "agents": workspace_agents(business),
            "teams": list(Team.objects.filter(business=business)),
            "labels": list(label_list(business)),
        }
        request._workspace_lookups = cached
    return cached


def _list_context(request: HttpRequest, business: Business) -> dict[str, Any]:
    """What the list pane renders: the view tabs with their counts, the
    filters (menus), the agent's saved filters and the first page of rows."""
    state = list_state(business, request.GET)
    counts = inbox_view_counts(business, request.user)
    member = request.user.member
    lookups = _lookups(request, business)
    return {
        "state": state,
        "views": [
            {
                "key": key,
                "name": name,
                "count": counts[key],
                "query": state.with_params(view=None if key == "all" else key),
            }
            for key, name in VIEWS
        ],
        "conversations": list_conversations(business, request.user, state)[
            :INBOX_PAGE_SIZE
        ],
        "filter_menus": _filter_menus(lookups, state),
        "channel_notices": [
            channel
            for channel in lookups["channels"]
            if (channel.is_active and channel.alert)
            or channel.setup_state
            in (Channel.SetupState.ACTION_REQUIRED, Channel.SetupState.FAILED)
        ],
        "saved_filters": saved_filter_list(member),
        "statuses": Conversation.Status.choices,
        **lookups,
    }


def _filter_menus(lookups: dict[str, list], state) -> list[dict[str, Any]]:
    """The list's filter menus: each with its `key`, `name`, the `current`
    choice's label, and `options` (label, query string, checked)."""

    def option(key: str, value: str | None, label: str, checked: bool) -> dict:
        return {
            "label": label,
            "query": state.with_params(**{key: value}),
            "checked": checked,
        }

    statuses = [option("status", "", _("Any status"), state.status is None)] + [
        option(
            "status",
            None if value == "open" else value,
            label,
            state.status == value,
        )
        for value, label in Conversation.Status.choices
    ]
    channels = [
        option("channel", None, _("All channels"), state.channel is None),
        *[
            option("channel", str(channel.pk), str(channel), channel == state.channel)
            for channel in lookups["channels"]
        ],
    ]
    agents = [
        option("assignee", None, _("Anyone"), state.assignee is None),
        option("assignee", "me", _("Me"), state.assignee == "me"),
        option("assignee", "none", _("Nobody"), state.assignee == "none"),
        *[
            option(
                "assignee",
                str(agent.pk),
                agent.display_name,
                agent.pk == state.assignee,
            )
            for agent in lookups["agents"]
        ],
    ]
    teams = [
        option("team", None, _("Any team"), state.team is None and not state.no_team),
        option("team", "none", _("No team"), state.no_team),
        *[
            option("team", str(team.pk), team.name, team == state.team)
            for team in lookups["teams"]
        ],
    ]
    labels = [
        option("label", None, _("Any label"), state.label is None),
        *[
            option("label", label.name, label.name, label == state.label)
            for label in lookups["labels"]
        ],
    ]
    menus = [
        ("status", _("Status"), statuses),
        ("channel", _("Channel"), channels),
        ("assignee", _("Assignee"), agents),
        ("team", _("Team"), teams),
        ("label", _("Label"), labels),
    ]
    return [
        {
            "key": key,
            "name": name,
            "current": next((o["label"] for o in options if o["checked"]), ""),
            "active": not options[0]["checked"]
            if key != "status"
            else state.status != Conversation.Status.OPEN,
            "options": options,
        }
        for key, name, options in menus
    ]


def _conversation_context(
    request: HttpRequest, conversation: Conversation
) -> dict[str, Any]:
    """What the thread pane and the customer panel render for `conversation`."""
    business = inbox_business(request)
    conversation.business = business  # the same row, already loaded
    channel = conversation.channel
    paused_until = channel.paused_until if channel else None
    return {
        "conversation": conversation,
        "thread": conversation_thread(conversation),
        "channel_paused_until": paused_until
        if paused_until and paused_until > timezone.now()
        else None,
        "statuses": Conversation.Status.choices,
        "conversation_labels": conversation.label_rows,
        "conversation_label_ids": {label["id"] for label in conversation.label_rows},
        **_lookups(request, business),
        "snooze_presets": snooze_presets(business),
        # The customer panel (contact details, other conversations, merge
        # suggestions): computed only when a template renders the panel.
        "panel": SimpleLazyObject(lambda: contact_panel(conversation)),
        # `?message=<id>` (a search result): that message is scrolled to and
        # marked.
        "found_message_id": _found_message_id(request),
    }


def _found_message_id(request: HttpRequest) -> int | None:
    raw = request.GET.get("message", "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _open_conversation(request: HttpRequest, conversation: Conversation) -> None:
    """The agent opened `conversation`: unread and their mentions cleared."""
    conversation_mark_read(conversation=conversation)
    mentions_mark_read(conversation=conversation, user=request.user)


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """The workspace: the conversation list (views Mine, Unassigned, All,
    Mentions and filters, see `conversations.workspace`), with no
    conversation open."""
    business = inbox_business(request)
    return render(
        request,
        "conversations/workspace.html",
        {"business": business, **_list_context(request, business)},
    )


@login_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The workspace with one conversation open: the list (under the query
    string's view and filters), its thread with the reply box, and the
    customer panel."""
    conversation = inbox_conversation(request, conversation_id)
    _open_conversation(request, conversation)
    business = inbox_business(request)
    return render(
        request,
        "conversations/workspace.html",
        {
            "business": business,
            **_list_context(request, business),
            **_conversation_context(request, conversation),
        },
    )


@login_required
@require_GET
def inbox_list(request: HttpRequest) -> HttpResponse:
    """The list pane alone (`_list_pane.html`), for the page to swap in when
    the view or a filter changes."""
    business = inbox_business(request)
    return render(
        request,
        "conversations/_list_pane.html",
        {"business": business, **_list_context(request, business)},
    )


@login_required
@require_GET
def inbox_counts(request: HttpRequest) -> JsonResponse:
    """`{"mine": n, "unassigned": n, "all": n, "mentions": n}`: the views'
    counts, for the page to refresh when conversations change."""
    return JsonResponse(inbox_view_counts(inbox_business(request), request.user))


@login_required
@require_GET
def conversation_pane(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The thread pane alone (`_thread_pane.html`: header with the actions,
    thread, reply box); opening it clears the unread count and the agent's
    mentions here. `?part=header` renders the header only (after a change)."""
    conversation = inbox_conversation(request, conversation_id)
    template = "conversations/_thread_pane.html"
    if request.GET.get("part") == "header":
        template = "conversations/_thread_header.html"
    else:
        _open_conversation(request, conversation)
    return render(request, template, _conversation_context(request, conversation))


@login_required
@require_GET
def conversation_panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The customer panel alone (`_customer_panel.html`): the conversation
    and `contact_panel`, without the thread's menus (agents, teams, labels),
    which the panel does not show."""
    conversation = inbox_conversation(request, conversation_id, labels=False)
    return render(
        request,
        "conversations/_customer_panel.html",
        {"conversation": conversation, "panel": contact_panel(conversation)},
    )


@login_required
@require_POST
def conversation_snooze(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Snooze from the page: `preset` (a key of `snooze_presets`), or `until`
    (`YYYY-MM-DDTHH:MM`, a time in the business's time zone), or `until=`
    empty with `preset=reply` (until the customer answers). 204 when done;
    400 with a plain-text reason otherwise."""
    conversation = inbox_conversation(request, conversation_id)
    business = inbox_business(request)
    preset = request.POST.get("preset", "")
    until = None
    if preset == "reply":
        until = None
    elif preset:
        until = next(
            (p.until for p in snooze_presets(business) if p.key == preset), None
        )
        if until is None:
            return HttpResponse(_("No such snooze choice."), status=400)
    else:
        raw = request.POST.get("until", "")
        try:
            local = datetime.fromisoformat(raw)
        except ValueError:
            return HttpResponse(_("Give a date and a time."), status=400)
        until = snooze_until_from_local(business, local.replace(tzinfo=None))
    try:
        conversation_update(
            conversation=conversation,
            by=request.user,
            status=Conversation.Status.SNOOZED,
            snoozed_until=until,
        )
    except ApplicationError as error:
        return HttpResponse(error.detail, status=400)
    return HttpResponse(status=204)


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


@login_required
@require_POST
def message_react_view(
    request: HttpRequest, conversation_id: int, message_id: int
) -> HttpResponse:
    """Set (or with an empty `emoji`, remove) the agent's reaction to a
    message (`message_react`), for browsers without JavaScript (the thread's
    script calls the API instead); a refusal is shown in the thread."""
    from conversations.api.serializers import ReactionSerializer
    from conversations.services.reactions import message_react

    conversation = inbox_conversation(request, conversation_id)
    message = get_object_or_404(conversation_message_list(conversation), pk=message_id)
    serializer = ReactionSerializer(data={"emoji": request.POST.get("emoji", "")})
    if not serializer.is_valid():
        flash.error(request, serializer.errors["emoji"][0])
    else:
        try:
            message_react(
                message=message,
                agent=request.user,
                emoji=serializer.validated_data["emoji"],
            )
        except ApplicationError as error:
            flash.error(request, error.detail)
    return redirect("conversation", conversation_id=conversation.pk)


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
    Instagram). 404 for a forged or expired token, or a file gone from
    storage.

    The file is streamed from storage (the file system or the bucket). With
    the bucket's `redirect` option (`PINGBACK_MEDIA_REDIRECT`), browsers'
    links answer 302 to a short-lived pre-signed bucket URL instead; links
    made for platforms always stream.

    A JPEG, PNG, GIF or WebP image is served `inline` with its type; any other
    file as `Content-Disposition: attachment` and `application/octet-stream`
    (a pre-signed URL asks the bucket for the same). Every streamed file
    carries `X-Content-Type-Options: nosniff` and its own
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
    served_type = content_type if inline else "application/octet-stream"
    filename = item.get("filename") or "file"
    if not resolved.for_platform:
        redirect_url = attachment_redirect_url(
            stored, content_type=served_type, filename=filename, inline=inline
        )
        if redirect_url:
            response = HttpResponseRedirect(redirect_url)
            response["Cache-Control"] = "private, no-store"
            return response
    try:
        file, size = attachment_file_open(stored)
    except FileNotFoundError as error:
        raise Http404("The file is no longer stored.") from error
    response = FileResponse(
        file,
        as_attachment=not inline,
        filename=filename,
        content_type=served_type,
    )
    if size is not None and not response.has_header("Content-Length"):
        response["Content-Length"] = str(size)
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

"""Page endpoints of the inbox's customer panel
(`templates/conversations/_customer_panel.html`, `static/contacts/panel.js`).

Every endpoint is under the open conversation (`/conversations/<id>/panel/
...`), needs a logged-in member of the conversation's business (404
otherwise) and, for writes, the CSRF token. A write answers the re-rendered
panel (HTML, 200) or 400 with the reason as plain text (nothing changed; the
page keeps what the agent typed).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from contacts.selectors.merge import (
    contact_merge_preview,
    contact_panel,
    contacts_with_fallbacks,
)
from contacts.services.contacts import (
    ContactInvalid,
    contact_attributes_set,
    contact_update,
)
from contacts.services.merge import contact_merge, merge_dismiss
from conversations.models import Contact, Conversation
from conversations.views import inbox_conversation
from pingback.errors import ApplicationError

NOTE_MAX_LENGTH = 20_000


def _panel(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    """The customer panel of `conversation`, rendered afresh."""
    return render(
        request,
        "conversations/_customer_panel.html",
        {"conversation": conversation, "panel": contact_panel(conversation)},
    )


def _refusal(detail: str) -> HttpResponse:
    return HttpResponse(detail, status=400, content_type="text/plain; charset=utf-8")


def _other(request: HttpRequest, conversation: Conversation, raw: str) -> Contact:
    """The contact `raw` names in the conversation's business; `Http404`
    otherwise (unknown, another business's, not a whole number)."""
    try:
        return contacts_with_fallbacks(
            Contact.objects.filter(business_id=conversation.business_id)
        ).get(pk=int(raw))
    except (Contact.DoesNotExist, ValueError) as error:
        raise Http404("No such contact.") from error


def _typed(text: str, current: object) -> object:
    """The value the agent typed, keeping the attribute's type when the text
    reads as one (`12` stays a number, `true` a boolean); else the text."""
    if isinstance(current, bool):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
    elif isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            pass
    elif isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            pass
    return text


@login_required
@require_POST
def panel_attribute(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Set (`key`, `value`) or remove (`key`, `remove=1`) one custom attribute
    of the conversation's contact (`contact_attributes_set`). `original_key`,
    when given and different from `key`, is removed in the same change (a
    renamed key). 400 with the reason: no key, an empty value, a key or value
    the contact services refuse."""
    conversation = inbox_conversation(request, conversation_id, labels=False)
    contact = conversation.contact
    key = request.POST.get("key", "").strip()
    original = request.POST.get("original_key", "").strip()
    if not key:
        return _refusal(gettext("Give the attribute a name."))
    changes: dict[str, object]
    if request.POST.get("remove"):
        changes = {key: None}
    else:
        value = request.POST.get("value", "").strip()
        if not value:
            return _refusal(gettext("Give a value, or remove the attribute."))
        current = (contact.custom_attributes or {}).get(original or key)
        changes = {key: _typed(value, current)}
        if original and original != key:
            changes[original] = None
    try:
        contact_attributes_set(contact, changes)
    except ContactInvalid as error:
        return _refusal(error.detail)
    return _panel(request, conversation)


@login_required
@require_POST
def panel_note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Replace the agents' note on the conversation's contact (`note`, at
    most 20,000 characters; empty clears it)."""
    conversation = inbox_conversation(request, conversation_id, labels=False)
    note = request.POST.get("note", "").replace("\r\n", "\n")
    if len(note) > NOTE_MAX_LENGTH:
        return _refusal(f"A note holds at most {NOTE_MAX_LENGTH:,} characters.")
    contact_update(conversation.contact, note=note.strip())
    return _panel(request, conversation)


@login_required
@require_GET
def panel_merge_preview(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """What merging `?other_id=` into the conversation's contact would move
    (`templates/contacts/_merge_preview.html`), with the Merge button."""
    conversation = inbox_conversation(request, conversation_id, labels=False)
    kept = contacts_with_fallbacks(
        Contact.objects.filter(pk=conversation.contact_id)
    ).get()
    other = _other(request, conversation, request.GET.get("other_id", ""))
    if other.pk == kept.pk:
        return _refusal("A contact cannot be merged into itself.")
    return render(
        request,
        "contacts/_merge_preview.html",
        {
            "conversation": conversation,
            "other": other,
            "preview": contact_merge_preview(kept, other),
        },
    )


@login_required
@require_POST
def panel_merge(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Merge `other_id` into the conversation's contact (`contact_merge`, by
    the agent) and answer the panel, which then shows both contacts'
    identities, details and conversations. 404 for a contact not of the
    business; 400 with the reason when the merge is refused."""
    conversation = inbox_conversation(request, conversation_id, labels=False)
    other = _other(request, conversation, request.POST.get("other_id", ""))
    try:
        contact_merge(kept=conversation.contact, other=other, by=request.user)
    except ApplicationError as error:
        if error.status_code == 404:
            raise Http404(error.detail) from error
        return _refusal(error.detail)
    return _panel(request, conversation)


@login_required
@require_POST
def panel_merge_dismiss(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """ "Not the same person": `other_id` is no longer suggested for the
    conversation's contact (`merge_dismiss`). Answers the panel."""
    conversation = inbox_conversation(request, conversation_id, labels=False)
    other = _other(request, conversation, request.POST.get("other_id", ""))
    try:
        merge_dismiss(conversation.contact, other, request.user)
    except ApplicationError as error:
        return _refusal(error.detail)
    return _panel(request, conversation)

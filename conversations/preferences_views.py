"""The agent's notification preferences page (`/settings/preferences/`).

GET: four switches (new conversation, customer reply, mention, sound) and the
browser's notification permission with a button to ask for it.

POST, three forms (CSRF token required for each):

- the language of the member's pages: `language` (one of `settings.LANGUAGES`'
  codes, or empty for the browser's); redirects back to the page, now in that
  language, with "Language saved."; an unknown code answers 400 with the page
  and the error on the field;

- one switch, as the page's script saves it without reloading: `field` (one
  of `PREFERENCE_FIELDS`) and `value` (`1`/`0`, `true`/`false`, `on`/`off`);
  answers 200 JSON with all four switches, e.g.
  `{"notify_new_conversation": true, "notify_customer_reply": true,
  "notify_mention": false, "notify_sound": false}`, or 400
  `{"field": ["..."]}` / `{"value": ["..."]}` naming what is wrong;
- the whole form, without script: each switch's checkbox (present: on,
  absent: off); redirects back to the page with "Preferences saved.".

Logged-in members only (anyone else: the login page; a user of no business:
403).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import Member
from billing.permissions import member_of
from billing.services import member_language_set
from conversations.notifications import PREFERENCE_FIELDS, member_preferences_update
from pingback.errors import FieldInvalid

LABELS = {
    "notify_new_conversation": (
        _("New conversations"),
        _(
            "A customer starts a conversation assigned to me, to my team, or to "
            "nobody yet."
        ),
    ),
    "notify_customer_reply": (
        _("Customer replies"),
        _("A customer writes again in a conversation assigned to me."),
    ),
    "notify_mention": (_("Mentions"), _("Another agent mentions me in a note.")),
    "notify_sound": (_("Sound"), _("Play a short sound with each notification.")),
}
_TRUE = {"1", "true", "on"}
_FALSE = {"0", "false", "off"}


def _member(request: HttpRequest) -> Member:
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied("Only a member of a business may see this page.")
    return member


def _switches(member: Member) -> dict[str, bool]:
    return {field: getattr(member, field) for field in PREFERENCE_FIELDS}


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """The preferences page and its POST forms (see the module)."""
    member = _member(request)
    language_error = None
    if request.method == "POST":
        if "field" in request.POST:
            return _save_one(request, member)
        if "language" in request.POST:
            try:
                member_language_set(member=member, language=request.POST["language"])
            except FieldInvalid as error:
                language_error = str(error)
            else:
                translation.activate(
                    member.language or translation.get_language_from_request(request)
                )
                flash.success(request, gettext("Language saved."))
                return redirect("preferences")
        else:
            member_preferences_update(
                member=member,
                changes={field: field in request.POST for field in PREFERENCE_FIELDS},
            )
            flash.success(request, gettext("Preferences saved."))
            return redirect("preferences")
    switches = [
        {
            "field": field,
            "label": LABELS[field][0],
            "help": LABELS[field][1],
            "on": getattr(member, field),
        }
        for field in PREFERENCE_FIELDS
    ]
    return render(
        request,
        "conversations/preferences.html",
        {
            "switches": switches,
            "languages": settings.LANGUAGES,
            "language": member.language,
            "language_error": language_error,
        },
        status=400 if language_error else 200,
    )


def _save_one(request: HttpRequest, member: Member) -> JsonResponse:
    field = request.POST["field"]
    value = request.POST.get("value", "").strip().lower()
    if field not in PREFERENCE_FIELDS:
        return JsonResponse(
            {"field": [f"Must be one of: {', '.join(PREFERENCE_FIELDS)}."]},
            status=400,
        )
    if value not in _TRUE | _FALSE:
        return JsonResponse({"value": ["Must be 1 or 0."]}, status=400)
    member_preferences_update(member=member, changes={field: value in _TRUE})
    return JsonResponse(_switches(member))

"""Settings pages for a business's canned responses, labels and teams.

Every member sees the lists (read-only for agents, with no form); admins
create, edit and delete. Another business's id answers 404 like an unknown
one; a member who is not an admin gets 403 on every page that writes (GET
and POST alike) and nothing changes; a user who is not a member gets 403;
anonymous visitors are sent to the login page.

Writes are validated by the API's input serializers and stored by
`workspace.services`, exactly as `/api/v1/canned_responses/`, `/api/v1/labels/`
and `/api/v1/teams/` do: a refused value is shown beside its field (answer
400) with the words the API would give, and the form keeps what was typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_lazy
from rest_framework import serializers

from billing.models import Member
from billing.permissions import member_of
from workspace import selectors, services
from workspace.api.serializers import (
    CannedResponseInputSerializer,
    LabelInputSerializer,
    TeamInputSerializer,
)
from workspace.models import LABEL_DEFAULT_COLOR, CannedResponse, Label, Team

READ_ONLY_NOTE = gettext_lazy("Only admins can change these.")
Row = TypeVar("Row", bound=Model)
SEARCH_MAX_LENGTH = 100


def _member(request: HttpRequest) -> Member:
    """The logged-in member; `PermissionDenied` (403) for a user who is not a
    member of a business."""
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied("Only members of a business see its settings.")
    return member


def _admin(request: HttpRequest) -> Member:
    """The logged-in member if an admin; `PermissionDenied` (403) otherwise."""
    member = _member(request)
    if not member.is_admin:
        raise PermissionDenied(READ_ONLY_NOTE)
    return member


def member_name(member: Member) -> str:
    """A member's full name, or their login when they have none."""
    return member.user.get_full_name() or member.user.get_username()


def _errors(error: serializers.ValidationError | DjangoValidationError) -> dict:
    """A refusal (the serializer's or the service's) as lines per field."""
    detail = error.detail if isinstance(error, serializers.ValidationError) else None
    if detail is None:
        detail = error.message_dict
    lines: dict[str, list[str]] = {}
    for field, problems in detail.items():
        if isinstance(problems, dict):  # a list field: errors by index
            problems = [p for group in problems.values() for p in group]
        if not isinstance(problems, list | tuple):
            problems = [problems]
        lines[field] = [str(problem) for problem in problems]
    return lines


def _isolated(text: str) -> str:
    """`text` between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE, for
    the flash line (no `<bdi>` there): a right-to-left override in a name
    cannot reorder the words after it."""
    return f"\u2068{text}\u2069"


@dataclass(frozen=True)
class Kind:
    """What differs between the three settings pages."""

    key: str  # the template folder and URL names' middle part
    singular: str  # "canned response"
    plural: str  # "canned responses"
    list_url: str
    get: Callable[[Any, int], Model]
    values_of: Callable[[Any], dict[str, Any]]  # a row as the form's values
    values_from_post: Callable[[Any], dict[str, Any]]
    save: Callable[[Member, Model | None, dict[str, Any]], Model]
    delete: Callable[[Model], None]
    title_of: Callable[[Model], str]


# ------------------------------------------------------------------ canned responses


def _canned_values(canned: CannedResponse) -> dict[str, Any]:
    return {"short_code": canned.short_code, "content": canned.content}


def _canned_post(post) -> dict[str, Any]:
    return {
        "short_code": post.get("short_code", ""),
        "content": post.get("content", ""),
    }


def _canned_save(
    member: Member, canned: CannedResponse | None, values: dict[str, Any]
) -> CannedResponse:
    data = _validated(CannedResponseInputSerializer, values)
    if canned is None:
        return services.canned_response_create(
            business=member.business, created_by=member, **data
        )
    return services.canned_response_update(canned=canned, **data)


CANNED = Kind(
    key="canned_responses",
    singular="canned response",
    plural="canned responses",
    list_url="settings-canned-responses",
    get=selectors.canned_response_get,
    values_of=_canned_values,
    values_from_post=_canned_post,
    save=_canned_save,
    delete=lambda canned: services.canned_response_delete(canned=canned),
    title_of=lambda canned: f"/{canned.short_code}",
)


# ------------------------------------------------------------------ labels


def _label_values(label: Label) -> dict[str, Any]:
    return {"name": label.name, "color": label.color, "description": label.description}


def _label_post(post) -> dict[str, Any]:
    values = {"name": post.get("name", ""), "description": post.get("description", "")}
    color = post.get("color", "").strip()
    if color:  # empty: the default grey, as the API gives when it is left out
        values["color"] = color
    return values


def _label_save(member: Member, label: Label | None, values: dict[str, Any]) -> Label:
    data = _validated(LabelInputSerializer, values)
    data.setdefault("description", "")
    if label is None:
        return services.label_create(business=member.business, **data)
    return services.label_update(label=label, **data)


LABELS = Kind(
    key="labels",
    singular="label",
    plural="labels",
    list_url="settings-labels",
    get=selectors.label_get,
    values_of=_label_values,
    values_from_post=_label_post,
    save=_label_save,
    delete=lambda label: services.label_delete(label=label),
    title_of=lambda label: label.name,
)


# ------------------------------------------------------------------ teams


def _team_values(team: Team) -> dict[str, Any]:
    return {
        "name": team.name,
        "description": team.description,
        "member_ids": [str(member.user_id) for member in team.members.all()],
    }


def _team_post(post) -> dict[str, Any]:
    return {
        "name": post.get("name", ""),
        "description": post.get("description", ""),
        "member_ids": post.getlist("member_ids"),
    }


def _team_save(member: Member, team: Team | None, values: dict[str, Any]) -> Team:
    data = _validated(TeamInputSerializer, values)
    fields = {
        "name": data["name"],
        "description": data.get("description", ""),
        "member_user_ids": data.get("member_ids", []),
    }
    if team is None:
        return services.team_create(business=member.business, **fields)
    return services.team_update(team=team, **fields)


TEAMS = Kind(
    key="teams",
    singular="team",
    plural="teams",
    list_url="settings-teams",
    get=selectors.team_get,
    values_of=_team_values,
    values_from_post=_team_post,
    save=_team_save,
    delete=lambda team: services.team_delete(team=team),
    title_of=lambda team: team.name,
)

KINDS = {kind.key: kind for kind in (CANNED, LABELS, TEAMS)}


def _validated(serializer_class, values: dict[str, Any]) -> dict[str, Any]:
    """`values` checked by the API's input serializer; raises its
    `ValidationError` (400 in the API) when refused."""
    serializer = serializer_class(data=values)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# ------------------------------------------------------------------ pages


def business_row_or_404(
    get: Callable[[Any, int], Row], member: Member, row_id: int, message: str
) -> Row:
    """`get(member.business, row_id)`, the selector reading one row of the
    member's business; `Http404` with `message` when it raises
    `ObjectDoesNotExist` (an unknown id or another business's row, alike)."""
    try:
        return get(member.business, row_id)
    except ObjectDoesNotExist as error:
        raise Http404(message) from error


def settings_page_for(app: str) -> Callable[..., HttpResponse]:
    """The page function of an app's settings section: `page(request,
    template, context, status=200)` renders `<app>/settings/<template>` with
    `context` and `section` = `app` (the settings menu's current entry)."""

    def page(
        request: HttpRequest,
        template: str,
        context: dict[str, Any],
        status: int = 200,
    ) -> HttpResponse:
        return render(
            request,
            f"{app}/settings/{template}",
            {"section": app} | context,
            status=status,
        )

    return page


def _row(kind: Kind, member: Member, row_id: int) -> Model:
    return business_row_or_404(kind.get, member, row_id, f"No such {kind.singular}.")


def _page(
    request: HttpRequest, kind: Kind, template: str, context: dict, status: int = 200
) -> HttpResponse:
    return render(
        request,
        f"workspace/settings/{template}",
        {"kind": kind, "section": kind.key, "read_only_note": READ_ONLY_NOTE} | context,
        status=status,
    )


def _form_context(member: Member, kind: Kind, values: dict[str, Any]) -> dict:
    context: dict[str, Any] = {"values": values}
    if kind is LABELS:
        color = values.get("color") or ""
        valid = len(color) == 7 and color.startswith("#")
        context["picker_color"] = color.lower() if valid else LABEL_DEFAULT_COLOR
        context["default_color"] = LABEL_DEFAULT_COLOR
    if kind is TEAMS:
        chosen = set(values.get("member_ids") or [])
        members = sorted(
            selectors.agent_list(member.business),
            key=lambda m: (member_name(m).casefold(), m.user_id),
        )
        context["member_choices"] = [
            {
                "id": m.user_id,
                "name": member_name(m),
                "role": m.get_role_display(),
                "checked": str(m.user_id) in chosen,
            }
            for m in members
        ]
    return context


def _form(request: HttpRequest, kind: Kind, row_id: int | None) -> HttpResponse:
    """GET: the create (row_id None) or edit form. POST: save through the
    services and back to the list, or the form again (400) with the refusal
    beside its field and what was typed."""
    member = _admin(request)
    row = _row(kind, member, row_id) if row_id is not None else None
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = kind.values_from_post(request.POST)
        try:
            saved = kind.save(member, row, values)
        except (serializers.ValidationError, DjangoValidationError) as error:
            errors = _errors(error)
        else:
            verb = "created" if row is None else "saved"
            title = _isolated(kind.title_of(saved))
            flash.success(request, f"{kind.singular.capitalize()} “{title}” {verb}.")
            return redirect(kind.list_url)
        if row is not None:  # a refused rename: the row keeps its old name
            row.refresh_from_db()
    else:
        values = kind.values_of(row) if row is not None else {}
    context = _form_context(member, kind, values) | {"row": row, "errors": errors}
    return _page(
        request, kind, f"{kind.key}_form.html", context, status=400 if errors else 200
    )


def _delete(request: HttpRequest, kind: Kind, row_id: int) -> HttpResponse:
    """GET: what deleting does, and a button to confirm. POST: delete through
    the service and back to the list."""
    member = _admin(request)
    row = _row(kind, member, row_id)
    title = kind.title_of(row)
    if request.method == "POST":
        kind.delete(row)
        flash.success(
            request, f"{kind.singular.capitalize()} “{_isolated(title)}” deleted."
        )
        return redirect(kind.list_url)
    context: dict[str, Any] = {"row": row, "title": title}
    if kind is LABELS:
        context["conversation_count"] = row.conversation_links.count()
    if kind is TEAMS:
        context["conversation_count"] = row.conversations.count()
    return _page(request, kind, "confirm_delete.html", context)


@login_required
def canned_responses(request: HttpRequest) -> HttpResponse:
    """The business's canned responses by short code: short code, a preview of
    the content, who created it; `?q=` (up to 100 characters, ignoring case)
    keeps those whose short code or content contains it. A fixed number of
    queries however many."""
    member = _member(request)
    search = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    rows = selectors.canned_response_list(member.business, search=search)
    return _page(
        request,
        CANNED,
        "canned_responses.html",
        {"rows": rows, "search": search, "can_edit": member.is_admin},
    )


@login_required
def labels(request: HttpRequest) -> HttpResponse:
    """The business's labels by name: colour, name, description, how many
    conversations carry each. A fixed number of queries however many."""
    member = _member(request)
    rows = selectors.label_list(member.business).annotate(
        conversation_count=Count("conversation_links")
    )
    return _page(
        request, LABELS, "labels.html", {"rows": rows, "can_edit": member.is_admin}
    )


@login_required
def teams(request: HttpRequest) -> HttpResponse:
    """The business's teams by name with their members (prefetched: a fixed
    number of queries however many)."""
    member = _member(request)
    rows = selectors.team_list(member.business)
    return _page(
        request, TEAMS, "teams.html", {"rows": rows, "can_edit": member.is_admin}
    )


@login_required
def settings_new(request: HttpRequest, kind: str) -> HttpResponse:
    """Create a canned response, label or team (admins)."""
    return _form(request, KINDS[kind], None)


@login_required
def settings_edit(request: HttpRequest, kind: str, row_id: int) -> HttpResponse:
    """Edit one of the business's canned responses, labels or teams (admins)."""
    return _form(request, KINDS[kind], row_id)


@login_required
def settings_delete(request: HttpRequest, kind: str, row_id: int) -> HttpResponse:
    """Confirm, then delete, one of the business's canned responses, labels or
    teams (admins)."""
    return _delete(request, KINDS[kind], row_id)


@login_required
def business_settings(request: HttpRequest) -> HttpResponse:
    """The business's general settings: name, time zone, default country
    (for phone numbers written without a country code) and search language;
    its business hours (one row per weekday) and each channel's away
    message. Every member sees them; admins change them (POST; 403 for
    agents), one form at a time (`form`: `general`, `hours`, `away` or
    `csat`, customer satisfaction ratings: `satisfaction.settings_views`). A
    refused value is shown beside its field (400) and what was typed stays;
    a new search language re-indexes the messages in the background
    (`billing.services.business_settings_update`)."""
    member = _member(request)
    posted = request.POST.get("form", "general") if request.method == "POST" else ""
    if posted:
        member = _admin(request)
    from satisfaction.settings_views import csat_post

    handler = {"hours": _hours_post, "away": _away_post, "csat": csat_post}.get(
        posted, _general_post
    )
    context = handler(request, member.business, posted)
    if context is None:
        return redirect("settings-business")
    return _business_page(request, member, context)


def _business_page(request: HttpRequest, member: Member, posted: dict) -> HttpResponse:
    """The page, with the posted form's typed values and errors in `posted`
    (`general`, `hours` or `away` as keys) and the others as stored."""
    import zoneinfo

    from billing.selectors import countries, search_languages
    from billing.services import BUSINESS_SETTINGS

    business = member.business
    general = posted.get("general") or {
        "values": {key: getattr(business, key) for key in BUSINESS_SETTINGS},
        "errors": {},
    }
    hours = posted.get("hours") or _hours_stored(business)
    away = posted.get("away") or _away_stored(business)
    from satisfaction.settings_views import csat_stored

    csat = posted.get("csat") or csat_stored(business)
    refused = bool(
        general["errors"]
        or hours["week_errors"]
        or any(day["errors"] for day in hours["days"])
        or any(row["errors"] for row in away["rows"])
        or csat["errors"]
    )
    return render(
        request,
        "workspace/settings/business.html",
        {
            "section": "business",
            "read_only_note": READ_ONLY_NOTE,
            "can_edit": member.is_admin,
            "values": general["values"],
            "errors": general["errors"],
            "hours": hours,
            "hours_zone": business.time_zone,
            "away": away,
            "csat": csat,
            "refused": refused,
            "time_zones": sorted(zoneinfo.available_timezones()),
            "countries": countries(),
            "search_languages": search_languages(),
            "plan": business.get_plan_display(),
        },
        status=400 if refused else 200,
    )


def _general_post(request: HttpRequest, business, posted: str) -> dict | None:
    """Save the general settings from a POST; the page's context for the
    form when refused (None when saved, or for a GET)."""
    from billing.services import BUSINESS_SETTINGS, business_settings_update
    from pingback.errors import FieldInvalid

    if not posted:
        return {}
    values = {key: request.POST.get(key, "") for key in BUSINESS_SETTINGS}
    before = business.search_language
    try:
        business_settings_update(business=business, **values)
    except FieldInvalid as error:
        return {"general": {"values": values, "errors": {error.field: [error.detail]}}}
    line = gettext("Settings saved.")
    if business.search_language != before:
        line += " " + gettext(
            "Messages are being re-indexed for the new search language;"
            " until it is done, older messages are found as before."
        )
    flash.success(request, line)
    return None


# ------------------------------------------------------------------ business hours


def _day_names() -> list[str]:
    return [
        gettext("Monday"),
        gettext("Tuesday"),
        gettext("Wednesday"),
        gettext("Thursday"),
        gettext("Friday"),
        gettext("Saturday"),
        gettext("Sunday"),
    ]


def _hours_stored(business) -> dict:
    """The hours form as stored: one row per weekday, a closed day with
    one blank interval to fill."""
    from workspace.hours import WEEKDAYS, clock

    hours = selectors.business_hours(business)
    week = hours.week if hours is not None else {}
    days = []
    for weekday, (key, name) in enumerate(zip(WEEKDAYS, _day_names(), strict=True)):
        intervals = [(clock(o), clock(c)) for o, c in sorted(week.get(weekday, ()))]
        days.append(
            {
                "key": key,
                "name": name,
                "open": bool(intervals),
                "intervals": intervals or [("", "")],
                "errors": [],
            }
        )
    return {"enabled": hours is not None, "days": days, "week_errors": []}


def _hours_post(request: HttpRequest, business, posted: str) -> dict | None:
    """Save the week from the hours form: per weekday an `<day>-open`
    checkbox and `<day>-opens` / `<day>-closes` lists (blank pairs
    ignored); `hours_enabled` off removes the hours. The form as typed,
    with each day's errors, when refused; None when saved."""
    from workspace.hours import WEEKDAYS, BusinessHoursInvalid, week_parse

    enabled = request.POST.get("hours_enabled") == "on"
    days = []
    week: dict[str, list[dict[str, str]]] = {}
    for key, name in zip(WEEKDAYS, _day_names(), strict=True):
        pairs = list(
            zip(
                request.POST.getlist(f"{key}-opens"),
                request.POST.getlist(f"{key}-closes"),
                strict=False,
            )
        )[:20]
        is_open = request.POST.get(f"{key}-open") == "on"
        filled = [(o.strip(), c.strip()) for o, c in pairs if o.strip() or c.strip()]
        day = {
            "key": key,
            "name": name,
            "open": is_open,
            "intervals": [(o[:10], c[:10]) for o, c in pairs] or [("", "")],
            "errors": [],
        }
        if enabled and is_open and not filled:
            day["errors"] = [
                gettext("Give the hours it opens, or untick Open for a closed day.")
            ]
        days.append(day)
        week[key] = [{"opens": o, "closes": c} for o, c in filled] if is_open else []
    form = {"enabled": enabled, "days": days, "week_errors": []}
    if any(day["errors"] for day in days):
        return {"hours": form}
    parsed = None
    if enabled:
        try:
            parsed = week_parse(week)
        except BusinessHoursInvalid as error:
            for day in days:
                day["errors"] = error.errors.get(day["key"], [])
            form["week_errors"] = error.errors.get("business_hours", [])
            return {"hours": form}
    services.business_hours_set(business=business, week=parsed)
    flash.success(
        request,
        gettext("Business hours saved.")
        if enabled
        else gettext("Business hours removed: PingBack counts every hour as open."),
    )
    return None


# ------------------------------------------------------------------ away messages


def _away_stored(business) -> dict:
    return {
        "rows": [
            {
                "channel": channel,
                "key": f"away-{channel.pk}-body",
                "enabled": away.enabled,
                "body": away.body,
                "errors": [],
            }
            for channel, away in selectors.away_message_list(business)
        ]
    }


def _away_post(request: HttpRequest, business, posted: str) -> dict | None:
    """Save every channel's away message from the away form
    (`away-<channel id>-enabled`, `away-<channel id>-body`), all or none:
    the form as typed, with each channel's errors, when one is refused."""
    from django.db import transaction

    rows = []
    for channel, _ in selectors.away_message_list(business):
        rows.append(
            {
                "channel": channel,
                "key": f"away-{channel.pk}-body",
                "enabled": request.POST.get(f"away-{channel.pk}-enabled") == "on",
                "body": request.POST.get(f"away-{channel.pk}-body", ""),
                "errors": [],
            }
        )
    try:
        with transaction.atomic():
            for row in rows:
                try:
                    services.away_message_save(
                        channel=row["channel"], enabled=row["enabled"], body=row["body"]
                    )
                except DjangoValidationError as error:
                    row["errors"] = _errors(error).get("body", [])
            if any(row["errors"] for row in rows):
                raise _Refused
    except _Refused:
        return {"away": {"rows": rows}}
    flash.success(request, gettext("Away messages saved."))
    return None


class _Refused(Exception):
    """Rolls back the away messages saved before one was refused."""

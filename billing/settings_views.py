"""Settings pages for a business's admins: members (invitations, roles,
deactivation), API tokens and the plan; and the page an invited member opens
to set their password.

Only admins see the three settings pages: an agent gets 403 on every one,
GET and POST alike, and nothing changes; anonymous visitors are sent to the
login page. Another business's member or token answers 404 like an unknown
one. Every write goes through `billing.services`, as the REST API's do.
"""

from __future__ import annotations

import smtplib

from django.contrib import messages as flash
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from billing import selectors, services
from billing.models import ApiToken, Member
from pingback.errors import ApplicationError, FieldInvalid
from workspace.settings_views import _admin, _isolated, member_name

TOKEN_NAME_MAX = 100


def _page(request: HttpRequest, template: str, context: dict, status: int = 200):
    return render(request, f"billing/settings/{template}", context, status=status)


def _member(admin: Member, member_id: int) -> Member:
    try:
        return selectors.member_get(admin.business, member_id)
    except Member.DoesNotExist as error:
        raise Http404("No such member.") from error


# ------------------------------------------------------------------ members


@login_required
def members(request: HttpRequest) -> HttpResponse:
    """GET: the business's members (name, e-mail, role, state: active,
    invited, deactivated) and the invitation form. POST (`email`, `role`):
    invite through `billing.services.member_invite`; a refused field is shown
    beside it (400) and what was typed stays."""
    admin = _admin(request)
    errors: dict[str, list[str]] = {}
    values = {"email": "", "role": Member.Role.AGENT}
    if request.method == "POST":
        values = {
            "email": request.POST.get("email", "")[:254],
            "role": request.POST.get("role", ""),
        }
        try:
            invitation, _token = services.member_invite(
                business=admin.business, by=admin, **values
            )
        except FieldInvalid as error:
            errors = {error.field: [error.detail]}
        except (OSError, smtplib.SMTPException):
            flash.error(
                request,
                _(
                    "%(email)s was added, but the invitation e-mail could not be "
                    "sent. Use “Send again” once mail works."
                )
                % {"email": _isolated(values["email"].strip())},
            )
            return redirect("settings-members")
        else:
            flash.success(
                request,
                _("Invitation sent to %(email)s.")
                % {"email": _isolated(invitation.member.user.email)},
            )
            return redirect("settings-members")
    return _page(
        request,
        "members.html",
        {
            "section": "members",
            "rows": selectors.member_list(admin.business),
            "me": admin,
            "roles": Member.Role.choices,
            "values": values,
            "errors": errors,
            "days": services.INVITATION_TTL.days,
        },
        status=400 if errors else 200,
    )


@login_required
@require_POST
def member_role(request: HttpRequest, member_id: int) -> HttpResponse:
    """POST `role`: make the member an admin or an agent
    (`billing.services.member_role_change`); the only active admin stays
    one (the refusal is shown on the list)."""
    admin = _admin(request)
    member = _member(admin, member_id)
    try:
        services.member_role_change(
            member=member, role=request.POST.get("role", ""), by=admin
        )
    except ApplicationError as error:
        flash.error(request, error.detail)
    else:
        flash.success(
            request,
            _("%(name)s is now %(role)s.")
            % {
                "name": _isolated(member_name(member)),
                "role": member.get_role_display().lower(),
            },
        )
    return redirect("settings-members")


@login_required
@require_POST
def member_resend(request: HttpRequest, member_id: int) -> HttpResponse:
    """POST: e-mail a member who has not set a password yet a new invitation
    link; their older links stop working."""
    admin = _admin(request)
    member = _member(admin, member_id)
    try:
        services.member_invite_resend(member=member, by=admin)
    except ApplicationError as error:
        flash.error(request, error.detail)
    except (OSError, smtplib.SMTPException):
        flash.error(request, _("The invitation e-mail could not be sent."))
    else:
        flash.success(
            request,
            _("A new invitation was sent to %(email)s.")
            % {"email": _isolated(member.user.email)},
        )
    return redirect("settings-members")


@login_required
def member_deactivate(request: HttpRequest, member_id: int) -> HttpResponse:
    """GET: what deactivating does (how many conversations get unassigned),
    and a button to confirm. POST: deactivate
    (`billing.services.member_deactivate`) and back to the list."""
    admin = _admin(request)
    member = _member(admin, member_id)
    if request.method == "POST":
        try:
            count = services.member_deactivate(member=member, by=admin)
        except ApplicationError as error:
            flash.error(request, error.detail)
        else:
            flash.success(
                request,
                ngettext(
                    "%(name)s was deactivated; %(count)s conversation unassigned.",
                    "%(name)s was deactivated; %(count)s conversations unassigned.",
                    count,
                )
                % {"name": _isolated(member_name(member)), "count": count},
            )
            if member.pk == admin.pk:
                return redirect("login")
        return redirect("settings-members")
    return _page(
        request,
        "member_deactivate.html",
        {
            "section": "members",
            "member": member,
            "name": member_name(member),
            "me": admin,
            "conversation_count": selectors.member_open_conversation_count(member),
        },
    )


@login_required
@require_POST
def member_reactivate(request: HttpRequest, member_id: int) -> HttpResponse:
    """POST: let a deactivated member log in again."""
    admin = _admin(request)
    member = _member(admin, member_id)
    services.member_reactivate(member=member, by=admin)
    flash.success(
        request,
        _("%(name)s can log in again.") % {"name": _isolated(member_name(member))},
    )
    return redirect("settings-members")


# ------------------------------------------------------------------ invitations


# The session key holding the token of the invitation being accepted.
INVITATION_SESSION_KEY = "_invitation_token"


def invitation_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link of an invitation e-mail: keeps its token in the session and
    redirects to `invitation_accept`, whose address holds no secret (so
    server and error logs of the form's requests never show a working
    token); 410 when the link does not work any more."""
    try:
        services.invitation_check(token)
    except ApplicationError as error:
        return _invitation_invalid(request, error.detail)
    request.session[INVITATION_SESSION_KEY] = token
    return _private(redirect("invitation-accept"))


def invitation_accept(request: HttpRequest) -> HttpResponse:
    """GET: a form to choose a password for the invitation opened in this
    browser (`invitation_link`), or 410 when it does not work any more. POST
    (`password`, `password2`): set it (`billing.services.invitation_accept`),
    log the member in and go to the inbox; a refused password is shown
    beside its field (400) and the link keeps working."""
    token = request.session.get(INVITATION_SESSION_KEY, "")
    errors: dict[str, list[str]] = {}
    try:
        invitation = services.invitation_check(token)
    except ApplicationError as error:
        return _invitation_invalid(request, error.detail)
    if request.method == "POST":
        password = request.POST.get("password", "")
        if password != request.POST.get("password2", ""):
            errors = {"password2": [_("The two passwords differ.")]}
        else:
            try:
                member = services.invitation_accept(token=token, password=password)
            except FieldInvalid as error:
                errors = {error.field: [error.detail]}
            except ApplicationError as error:
                return _invitation_invalid(request, error.detail)
            else:
                request.session.pop(INVITATION_SESSION_KEY, None)
                login(
                    request, member.user, backend="billing.backends.MemberModelBackend"
                )
                return redirect("inbox")
    response = render(
        request,
        "billing/invitation.html",
        {
            "invitation": invitation,
            "business": invitation.member.business.name,
            "email": invitation.member.user.email,
            "errors": errors,
        },
        status=400 if errors else 200,
    )
    return _private(response)


def _invitation_invalid(request: HttpRequest, detail: str) -> HttpResponse:
    """410: the link does not work any more, and why."""
    response = render(
        request, "billing/invitation_invalid.html", {"detail": detail}, status=410
    )
    return _private(response)


def _private(response: HttpResponse) -> HttpResponse:
    """Invitation pages: no cache keeps them, and no other site learns their
    address from a Referer (`same-origin`, not `no-referrer`, under which the
    browser sends the form with `Origin: null` and CSRF protection refuses
    it)."""
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


# ------------------------------------------------------------------ tokens


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """GET: the admin's own API tokens (name, prefix, created, last used,
    revoked). POST (`name`, 1 to 100 characters): create one
    (`billing.services.api_token_create`) and show its clear value on this
    answer only (`Cache-Control: no-store`); it is never shown again."""
    admin = _admin(request)
    errors: dict[str, list[str]] = {}
    created: tuple[ApiToken, str] | None = None
    name = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not 1 <= len(name) <= TOKEN_NAME_MAX:
            errors = {
                "name": [
                    _("Give the token a name of 1 to %(max)s characters.")
                    % {"max": TOKEN_NAME_MAX}
                ]
            }
        else:
            created = services.api_token_create(member=admin, name=name)
            name = ""
    response = _page(
        request,
        "tokens.html",
        {
            "section": "tokens",
            "rows": selectors.api_token_list(admin),
            "created": created[0] if created else None,
            "secret": created[1] if created else "",
            "name": name[:200],
            "errors": errors,
        },
        status=400 if errors else 200,
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """POST: revoke one of the admin's tokens; requests with it answer 401
    from now on."""
    admin = _admin(request)
    try:
        token = selectors.api_token_get(admin, token_id)
    except ApiToken.DoesNotExist as error:
        raise Http404("No such token.") from error
    services.api_token_revoke(token=token)
    flash.success(
        request,
        _("Token %(name)s revoked: it no longer works.")
        % {"name": _isolated(token.name)},
    )
    return redirect("settings-tokens")


# ------------------------------------------------------------------ plan


@login_required
def plan(request: HttpRequest) -> HttpResponse:
    """The business's plan: channels used of those it allows, every plan's
    limits, and, at the limit, the same sentence the API's 402 gives."""
    admin = _admin(request)
    usage = selectors.plan_usage_get(admin.business)
    refusal = services.plan_channel_refusal(
        business=admin.business, channel_type=None, channel_count=usage.used
    )
    return _page(
        request,
        "plan.html",
        {
            "section": "plan",
            "usage": usage,
            "refusal": refusal.detail if refusal else "",
        },
    )

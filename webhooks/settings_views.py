"""Settings → Webhooks (admins only): the business's endpoints, the form to
register or change one, its delivery attempts with a Redeliver button, and
secret rotation. A new secret (on create and on rotation) is shown once, on
the page that answers the POST, and never again.

Writes go through the API's input serializer and `webhooks.services`, as
`/api/v1/webhooks/` does: a refused value is shown beside its field (400)
with the words the API would give. Agents get 403, another business's
endpoint 404, anonymous visitors the login page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from rest_framework import serializers

from billing.models import Member
from pingback.errors import ApplicationError
from webhooks import selectors
from webhooks.api.serializers import EndpointInputSerializer
from webhooks.models import EventType, WebhookEndpoint, WebhookEvent
from webhooks.services import endpoints as services
from webhooks.services.deliveries import event_redeliver
from workspace.settings_views import (
    _admin,
    _errors,
    _isolated,
    business_row_or_404,
    settings_page_for,
)

ATTEMPTS_SHOWN = 50


def _endpoint(member: Member, endpoint_id: int) -> WebhookEndpoint:
    return business_row_or_404(
        selectors.endpoint_get, member, endpoint_id, "No such webhook endpoint."
    )


_page = settings_page_for("webhooks")


def _event_choices(chosen: list[str]) -> list[dict[str, Any]]:
    return [
        {"value": value, "label": label, "checked": value in chosen}
        for value, label in EventType.choices
    ]


def _values_from_post(post, *, editing: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "url": post.get("url", "").strip(),
        "description": post.get("description", ""),
        "events": post.getlist("events"),
    }
    if editing:
        values["is_active"] = post.get("is_active") == "on"
    return values


def _validated(values: dict[str, Any]) -> dict[str, Any]:
    serializer = EndpointInputSerializer(data=values)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    """The business's endpoints, each with its events and state."""
    member = _admin(request)
    rows = list(selectors.endpoint_list(member.business))
    labels = dict(EventType.choices)
    for row in rows:
        row.event_labels = [labels.get(event, event) for event in row.events]
    return _page(request, "list.html", {"rows": rows})


@login_required
@never_cache  # the answer may carry the new secret
def webhook_new(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: register the endpoint and show its secret once;
    or the form again (400) with the refusal beside its field."""
    member = _admin(request)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"events": []}
    if request.method == "POST":
        values = _values_from_post(request.POST, editing=False)
        try:
            data = _validated(values)
            endpoint, secret = services.endpoint_create(
                business=member.business,
                url=data["url"],
                events=data["events"],
                description=data.get("description", ""),
            )
        except (serializers.ValidationError, DjangoValidationError) as error:
            errors = _errors(error)
        else:
            return _page(
                request, "secret.html", {"endpoint": endpoint, "secret": secret}
            )
    context = {
        "row": None,
        "values": values,
        "errors": errors,
        "event_choices": _event_choices(values.get("events", [])),
    }
    return _page(request, "form.html", context, status=400 if errors else 200)


@login_required
def webhook_edit(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """GET: the endpoint's form, its latest attempts (status, time, excerpt)
    with Redeliver buttons, and the secret rotation button. POST: save the
    form, or show it again (400) with the refusal beside its field."""
    member = _admin(request)
    endpoint = _endpoint(member, endpoint_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = _values_from_post(request.POST, editing=True)
        try:
            data = _validated(values)
            services.endpoint_update(endpoint, **data)
        except (serializers.ValidationError, DjangoValidationError) as error:
            errors = _errors(error)
            endpoint.refresh_from_db()
        else:
            flash.success(
                request,
                _("Endpoint “%(url)s” saved.") % {"url": _isolated(endpoint.url)},
            )
            return redirect("settings-webhook-edit", endpoint_id=endpoint.pk)
    else:
        values = {
            "url": endpoint.url,
            "description": endpoint.description,
            "events": endpoint.events,
            "is_active": endpoint.is_active,
        }
    attempts = list(selectors.attempt_list(endpoint)[:ATTEMPTS_SHOWN])
    context = {
        "row": endpoint,
        "values": values,
        "errors": errors,
        "event_choices": _event_choices(values.get("events", [])),
        "attempts": attempts,
        "Status": WebhookEvent.Status,
    }
    return _page(request, "form.html", context, status=400 if errors else 200)


@login_required
@never_cache  # the answer carries the new secret
@require_POST
def webhook_rotate(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Give the endpoint a new secret and show it once."""
    member = _admin(request)
    endpoint = _endpoint(member, endpoint_id)
    secret = services.endpoint_rotate_secret(endpoint)
    return _page(
        request,
        "secret.html",
        {"endpoint": endpoint, "secret": secret, "rotated": True},
    )


@login_required
@require_POST
def webhook_redeliver(
    request: HttpRequest, endpoint_id: int, event_id: int
) -> HttpResponse:
    """Send one of the endpoint's events again, back to its page."""
    member = _admin(request)
    endpoint = _endpoint(member, endpoint_id)
    try:
        event = selectors.event_get(endpoint, event_id)
    except WebhookEvent.DoesNotExist as error:
        raise Http404("No such event.") from error
    try:
        event_redeliver(event)
    except ApplicationError as error:
        flash.error(request, error.detail)
    else:
        flash.success(
            request,
            _("Event %(id)s queued for redelivery.") % {"id": event.webhook_id},
        )
    return redirect("settings-webhook-edit", endpoint_id=endpoint.pk)


@login_required
def webhook_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """GET: what deleting does, and a button to confirm. POST: delete."""
    member = _admin(request)
    endpoint = _endpoint(member, endpoint_id)
    if request.method == "POST":
        services.endpoint_delete(endpoint)
        flash.success(
            request,
            _("Endpoint “%(url)s” deleted.") % {"url": _isolated(endpoint.url)},
        )
        return redirect("settings-webhooks")
    return _page(request, "delete.html", {"row": endpoint})

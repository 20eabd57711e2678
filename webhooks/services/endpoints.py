"""Writing webhook endpoints: create, change, rotate the secret, enable,
delete. Reads are in `webhooks.selectors`."""

from __future__ import annotations

import base64
import secrets as random_secrets
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import Business
from webhooks.models import EventType, WebhookEndpoint

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_ENDPOINTS = 20


def secret_new() -> str:
    """A new signing secret: `whsec_` and 32 random bytes in base64 (the
    Standard Webhooks form; the bytes are the HMAC key)."""
    raw = random_secrets.token_bytes(SECRET_BYTES)
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def _events_checked(events: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(events))
    unknown = [event for event in wanted if event not in EventType.values]
    if unknown:
        raise ValidationError(
            {"events": _("Unknown event type: %(name)s.") % {"name": unknown[0]}}
        )
    if not wanted:
        raise ValidationError({"events": _("Choose at least one event.")})
    return [event for event in EventType.values if event in wanted]


def _url_checked(url: str) -> str:
    url = url.strip()
    if not url.lower().startswith(("https://", "http://")):
        raise ValidationError({"url": _("Enter an http:// or https:// URL.")})
    return url


def endpoint_create(
    *, business: Business, url: str, events: Sequence[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint with a new secret; returns it and the secret (to
    show once). Raises `ValidationError` naming `url` or `events`, or
    `url` when the business has `MAX_ENDPOINTS` already."""
    url = _url_checked(url)
    events = _events_checked(events)
    if WebhookEndpoint.objects.filter(business=business).count() >= MAX_ENDPOINTS:
        raise ValidationError(
            {"url": _("At most %(count)s endpoints.") % {"count": MAX_ENDPOINTS}}
        )
    secret = secret_new()
    endpoint = WebhookEndpoint.objects.create(
        business=business,
        url=url,
        events=events,
        description=description.strip(),
        secrets={"current": secret},
    )
    return endpoint, secret


def endpoint_update(
    endpoint: WebhookEndpoint,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given. Enabling a disabled endpoint clears its reason
    and failing streak (deliveries start again with new events). Raises
    `ValidationError` naming the field."""
    fields = []
    if url is not None:
        endpoint.url = _url_checked(url)
        fields.append("url")
    if events is not None:
        endpoint.events = _events_checked(events)
        fields.append("events")
    if description is not None:
        endpoint.description = description.strip()
        fields.append("description")
    if is_active is not None and is_active != endpoint.is_active:
        endpoint.is_active = is_active
        fields.append("is_active")
        if is_active:
            endpoint.disabled_reason = ""
            endpoint.disabled_at = None
            endpoint.failing_since = None
        else:
            endpoint.disabled_reason = _("Disabled by an admin.")
            endpoint.disabled_at = timezone.now()
        fields += ["disabled_reason", "disabled_at", "failing_since"]
    if fields:
        endpoint.save(update_fields=[*fields, "updated_at"])
    return endpoint


def endpoint_rotate_secret(endpoint: WebhookEndpoint) -> str:
    """Give the endpoint a new secret and return it (to show once). The old
    one keeps signing too (a second signature) for
    `WEBHOOK_SECRET_OVERLAP` seconds (a day), so receivers can switch."""
    secret = secret_new()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.secrets = {"current": secret, "previous": locked.secrets["current"]}
        locked.previous_expires_at = timezone.now() + timedelta(
            seconds=settings.WEBHOOK_SECRET_OVERLAP
        )
        locked.save(update_fields=["secrets", "previous_expires_at", "updated_at"])
    endpoint.secrets = locked.secrets
    endpoint.previous_expires_at = locked.previous_expires_at
    return secret


def endpoint_delete(endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint, its events and their attempts."""
    endpoint.delete()

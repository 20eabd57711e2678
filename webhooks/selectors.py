"""Reading webhook endpoints, events and attempts of a business."""

from __future__ import annotations

from django.db.models import QuerySet

from billing.models import Business
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookEvent


def endpoint_list(business: Business) -> QuerySet[WebhookEndpoint]:
    """The business's endpoints, oldest first."""
    return WebhookEndpoint.objects.filter(business=business).order_by("pk")


def endpoint_get(business: Business, endpoint_id: int) -> WebhookEndpoint:
    """The business's endpoint `endpoint_id`; `WebhookEndpoint.DoesNotExist`
    for an unknown id or another business's."""
    return WebhookEndpoint.objects.get(business=business, pk=endpoint_id)


def attempt_list(endpoint: WebhookEndpoint) -> QuerySet[WebhookAttempt]:
    """The endpoint's attempts, newest first, with their event."""
    return (
        WebhookAttempt.objects.filter(event__endpoint=endpoint)
        .select_related("event")
        .order_by("-attempted_at", "-pk")
    )


def event_get(endpoint: WebhookEndpoint, event_id: int) -> WebhookEvent:
    """The endpoint's event `event_id`; `WebhookEvent.DoesNotExist` otherwise."""
    return WebhookEvent.objects.get(endpoint=endpoint, pk=event_id)

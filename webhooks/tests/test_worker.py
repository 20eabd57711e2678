"""A committed change reaches the receiver through the whole outbox path:
the relay publishes the event's task after the commit, a real Celery worker
claims and sends it."""

from __future__ import annotations

import json

import pytest

from contacts.services.contacts import contact_create
from pingback.testing import wait_for
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_committed_change_is_sent_by_a_worker(
    business, receiver, endpoint, celery_worker
):
    contact = contact_create(business=business, name="Ada")

    posted = wait_for(lambda: [r for r in receiver.received if r.method == "POST"])

    assert json.loads(posted[0].body)["data"]["id"] == contact.pk
    wait_for(
        lambda: WebhookEvent.objects.filter(
            status=WebhookEvent.Status.DELIVERED
        ).exists()
    )
    assert len(posted) == 1

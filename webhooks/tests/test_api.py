"""`/api/v1/webhooks/`: admins register, read, change and delete endpoints;
the secret is shown on create and on rotation only; attempts are listed and
an event can be sent again."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from billing.tests.factories import BusinessFactory
from contacts.services.contacts import contact_create
from webhooks.models import WebhookEndpoint, WebhookEvent
from webhooks.services.endpoints import endpoint_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/"


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(admin_api, receiver):
    created = admin_api.post(
        URL,
        {
            "url": f"{receiver.url}/hook",
            "events": ["contact.created", "message.created"],
        },
        format="json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["message.created", "contact.created"]
    assert body["is_active"] is True
    listed = admin_api.get(URL).json()
    detail = admin_api.get(f"{URL}{body['id']}/").json()
    assert body["secret"] not in json.dumps(listed) + json.dumps(detail)
    assert "secret" not in detail


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["contact.created"]}, "url"),
        ({"url": "not a url", "events": ["contact.created"]}, "url"),
        ({"url": "https://example.com/x", "events": []}, "events"),
        ({"url": "https://example.com/x", "events": ["contact.deleted"]}, "events"),
        ({"events": ["contact.created"]}, "url"),
    ],
    ids=["scheme", "garbage", "no-events", "unknown-event", "missing-url"],
)
def test_a_bad_endpoint_is_a_400_naming_the_field(admin_api, payload, field):
    answer = admin_api.post(URL, payload, format="json")

    assert answer.status_code == 400
    assert field in answer.json()
    assert not WebhookEndpoint.objects.exists()


def test_agents_may_not_see_or_manage_webhooks(agent_member, api_client_for):
    api = api_client_for(agent_member)
    endpoint, _ = endpoint_create(
        business=agent_member.business,
        url="https://example.com/x",
        events=["contact.created"],
    )

    assert api.get(URL).status_code == 403
    assert (
        api.post(
            URL, {"url": "https://e.com", "events": ["contact.created"]}, format="json"
        ).status_code
        == 403
    )
    assert api.post(f"{URL}{endpoint.pk}/rotate_secret/").status_code == 403


def test_another_business_endpoint_is_not_found(admin_api):
    foreign, _ = endpoint_create(
        business=BusinessFactory(),
        url="https://example.com/x",
        events=["contact.created"],
    )

    for answer in (
        admin_api.get(f"{URL}{foreign.pk}/"),
        admin_api.patch(f"{URL}{foreign.pk}/", {"description": "x"}, format="json"),
        admin_api.delete(f"{URL}{foreign.pk}/"),
        admin_api.post(f"{URL}{foreign.pk}/rotate_secret/"),
        admin_api.get(f"{URL}{foreign.pk}/attempts/"),
        admin_api.get(f"{URL}abc/"),
    ):
        assert answer.status_code == 404
    foreign.refresh_from_db()
    assert foreign.description == ""


def test_rotating_gives_a_new_secret_and_keeps_the_old_one_for_a_day(
    admin_api, endpoint, secret
):
    before = timezone.now()
    answer = admin_api.post(f"{URL}{endpoint.pk}/rotate_secret/")

    assert answer.status_code == 200
    body = answer.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != secret
    endpoint.refresh_from_db()
    assert endpoint.secrets == {"current": body["secret"], "previous": secret}
    expires = endpoint.previous_expires_at - before
    assert 86300 < expires.total_seconds() < 86500


def test_attempts_are_listed_and_an_event_is_redelivered(
    admin_api, business, receiver, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        contact_create(business=business, name="Ada")
    event = WebhookEvent.objects.get(endpoint=endpoint)

    attempts = admin_api.get(f"{URL}{endpoint.pk}/attempts/").json()["results"]
    assert [(a["event_id"], a["outcome"], a["status_code"]) for a in attempts] == [
        (event.pk, "delivered", 200)
    ]
    assert attempts[0]["excerpt"] == '{"ok":true}'
    assert attempts[0]["webhook_id"] == event.webhook_id

    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_api.post(
            f"{URL}{endpoint.pk}/redeliver/", {"event_id": event.pk}, format="json"
        )

    assert answer.status_code == 202
    posts = [r for r in receiver.received if r.method == "POST"]
    assert len(posts) == 2
    assert posts[0].body == posts[1].body
    assert posts[1].headers["webhook-id"] == event.webhook_id
    assert len(admin_api.get(f"{URL}{endpoint.pk}/attempts/").json()["results"]) == 2


def test_redelivering_to_a_disabled_endpoint_is_refused(
    admin_api, business, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        contact_create(business=business, name="Ada")
    event = WebhookEvent.objects.get(endpoint=endpoint)
    assert (
        admin_api.patch(
            f"{URL}{endpoint.pk}/", {"is_active": False}, format="json"
        ).json()["is_active"]
        is False
    )

    answer = admin_api.post(
        f"{URL}{endpoint.pk}/redeliver/", {"event_id": event.pk}, format="json"
    )

    assert answer.status_code == 400
    assert "disabled" in answer.json()["detail"]


def test_the_schema_documents_the_webhooks_api(admin_api):
    schema = admin_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    paths = schema["paths"]
    assert "/api/v1/webhooks/" in paths
    assert "/api/v1/webhooks/{webhook_id}/rotate_secret/" in paths
    assert "/api/v1/webhooks/{webhook_id}/attempts/" in paths
    assert "/api/v1/webhooks/{webhook_id}/redeliver/" in paths

"""Ids of tenant-scoped things: another business's answers exactly like one
that does not exist (same status, same body), on every endpoint that takes one.
"""

import uuid

import pytest

from billing.services import api_token_create
from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.tests.factories import ChannelFactory
from conversations.tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def _foreign(kind: str):
    """Something of `kind` that belongs to another business."""
    other = BusinessFactory()
    if kind == "channel":
        return ChannelFactory(business=other).pk
    if kind == "conversation":
        return ConversationFactory(business=other).pk
    if kind == "token":
        return api_token_create(member=MemberFactory(business=other))[0].pk
    if kind == "agent":
        return MemberFactory(business=other).user.pk
    raise AssertionError(kind)


MISSING = {
    "channel": uuid.UUID("00000000-0000-4000-8000-000000000000"),
    "conversation": 999_999_999,
    "token": 999_999_999,
    "agent": 999_999_999,
}

REQUESTS = {
    "GET channel": ("channel", lambda c, i: c.get(f"/api/v1/channels/{i}")),
    "PATCH channel": (
        "channel",
        lambda c, i: c.patch(f"/api/v1/channels/{i}", {}, format="json"),
    ),
    "DELETE channel": ("channel", lambda c, i: c.delete(f"/api/v1/channels/{i}")),
    "GET conversation": (
        "conversation",
        lambda c, i: c.get(f"/api/v1/conversations/{i}"),
    ),
    "PATCH conversation": (
        "conversation",
        lambda c, i: c.patch(
            f"/api/v1/conversations/{i}", {"status": "resolved"}, format="json"
        ),
    ),
    "GET messages": (
        "conversation",
        lambda c, i: c.get(f"/api/v1/conversations/{i}/messages"),
    ),
    "POST reply": (
        "conversation",
        lambda c, i: c.post(
            f"/api/v1/conversations/{i}/messages", {"text": "hi"}, format="json"
        ),
    ),
    "GET token": ("token", lambda c, i: c.get(f"/api/v1/tokens/{i}/")),
    "revoke token": ("token", lambda c, i: c.post(f"/api/v1/tokens/{i}/revoke/")),
    "DELETE token": ("token", lambda c, i: c.delete(f"/api/v1/tokens/{i}/")),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_another_business_s_id_answers_like_a_missing_one(name, admin_api):
    # given
    kind, send = REQUESTS[name]
    foreign = _foreign(kind)

    # when
    theirs = send(admin_api, foreign)
    missing = send(admin_api, MISSING[kind])

    # then
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()


def test_assignee_of_another_business_answers_like_a_missing_one(admin_api, business):
    # given
    conversation = ConversationFactory(business=business, assignee=None)
    url = f"/api/v1/conversations/{conversation.pk}"

    # when
    theirs = admin_api.patch(url, {"assignee_id": _foreign("agent")}, format="json")
    missing = admin_api.patch(url, {"assignee_id": MISSING["agent"]}, format="json")

    # then
    assert theirs.status_code == missing.status_code == 400
    assert theirs.json() == missing.json()
    assert theirs.json() == {"assignee_id": ["No such agent in this business."]}
    conversation.refresh_from_db()
    assert conversation.assignee_id is None

"""Fuzz the REST API against its own OpenAPI schema (schemathesis + Hypothesis).

Every operation in `/api/schema/` is called in-process through Django's WSGI
application with generated requests, valid and invalid, as an admin of a
business that has channels, a conversation and messages. Each answer must be
no 5xx and must match what the schema declares: status code, content type and
body shape.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import strategies as st

from billing.services import api_token_create
from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.tests.factories import ChannelFactory
from conversations.tests.factories import ConversationFactory, MessageFactory
from pingback.wsgi import application

# Generated requests per operation in the fuzzing phase; schemathesis adds its
# coverage cases (boundary values, missing or wrong-typed fields, undeclared
# methods). The whole fuzz test must stay under about two minutes on a 2-core
# machine: about 30 s with 50.
FUZZ_MAX_EXAMPLES = 50

CONFIG = schemathesis.Config.from_dict(
    {
        # The same requests on every run, wherever the module runs in the suite,
        # so a CI failure reproduces locally.
        "seed": 20261204,
        "generation": {
            "mode": "all",
            "max-examples": FUZZ_MAX_EXAMPLES,
            "deterministic": True,
            # No example database: the seed alone decides what is sent.
            "database": "none",
        },
        "checks": {
            # A schema-valid request may still be refused by a rule the schema
            # cannot state (a channel type's config fields, the plan's limits,
            # a reply needing text, files or a template, an assignee from the
            # business): those answers are declared (400, 402, 409) and their
            # shapes are checked; the API tests cover the rules themselves.
            "positive_data_acceptance": {"enabled": False},
            # DRF reads some values the schema's types call invalid the way a
            # form would ("0" or "off" as false, an empty filter as no filter);
            # such requests are answered as for the value meant. Invalid input
            # is still sent (mode "all"): it must get a declared 4xx, not a 5xx.
            "negative_data_rejection": {"enabled": False},
        },
    }
)

schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)


@dataclass
class World:
    """Ids of the objects generated values are steered towards: the caller's
    own, and another business's (which must answer 404)."""

    own: dict[str, list[Any]] = field(default_factory=dict)
    foreign: dict[str, list[Any]] = field(default_factory=dict)
    # Status codes of the operation's answers so far.
    answered: list[int] = field(default_factory=list)

    def steer(self, name: str, generated: Any) -> st.SearchStrategy:
        """Mostly one of our ids, sometimes another business's, sometimes the
        generated value (own ids weigh double)."""
        own = self.own.get(name)
        if not own:
            return st.just(generated)
        return st.sampled_from([*own, *own, *self.foreign.get(name, []), generated])


WORLD = World()


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy:
    """`{channel_id}` and `{id}` (a conversation) often name real objects."""
    return st.fixed_dictionaries(
        {
            name: WORLD.steer(name, value)
            for name, value in (path_parameters or {}).items()
        }
    )


@schema.hook
def flatmap_query(
    context: schemathesis.HookContext, query: dict[str, Any] | None
) -> st.SearchStrategy:
    """`?assignee=` often names a member of the business."""
    if not query or "assignee" not in query:
        return st.just(query)
    return WORLD.steer("user_id", query["assignee"]).map(
        lambda value: {**query, "assignee": value}
    )


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy:
    """`assignee_id` in a body often names a member of the business."""
    if not isinstance(body, dict) or "assignee_id" not in body:
        return st.just(body)
    return WORLD.steer("user_id", body["assignee_id"]).map(
        lambda value: {**body, "assignee_id": value}
    )


def _no_internet(host, *args, **kwargs):
    """Only this machine resolves: what a fuzzed host name (an e-mail channel's
    `smtp_host`) would look up elsewhere fails as an unknown name does."""
    if host in ("127.0.0.1", "::1", "localhost"):
        return _getaddrinfo(host, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def world(db, sandbox, monkeypatch, request) -> Iterator[str]:
    """An admin's token for a business (plan mini: room for one more channel)
    with an X channel and a WhatsApp channel, a conversation on each with
    inbound and outbound messages, and an agent; another
    business with its own channel and conversation. Yields the token; after
    the operation's examples, fails unless one of them was answered 2xx (so
    the fuzzer reached real objects, not only 404s and 400s)."""
    monkeypatch.setattr(socket, "getaddrinfo", _no_internet)
    # As Django's test client does: the WSGI handler would otherwise close the
    # test's database connection (and its transaction) after each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    failed_before = request.session.testsfailed
    try:
        yield _world_token()
        # (Unless a check failed: the examples then stopped early.)
        assert request.session.testsfailed > failed_before or any(
            200 <= status < 300 for status in WORLD.answered
        ), f"no generated request was answered 2xx: {sorted(set(WORLD.answered))}"
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        WORLD.own.clear()
        WORLD.foreign.clear()
        WORLD.answered.clear()


def _world_token() -> str:
    business = BusinessFactory(plan="mini")
    admin = MemberFactory(business=business, role="admin")
    agent = MemberFactory(business=business, role="agent")
    x_channel = ChannelFactory(business=business)
    # WhatsApp sends templates, X does not: replies of both kinds can succeed.
    whatsapp = ChannelFactory(
        business=business,
        type="whatsapp",
        secrets={"access_token": "EAAG-example-token", "verify_token": "verify"},
        config={"phone_number_id": "106540352242922"},
    )
    conversation = ConversationFactory(business=business, channel=x_channel)
    whatsapp_conversation = ConversationFactory(business=business, channel=whatsapp)
    MessageFactory(conversation=whatsapp_conversation)
    MessageFactory(conversation=conversation)
    MessageFactory(
        conversation=conversation,
        attachments=[
            {"kind": "image", "stored": "attachments/a.png", "filename": "a.png"},
            {"kind": "video", "url": "https://video.example.test/v.mp4"},
            {"kind": "file", "fetch_error": "The platform answered 404."},
            {"kind": "location", "latitude": 48.85, "longitude": 2.35},
            {"kind": "contact", "name": "Ada", "phone_number": "+15550100"},
        ],
    )
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="sent",
        author=admin.user,
    )
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        kind="template",
        text="",
        template={"name": "order_update", "language": "en_US", "parameters": ["7"]},
        status="failed",
        error="The platform refused the template.",
        author=agent.user,
    )
    other = ConversationFactory()
    outsider = MemberFactory(business=other.business, role="admin")
    _, token = api_token_create(member=admin)
    WORLD.own.update(
        channel_id=[str(x_channel.id), str(whatsapp.id)],
        id=[conversation.id, whatsapp_conversation.id],
        user_id=[admin.user_id, agent.user_id],
    )
    WORLD.foreign.update(
        channel_id=[str(other.channel_id)],
        id=[other.id],
        user_id=[outsider.user_id],
    )
    return token


@schema.parametrize()
@hypothesis.settings(
    max_examples=FUZZ_MAX_EXAMPLES,
    deadline=None,
    # `world` is built once per operation on purpose; every example rolls its
    # own changes back (below), so it is the same for each of them.
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
def test_api_answers_as_its_schema_says(case: schemathesis.Case, world: str) -> None:
    # Each request runs in a savepoint rolled back afterwards, so every example
    # starts from the same business (as if each were the first request).
    with transaction.atomic():
        response = case.call(headers={"Authorization": f"Bearer {world}"})
        transaction.set_rollback(True)
    WORLD.answered.append(response.status_code)
    case.validate_response(response, headers={"Authorization": f"Bearer {world}"})


# ------------------------------------------- what the fuzzer found, pinned exactly


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/v1/conversations/", "/api/v1/conversations/{id}/messages/"],
    ids=["inbox", "thread"],
)
@pytest.mark.parametrize("page_size", ["0", "-3", "abc", "1.5"])
def test_a_page_size_that_is_not_a_whole_number_from_one_is_400(
    admin_api, business, path, page_size
):
    # given
    conversation = ConversationFactory(business=business)

    # when
    response = admin_api.get(path.format(id=conversation.id), {"page_size": page_size})

    # then
    assert response.status_code == 400
    assert response.json() == {"page_size": ["A whole number from 1."]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "page_size", "expected"),
    [
        ("/api/v1/conversations/", "", 25),
        ("/api/v1/conversations/", "1000", 100),
        ("/api/v1/conversations/{id}/messages/", "", 50),
        ("/api/v1/conversations/{id}/messages/", "1000", 200),
    ],
    ids=["inbox-empty", "inbox-too-many", "thread-empty", "thread-too-many"],
)
def test_an_empty_page_size_is_the_default_and_a_large_one_the_maximum(
    admin_api, business, path, page_size, expected
):
    # given
    conversation = ConversationFactory(business=business)
    MessageFactory.create_batch(expected + 1, conversation=conversation)
    ConversationFactory.create_batch(expected, business=business)

    # when
    response = admin_api.get(path.format(id=conversation.id), {"page_size": page_size})

    # then
    assert response.status_code == 200
    assert len(response.json()["results"]) == expected
    assert response.json()["next"] is not None


@pytest.mark.django_db
@pytest.mark.parametrize("assignee", ["1.5", "one"])
def test_an_assignee_filter_that_is_not_a_whole_number_is_400(
    admin_api, business, assignee
):
    # given
    ConversationFactory(business=business)

    # when
    response = admin_api.get("/api/v1/conversations/", {"assignee": assignee})

    # then
    assert response.status_code == 400
    assert response.json() == {"assignee": ["Enter a whole number."]}


@pytest.mark.django_db
@pytest.mark.parametrize("conversation_id", ["1.5", "1e3", "abc"])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("patch", ""), ("get", "messages/"), ("post", "messages/")],
    ids=["detail", "update", "thread", "reply"],
)
def test_a_malformed_conversation_id_is_a_json_404_and_changes_nothing(
    admin_api, business, conversation_id, method, suffix
):
    # given
    conversation = ConversationFactory(business=business, status="open")

    # when
    response = getattr(admin_api, method)(
        f"/api/v1/conversations/{conversation_id}/{suffix}",
        {"status": "resolved", "text": "hello"},
        format="json",
    )

    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "Conversation not found."}
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert conversation.messages.count() == 0


@pytest.mark.django_db
def test_delete_answers_200_with_the_message_the_schema_declares(admin_api, business):
    # given
    channel = ChannelFactory(business=business, type="webchat", secrets={}, config={})
    declared = schema["/api/v1/channels/{channel_id}/"]["DELETE"].definition.raw

    # when
    response = admin_api.delete(f"/api/v1/channels/{channel.id}")

    # then
    assert response.status_code == 200
    assert response.json() == {"message": "Channel deleted"}
    assert "204" not in declared["responses"]
    assert declared["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChannelDeleted"
    }

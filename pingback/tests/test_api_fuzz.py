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

from billing.models import ApiToken
from billing.services import api_token_create, api_token_revoke, member_invite
from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.tests.factories import ChannelFactory
from contacts.services.contacts import contact_create
from conversations.models import DeliveryAttempt
from conversations.tests.factories import ConversationFactory, MessageFactory
from pingback.wsgi import application
from workspace.models import SavedFilter
from workspace.tests.factories import (
    CannedResponseFactory,
    LabelFactory,
    TeamFactory,
)

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
    own, and others' (another business's, or another member's tokens), which
    must answer 404. Keys are what an id names: `channel_id`, `conversation_id`,
    `token_id`, `user_id`, and `message` for (conversation id, message id)
    pairs."""

    own: dict[str, list[Any]] = field(default_factory=dict)
    foreign: dict[str, list[Any]] = field(default_factory=dict)
    # Status codes of the operation's answers so far.
    answered: list[int] = field(default_factory=list)

    def steer(self, kind: str, generated: Any) -> st.SearchStrategy:
        """Mostly one of our ids, sometimes a foreign one, sometimes the
        generated value (own ids weigh double)."""
        own = self.own.get(kind)
        if not own:
            return st.just(generated)
        return st.sampled_from([*own, *own, *self.foreign.get(kind, []), generated])

    def steer_message(
        self, generated: dict[str, Any], *, reactions: bool = False
    ) -> st.SearchStrategy:
        """`{id}` and `{message_id}` together: mostly one of our messages in its
        own conversation, sometimes a foreign pair (a message under another
        conversation than its own, another business's message), sometimes the
        generated pair (own pairs weigh double)."""
        own = self.own.get("message")
        if not own:
            return st.just(generated)
        if reactions:
            # Hypothesis leans to the first choices: for reactions, the
            # WhatsApp customer's message (listed last), which takes one; X's
            # do not. Otherwise a 2xx hung on the seed.
            own = own[::-1]
        pairs = [*own, *own, *self.foreign.get("message", [])]
        return st.sampled_from(
            [
                *({**generated, "id": c, "message_id": m} for c, m in pairs),
                generated,
            ]
        )


WORLD = World()


def _kind(path: str, name: str) -> str:
    """What a path parameter names: `{id}` is a token under `/tokens/`, a
    conversation elsewhere; other names say it themselves."""
    if name == "id":
        return "token_id" if "/tokens/" in path else "conversation_id"
    return name


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy:
    """`{channel_id}`, `{id}` (a conversation or a token) and `{message_id}`
    often name real objects."""
    path_parameters = path_parameters or {}
    path = context.operation.path if context.operation else ""
    if "message_id" in path_parameters:
        return WORLD.steer_message(
            path_parameters, reactions=path.rstrip("/").endswith("/reactions")
        )
    return st.fixed_dictionaries(
        {
            name: WORLD.steer(_kind(path, name), value)
            for name, value in path_parameters.items()
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


# ------------------------------------- steering for the workspace (bulk, filters)


@schema.hook("flatmap_body")
def flatmap_body_bulk_ids(
    context: schemathesis.HookContext, body: Any
) -> st.SearchStrategy:
    """`ids` of a bulk change: mostly our conversations, sometimes with a
    foreign one (the whole change is then refused), sometimes as generated."""
    if not isinstance(body, dict) or "ids" not in body:
        return st.just(body)
    own = WORLD.own.get("conversation_id", [])
    foreign = WORLD.foreign.get("conversation_id", [])
    if not own:
        return st.just(body)
    choices = [own, own, own[:1], [*own, *foreign], body["ids"]]
    return st.sampled_from(choices).map(lambda ids: {**body, "ids": ids})


@schema.hook("flatmap_body")
def flatmap_body_emoji(
    context: schemathesis.HookContext, body: Any
) -> st.SearchStrategy:
    """A reaction's body: often just one emoji or a removal (""), sometimes
    as generated (almost never a single emoji, often with unknown keys: 400)."""
    if not isinstance(body, dict) or "emoji" not in body:
        return st.just(body)
    return st.sampled_from([{"emoji": "👍"}, {"emoji": ""}, {"emoji": "❤️"}, body, body])


@schema.hook("flatmap_query")
def flatmap_query_channel(
    context: schemathesis.HookContext, query: dict[str, Any] | None
) -> st.SearchStrategy:
    """`?channel=` often names one of our channels (another business's: 400)."""
    if not query or "channel" not in query:
        return st.just(query)
    return WORLD.steer("channel_id", query["channel"]).map(
        lambda value: {**query, "channel": value}
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
    inbound and outbound messages (sent, failed, uncertain), and an agent;
    another token of the admin's, revoked; another business with its own
    channel, conversation and failed reply; the agent's and the other
    business's admin's tokens. Yields the token; after
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
    whatsapp_inbound = MessageFactory(conversation=whatsapp_conversation)
    inbound = MessageFactory(conversation=conversation)
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
    sent = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="sent",
        author=admin.user,
    )
    # Retry applies to a failed reply and an uncertain one, "mark as sent" to
    # the uncertain one only: each action has a message it answers 2xx for,
    # and messages it answers 409 for (inbound, sent).
    failed = MessageFactory(
        conversation=conversation,
        direction="outbound",
        kind="template",
        text="",
        template={"name": "order_update", "language": "en_US", "parameters": ["7"]},
        status="failed",
        error="The platform refused the template.",
        author=agent.user,
    )
    uncertain = MessageFactory(
        conversation=whatsapp_conversation,
        direction="outbound",
        status="uncertain",
        platform_message_id=None,
        error="The worker stopped while sending this message.",
        author=admin.user,
    )
    other = ConversationFactory()
    other_failed = MessageFactory(
        conversation=other, direction="outbound", status="failed"
    )
    outsider = MemberFactory(business=other.business, role="admin")
    callers_token, token = api_token_create(member=admin)
    invited = member_invite(
        business=business, email="invited@example.test", role="agent", by=admin
    )[0].member
    # Revoking a revoked token answers 200 too; another member's tokens, in
    # this business or another, are 404.
    revoked, _ = api_token_create(member=admin, name="old")
    api_token_revoke(token=revoked)
    agents_token, _ = api_token_create(member=agent)
    outsiders_token, _ = api_token_create(member=outsider)
    WORLD.own.update(
        channel_id=[str(x_channel.id), str(whatsapp.id)],
        conversation_id=[conversation.id, whatsapp_conversation.id],
        # The fuzzer tries the first pairs most: each message action has one
        # it answers 2xx for near the front (retry: failed; mark as sent:
        # uncertain; a reaction: the WhatsApp message).
        message=[
            (conversation.id, failed.id),
            (whatsapp_conversation.id, uncertain.id),
            (whatsapp_conversation.id, whatsapp_inbound.id),
            (conversation.id, sent.id),
            (conversation.id, inbound.id),
        ],
        token_id=[callers_token.id, revoked.id],
        user_id=[admin.user_id, agent.user_id],
        # An invited member first (a new link: 2xx for them alone), then the
        # agent; the admin, the only one, may not be demoted nor deactivated
        # (409).
        member_id=[invited.id, agent.id, admin.id],
    )
    _workspace_world(business=business, members=[admin, agent], other=other.business)
    _saved_filter_world(caller=admin, agent=agent, outsider=outsider)
    _contacts_world(business=business, conversation=conversation, other=other)
    _webhooks_world(business=business, other=other.business)
    _automation_world(business=business, other=other.business)
    WORLD.foreign.update(
        channel_id=[str(other.channel_id)],
        conversation_id=[other.id],
        message=[
            # Ours, but not in the conversation named.
            (conversation.id, uncertain.id),
            (whatsapp_conversation.id, failed.id),
            # Another business's, under its conversation and under ours.
            (other.id, other_failed.id),
            (conversation.id, other_failed.id),
        ],
        token_id=[agents_token.id, outsiders_token.id],
        user_id=[outsider.user_id],
        member_id=[outsider.id],
    )
    return token


def _contacts_world(*, business, conversation, other) -> None:
    """`{contact_id}`: the conversation's contact and one with details in
    `business`; the other conversation's contact must answer 404."""
    own = contact_create(
        business=business,
        name="Ana Lima",
        emails=["ana@example.test"],
        phones=["+14155550100"],
        custom_attributes={"plan": "pro"},
    )
    WORLD.own["contact_id"] = [own.id, conversation.contact_id]
    WORLD.foreign["contact_id"] = [other.contact_id]


def _webhooks_world(*, business, other) -> None:
    """`{webhook_id}`: two endpoints of `business`, the first with an event
    (`event_id` of a redelivery, see `flatmap_body_event_id`); `other`'s
    endpoint must answer 404. Their URLs are never called: tasks run inline,
    and a redelivery to an address this machine does not resolve fails."""
    from webhooks.services.endpoints import endpoint_create
    from webhooks.services.events import Change, events_record

    own = [
        endpoint_create(
            business=business,
            url=f"https://hooks.example.test/{n}",
            events=["contact.updated"],
        )[0]
        for n in range(2)
    ]
    WORLD.own["event_id"] = events_record(
        business.pk, [Change("contact.updated", "fuzz", {"id": 1})]
    )[:1]
    foreign, _ = endpoint_create(
        business=other, url="https://hooks.example.test/o", events=["contact.created"]
    )
    WORLD.own["webhook_id"] = [endpoint.pk for endpoint in own]
    WORLD.foreign["webhook_id"] = [foreign.pk]


def _automation_world(*, business, other) -> None:
    """`{rule_id}`: two automation rules of `business`; `other`'s rule must
    answer 404. A rule body (see `flatmap_body_rule`) is often a valid one."""
    from automation.services import rule_create

    own = [
        rule_create(business=business, data={**AUTOMATION_RULE, "name": f"Rule {n}"})
        for n in range(2)
    ]
    foreign = rule_create(business=other, data=AUTOMATION_RULE)
    WORLD.own["rule_id"] = [rule.pk for rule in own]
    WORLD.foreign["rule_id"] = [foreign.pk]


# A rule the API accepts: a WhatsApp message with "refund" is resolved.
AUTOMATION_RULE = {
    "name": "Refunds",
    "trigger": "message_created",
    "conditions": {"channel_types": ["whatsapp"], "text_contains": ["refund"]},
    "actions": {"resolve": True},
}


@schema.hook("flatmap_body")
def flatmap_body_rule(
    context: schemathesis.HookContext, body: Any
) -> st.SearchStrategy:
    """An automation rule's body (it has `trigger` and `actions`) is often a
    valid rule, or the generated one with a valid rule's parts."""
    if not isinstance(body, dict) or not {"trigger", "actions"} <= set(body):
        return st.just(body)
    return st.sampled_from(
        [
            {**body, **AUTOMATION_RULE},
            {**AUTOMATION_RULE, "name": body.get("name") or "Rule"},
            body,
        ]
    )


@schema.hook("flatmap_body")
def flatmap_body_event_id(
    context: schemathesis.HookContext, body: Any
) -> st.SearchStrategy:
    """`event_id` of a redelivery often names the first endpoint's event."""
    if not isinstance(body, dict) or "event_id" not in body:
        return st.just(body)
    return WORLD.steer("event_id", body["event_id"]).map(
        lambda value: {**body, "event_id": value}
    )


# A CSV file the contacts import accepts: a new contact and one it updates.
CONTACTS_CSV = (
    b"name,emails,phones,attr:plan\n"
    b"Bea,bea@example.test,,free\n"
    b"Ana,ana@example.test,,enterprise\n"
)


@schema.hook("flatmap_body")
def flatmap_body_contacts_csv(
    context: schemathesis.HookContext, body: Any
) -> st.SearchStrategy:
    """The contacts import's `file`: sometimes a CSV file it accepts."""
    path = context.operation.path if context.operation else ""
    if not path.startswith("/api/v1/contacts/import") or not isinstance(body, dict):
        return st.just(body)
    return st.sampled_from([body, {**body, "file": CONTACTS_CSV}])


def _workspace_world(*, business, members, other) -> None:
    """Teams, labels and canned responses: two of each in `business` (one team
    with `members`), one in `other`, which must answer 404. Steers
    `{team_id}`, `{label_id}` and `{canned_response_id}`, and `member_ids` in
    a team's body (see `flatmap_team_member_ids`)."""
    teams = [
        TeamFactory(business=business, name="Support", members=members),
        TeamFactory(business=business, name="Billing"),
    ]
    labels = [
        LabelFactory(business=business, name="vip"),
        LabelFactory(business=business, name="bug"),
    ]
    canned = [
        CannedResponseFactory(business=business, short_code="thanks"),
        CannedResponseFactory(business=business, short_code="refund"),
    ]
    WORLD.own.update(
        team_id=[team.id for team in teams],
        label_id=[label.id for label in labels],
        label_name=[label.name for label in labels],
        canned_response_id=[row.id for row in canned],
        member_user_id=[member.user_id for member in members],
    )
    foreign_label = LabelFactory(business=other, name="theirs")
    WORLD.foreign.update(
        team_id=[TeamFactory(business=other).id],
        label_id=[foreign_label.id],
        label_name=[foreign_label.name],
        canned_response_id=[CannedResponseFactory(business=other).id],
        member_user_id=[MemberFactory(business=other).user_id],
    )


def _saved_filter_world(*, caller, agent, outsider) -> None:
    """Two saved filters of the caller's; one of another agent of the business
    and one of another business's member, which must answer 404. Steers
    `{saved_filter_id}`, and a saved filter's `query` (see
    `flatmap_saved_filter_query`)."""
    own = [
        SavedFilter.objects.create(
            member=caller, name="Mine open", query="status=open"
        ),
        SavedFilter.objects.create(member=caller, name="VIP", query="label=vip"),
    ]
    WORLD.own["saved_filter_id"] = [row.id for row in own]
    WORLD.foreign["saved_filter_id"] = [
        SavedFilter.objects.create(member=agent, name="Agent's", query="").id,
        SavedFilter.objects.create(member=outsider, name="Theirs", query="").id,
    ]


# Queries of the inbox list a saved filter may hold (and a foreign or unknown
# one, refused 400 naming `query`).
SAVED_QUERIES = [
    "status=open",
    "assignee=me&label=vip",
    "mentioned=me&status=pending",
    "team=none&channel_type=x",
    "label=no-such-label",
    "colour=red",
]


@schema.hook("flatmap_body")
def flatmap_saved_filter_query(
    context: schemathesis.HookContext, body: Any
) -> st.SearchStrategy:
    """A saved filter's `query`: mostly a query string the inbox list
    accepts (with one of our teams), sometimes a bad one, sometimes as
    generated."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return st.just(body)
    teams = [f"team={team_id}" for team_id in WORLD.own.get("team_id", [])]
    return st.sampled_from([*SAVED_QUERIES, *teams, body["query"]]).map(
        lambda query: {**body, "query": query}
    )


@schema.hook("flatmap_body")
def flatmap_conversation_team_and_labels(
    context: schemathesis.HookContext, body: Any
) -> st.SearchStrategy:
    """`team_id` of a conversation change often names one of our teams (or
    null, or another business's: 400); `labels`, `labels_add` and
    `labels_remove` often list our label names (sometimes another
    business's: 400)."""
    if not isinstance(body, dict):
        return st.just(body)
    strategy = st.just(body)
    if "team_id" in body:
        strategy = strategy.flatmap(
            lambda b: st.sampled_from(
                [
                    *WORLD.own.get("team_id", []),
                    *WORLD.own.get("team_id", []),
                    None,
                    *WORLD.foreign.get("team_id", []),
                    b["team_id"],
                ]
            ).map(lambda value: {**b, "team_id": value})
        )
    names = WORLD.own.get("label_name", [])
    foreign = WORLD.foreign.get("label_name", [])
    for key in ("labels", "labels_add", "labels_remove"):
        if isinstance(body.get(key), list) and names:
            strategy = strategy.flatmap(
                lambda b, key=key: st.sampled_from(
                    [[], names, names[:1], [*names[1:], *foreign], b[key]]
                ).map(lambda value: {**b, key: value})
            )
    if "labels_add" in body and "labels_remove" in body:
        # The same label in both is refused: mostly keep them apart.
        strategy = strategy.flatmap(
            lambda b: st.sampled_from(
                [{**b, "labels_remove": []}, {**b, "labels_add": []}, b]
            )
        )
    return strategy


@schema.hook("flatmap_query")
def flatmap_query_team_and_label(
    context: schemathesis.HookContext, query: dict[str, Any] | None
) -> st.SearchStrategy:
    """`?team=` often one of our teams or `none`; `?label=` one of our label
    names (another business's: 400)."""
    if not query:
        return st.just(query)
    strategy = st.just(query)
    if "team" in query:
        strategy = strategy.flatmap(
            lambda q: st.sampled_from(
                [
                    *map(str, WORLD.own.get("team_id", [])),
                    "none",
                    *map(str, WORLD.foreign.get("team_id", [])),
                    q["team"],
                ]
            ).map(lambda value: {**q, "team": value})
        )
    if "label" in query:
        strategy = strategy.flatmap(
            lambda q: st.sampled_from(
                [
                    *WORLD.own.get("label_name", []),
                    *WORLD.foreign.get("label_name", []),
                    q["label"],
                ]
            ).map(lambda value: {**q, "label": value})
        )
    return strategy


@schema.hook("flatmap_body")
def flatmap_team_member_ids(
    context: schemathesis.HookContext, body: Any
) -> st.SearchStrategy:
    """`member_ids` in a team's body often lists members of the business
    (sometimes with another business's member, which answers 400)."""
    if not isinstance(body, dict) or not isinstance(body.get("member_ids"), list):
        return st.just(body)
    own = WORLD.own.get("member_user_id")
    if not own:
        return st.just(body)
    choices = [*own, *WORLD.foreign.get("member_user_id", [])]
    return st.sampled_from(
        [
            body,
            {**body, "member_ids": []},
            {**body, "member_ids": own},
            {**body, "member_ids": own[:1]},
            {**body, "member_ids": choices},
        ]
    )


@schema.parametrize()
@hypothesis.settings(
    max_examples=FUZZ_MAX_EXAMPLES,
    deadline=None,
    # `world` is built once per operation on purpose; every example rolls its
    # own changes back (below), so it is the same for each of them.
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
def test_api_answers_as_its_schema_says(case: schemathesis.Case, world: str) -> None:
    # A generated Host header is refused by Django's ALLOWED_HOSTS check
    # before any API code runs (an HTML 400 of the deployment, not an API
    # answer): the host is the server's, never the fuzzer's.
    if case.headers:
        case.headers = {
            name: value
            for name, value in case.headers.items()
            if name.lower() != "host"
        }
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
@pytest.mark.parametrize("assignee", ["1.5", "one", "ME"])
def test_an_assignee_filter_that_is_not_me_none_or_a_whole_number_is_400(
    admin_api, business, assignee
):
    # given
    ConversationFactory(business=business)

    # when
    response = admin_api.get("/api/v1/conversations/", {"assignee": assignee})

    # then
    assert response.status_code == 400
    assert response.json() == {"assignee": ['Enter "me", "none" or a user id.']}


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


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token_id", ["abc", "1.5", "null,null", "-1", "99999999999999999999"]
)
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("post", "revoke/"), ("delete", "")],
    ids=["show", "revoke", "delete"],
)
def test_a_malformed_token_id_is_a_json_404_and_revokes_nothing(
    admin_member, api_client_for, token_id, method, suffix
):
    # given
    client = api_client_for(admin_member)

    # when
    response = getattr(client, method)(f"/api/v1/tokens/{token_id}/{suffix}")

    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "No such token."}
    assert ApiToken.objects.filter(revoked_at__isnull=False).count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "message_id", ["abc", "1.5", "null,null", "-1", "99999999999999999999"]
)
@pytest.mark.parametrize("action", ["retry", "mark-sent"])
def test_a_malformed_message_id_is_a_json_404_and_changes_nothing(
    admin_api, business, message_id, action
):
    # given
    conversation = ConversationFactory(business=business)
    uncertain = MessageFactory(
        conversation=conversation, direction="outbound", status="uncertain"
    )

    # when
    response = admin_api.post(
        f"/api/v1/conversations/{conversation.id}/messages/{message_id}/{action}/"
    )

    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "Message not found."}
    uncertain.refresh_from_db()
    assert uncertain.status == "uncertain"
    assert not DeliveryAttempt.objects.exists()


@pytest.mark.django_db
def test_a_token_body_without_a_content_type_is_415_and_creates_nothing(
    admin_member, api_client_for
):
    # given
    client = api_client_for(admin_member)
    declared = schema["/api/v1/tokens/"]["POST"].definition.raw["responses"]

    # when
    response = client.generic("POST", "/api/v1/tokens/", b"name=ci", content_type="")

    # then
    assert response.status_code == 415
    assert response.json() == {"detail": 'Unsupported media type "" in request.'}
    assert ApiToken.objects.filter(member=admin_member).count() == 1  # the client's
    assert declared["415"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("/api/v1/tokens/", "GET", ["200", "401", "403"]),
        ("/api/v1/tokens/", "POST", ["201", "400", "401", "403", "415"]),
        ("/api/v1/tokens/{id}/", "GET", ["200", "401", "403", "404"]),
        ("/api/v1/tokens/{id}/", "DELETE", ["204", "401", "403", "404"]),
        ("/api/v1/tokens/{id}/revoke/", "POST", ["200", "401", "403", "404"]),
        (
            "/api/v1/conversations/{id}/messages/{message_id}/retry/",
            "POST",
            ["202", "401", "403", "404", "409"],
        ),
        (
            "/api/v1/conversations/{id}/messages/{message_id}/mark-sent/",
            "POST",
            ["200", "401", "403", "404", "409"],
        ),
    ],
    ids=[
        "tokens",
        "token-create",
        "token",
        "token-delete",
        "token-revoke",
        "retry",
        "mark-sent",
    ],
)
def test_token_and_message_actions_declare_every_answer_they_give(
    path, method, expected
):
    # given / when
    declared = schema[path][method].definition.raw

    # then
    assert sorted(declared["responses"]) == expected
    # Only creating a token takes a body (its optional `name`).
    takes_a_body = (path, method) == ("/api/v1/tokens/", "POST")
    assert ("requestBody" in declared) == takes_a_body


def test_the_bulk_change_declares_every_answer_it_gives():
    # given / when
    declared = schema["/api/v1/conversations/bulk/"]["POST"].definition.raw

    # then
    assert sorted(declared["responses"]) == ["200", "400", "401", "403", "415"]
    body = declared["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ConversationBulk"}


@pytest.mark.django_db
def test_a_form_with_too_many_fields_is_a_json_400_and_creates_nothing(
    admin_api, business
):
    # What the fuzzer found: Django's HTML page for a form of more than
    # DATA_UPLOAD_MAX_NUMBER_FIELDS fields, where the schema promises JSON.
    body = "name=Support&" + "&".join(f"member_ids={n}" for n in range(1200))

    answer = admin_api.post(
        "/api/v1/teams/", body, content_type="application/x-www-form-urlencoded"
    )

    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/json"
    assert "Form parse error" in answer.json()["detail"]
    assert not business.teams.exists()

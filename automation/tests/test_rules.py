"""Automation rules: what each condition matches, what each action does, the
order rules run in, at most once per event, and what the thread shows.

Rules run here inline (`events_run` and `unanswered_scan` called as the
worker calls them); `test_worker.py` runs them on a real Celery worker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from automation.models import RuleRun
from automation.services import events_run, rule_apply, unanswered_scan
from automation.tests.conftest import CUSTOMER, inbound
from automation.triggers import active_triggers, event
from billing.tests.factories import BusinessFactory, MemberFactory
from conversations.models import Conversation, ConversationLabel, Message
from conversations.services import conversation_update, ingest
from conversations.tests.factories import ConversationFactory, MessageFactory
from webhooks.models import WebhookEvent
from webhooks.services.endpoints import endpoint_create
from workspace.models import OpeningInterval
from workspace.tests.factories import CannedResponseFactory, LabelFactory, TeamFactory

pytestmark = pytest.mark.django_db


def receive(channel, platform_id: str, text: str, **kwargs) -> Message:
    """Ingest one customer message and run the rules its events trigger, as
    the worker would after the commit."""
    result = ingest(channel=channel, items=[inbound(platform_id, text, **kwargs)])
    message = Message.objects.select_related("conversation").get(pk=result.created[0])
    events = [
        event(
            "message_created",
            message.conversation_id,
            f"message.created:{message.pk}",
            message.pk,
        )
    ]
    if message.conversation.messages.filter(direction="inbound").count() == 1:
        events.insert(
            0,
            event(
                "conversation_created",
                message.conversation_id,
                f"conversation.created:{message.conversation_id}",
                message.pk,
            ),
        )
    events_run(events)
    return message


def activity_texts(conversation) -> list[str]:
    return list(
        conversation.messages.filter(kind="activity")
        .order_by("pk")
        .values_list("text", flat=True)
    )


# ------------------------------------------------------------------ acceptance


def test_whatsapp_refund_rule_routes_to_billing_and_labels_once_per_message(
    whatsapp, telegram, billing_team, refund_label, make_rule
):
    make_rule(
        name="Refunds to Billing",
        conditions={"channel_types": ["whatsapp"], "text_contains": ["refund"]},
        actions={"assign_team_id": billing_team.pk, "add_label_id": refund_label.pk},
    )

    message = receive(whatsapp, "wamid.1", "I want a REFUND please")
    # the same event again (a retried task): nothing more
    events_run(
        [
            event(
                "message_created",
                message.conversation_id,
                f"message.created:{message.pk}",
                message.pk,
            )
        ]
    )
    other = receive(telegram, "tg.1", "refund")

    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.team == billing_team
    assert list(conversation.labels.values_list("name", flat=True)) == ["refund"]
    assert RuleRun.objects.filter(conversation=conversation).count() == 1
    assert activity_texts(conversation) == [
        "PingBack assigned this conversation to team Billing",
        "PingBack added label refund",
        "Automation rule “Refunds to Billing” ran: routed to team Billing; "
        "added label refund",
    ]
    assert Conversation.objects.get(pk=other.conversation_id).team is None


# ------------------------------------------------------------------ conditions


@pytest.mark.parametrize(
    ("conditions", "matches"),
    [
        ({"channel_types": ["whatsapp"]}, True),
        ({"channel_types": ["telegram", "sms"]}, False),
        ({"text_contains": ["ORDER", "parcel"]}, True),
        ({"text_contains": ["invoice"]}, False),
        ({"contact_attribute": {"key": "plan", "value": "Gold"}}, True),
        ({"contact_attribute": {"key": "plan", "value": "silver"}}, False),
        ({"contact_attribute": {"key": "plan", "value": ""}}, True),
        ({"contact_attribute": {"key": "vip", "value": "true"}}, True),
        ({"contact_attribute": {"key": "company_size", "value": ""}}, False),
        ({"languages": ["pt", "es"]}, True),
        ({"languages": ["en"]}, False),
    ],
)
def test_each_condition_matches_what_it_says(whatsapp, make_rule, conditions, matches):
    rule = make_rule(conditions=conditions, actions={"priority": "high"})
    message = receive(whatsapp, "wamid.c", "Where is my order?")
    contact = message.conversation.contact
    contact.custom_attributes = {"plan": "gold", "vip": True, "language": "pt-BR"}
    contact.save()
    Conversation.objects.filter(pk=message.conversation_id).update(priority="none")
    RuleRun.objects.all().delete()

    run = rule_apply(
        rule=rule,
        conversation=Conversation.objects.select_related("contact").get(
            pk=message.conversation_id
        ),
        message=message,
        key="test",
    )

    assert (run is not None) is matches
    priority = Conversation.objects.get(pk=message.conversation_id).priority
    assert priority == ("high" if matches else "none")


def test_channel_and_label_conditions(
    business, whatsapp, telegram, refund_label, make_rule
):
    by_channel = make_rule(
        conditions={"channel_ids": [str(telegram.pk)]}, actions={"priority": "low"}
    )
    needs_label = make_rule(
        conditions={"label_id": refund_label.pk}, actions={"priority": "urgent"}
    )
    lacks_label = make_rule(
        conditions={"label_id": refund_label.pk, "label_absent": True},
        actions={"resolve": True},
    )
    conversation = ConversationFactory(business=business, channel=whatsapp)
    message = MessageFactory(conversation=conversation, text="hello")

    assert (
        rule_apply(rule=by_channel, conversation=conversation, message=message, key="k")
        is None
    )
    assert (
        rule_apply(
            rule=needs_label, conversation=conversation, message=message, key="k"
        )
        is None
    )
    assert rule_apply(
        rule=lacks_label, conversation=conversation, message=message, key="k"
    )
    ConversationLabel.objects.create(conversation=conversation, label=refund_label)
    assert rule_apply(
        rule=needs_label, conversation=conversation, message=message, key="k2"
    )

    conversation.refresh_from_db()
    assert (conversation.status, conversation.priority) == ("resolved", "urgent")


def test_business_hours_condition(business, whatsapp, make_rule):
    closed = make_rule(
        conditions={"business_hours": "closed"}, actions={"priority": "medium"}
    )
    conversation = ConversationFactory(business=business, channel=whatsapp)
    monday_noon = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    OpeningInterval.objects.create(
        business=business, weekday=0, opens=9 * 60, closes=17 * 60
    )

    assert (
        rule_apply(
            rule=closed,
            conversation=conversation,
            message=None,
            key="a",
            now=monday_noon,
        )
        is None
    )
    assert rule_apply(
        rule=closed,
        conversation=conversation,
        message=None,
        key="b",
        now=monday_noon + timedelta(hours=8),
    )


# ------------------------------------------------------------------ actions


def test_assign_agent_canned_response_and_snooze(business, whatsapp, make_rule):
    agent = MemberFactory(
        business=business, user__first_name="Ana", user__last_name="Lima"
    ).user
    canned = CannedResponseFactory(
        business=business,
        short_code="hello",
        content="Hi {{contact.name}}, we are on it.",
    )
    make_rule(
        name="Welcome",
        trigger="conversation_created",
        actions={
            "assign_agent_id": agent.pk,
            "canned_response_id": canned.pk,
            "snooze_minutes": 30,
        },
    )

    message = receive(whatsapp, "wamid.w", "hi there")

    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.assignee == agent
    assert conversation.status == "snoozed"
    assert conversation.snoozed_until > timezone.now() + timedelta(minutes=29)
    reply = conversation.messages.get(direction="outbound", kind="message")
    assert reply.text == "Hi Rosa Díaz, we are on it."
    assert reply.status == "queued"
    assert reply.details == {"automatic": "automation_rule"}
    assert activity_texts(conversation)[-1] == (
        "Automation rule “Welcome” ran: assigned to Ana Lima; sent canned response "
        "/hello; snoozed for 30 minutes"
    )


def test_an_action_that_cannot_be_done_is_named_and_the_others_still_run(
    business, whatsapp, make_rule
):
    agent = MemberFactory(business=business).user
    rule = make_rule(
        name="Route",
        actions={"assign_agent_id": agent.pk, "priority": "high"},
    )
    agent.is_active = False
    agent.save()

    message = receive(whatsapp, "wamid.x", "hello")

    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.assignee is None
    assert conversation.priority == "high"
    assert RuleRun.objects.get(rule=rule).summary == (
        "Automation rule “Route” ran: could not assign the agent (This agent is "
        "deactivated: reactivate them to assign them.); set priority high"
    )


def test_send_to_a_webhook_records_one_event_for_that_endpoint(
    business, whatsapp, make_rule, settings
):
    settings.EGRESS_ALLOWED_HOSTS = ["127.0.0.1:9"]
    endpoint, _secret = endpoint_create(
        business=business, url="http://127.0.0.1:9/hook", events=["contact.created"]
    )
    rule = make_rule(name="Tell CRM", actions={"webhook_endpoint_id": endpoint.pk})

    message = receive(whatsapp, "wamid.h", "hello")

    sent = WebhookEvent.objects.get(endpoint=endpoint, type="automation.rule_matched")
    body = json.loads(sent.body)
    assert body["type"] == "automation.rule_matched"
    assert body["data"]["rule"] == {
        "id": rule.pk,
        "name": "Tell CRM",
        "trigger": "message_created",
    }
    assert body["data"]["conversation"]["id"] == message.conversation_id
    assert body["data"]["message"]["text"] == "hello"


# ------------------------------------------------------------------ order and loops


def test_rules_run_in_position_order_each_seeing_the_earlier_ones_changes(
    business, whatsapp, refund_label, make_rule
):
    second = make_rule(
        name="Urgent refunds",
        conditions={"label_id": refund_label.pk},
        actions={"priority": "urgent"},
    )
    first = make_rule(name="Label refunds", actions={"add_label_id": refund_label.pk})
    from automation.services import rule_move

    rule_move(rule=first, position=0)

    message = receive(whatsapp, "wamid.o", "refund")

    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.priority == "urgent"
    assert [r.rule_id for r in RuleRun.objects.order_by("pk")] == [first.pk, second.pk]


def test_status_rules_run_on_an_agents_change_but_not_on_a_rules_own(
    business, whatsapp, admin_member, make_rule, django_capture_on_commit_callbacks
):
    resolver = make_rule(name="Resolve", actions={"resolve": True})
    on_resolved = make_rule(
        name="On resolved",
        trigger="status_changed",
        trigger_status="resolved",
        actions={"priority": "low"},
    )
    conversation = ConversationFactory(business=business, channel=whatsapp)
    message = MessageFactory(conversation=conversation, text="x")

    with django_capture_on_commit_callbacks(execute=True):
        rule_apply(rule=resolver, conversation=conversation, message=message, key="m")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.priority) == ("resolved", "none")

    with django_capture_on_commit_callbacks(execute=True):
        conversation_update(
            conversation=conversation, by=admin_member.user, status="open"
        )
        conversation_update(
            conversation=conversation, by=admin_member.user, status="resolved"
        )

    conversation.refresh_from_db()
    assert conversation.priority == "low"
    assert RuleRun.objects.filter(rule=on_resolved).count() == 1


# ------------------------------------------------------------------ unanswered


def test_unanswered_rule_acts_once_per_spell(business, whatsapp, make_rule):
    rule = make_rule(
        name="Escalate",
        trigger="unanswered",
        unanswered_minutes=15,
        actions={"priority": "high"},
    )
    now = timezone.now()
    conversation = ConversationFactory(
        business=business, channel=whatsapp, last_message_at=now - timedelta(minutes=20)
    )
    MessageFactory(conversation=conversation, sent_at=now - timedelta(minutes=20))
    waiting = ConversationFactory(
        business=business, channel=whatsapp, last_message_at=now - timedelta(minutes=5)
    )
    MessageFactory(conversation=waiting, sent_at=now - timedelta(minutes=5))
    # created before the rule: only conversations written after it count
    from automation.models import Rule

    Rule.objects.filter(pk=rule.pk).update(created_at=now - timedelta(hours=1))

    assert unanswered_scan(now=now) == 1
    assert unanswered_scan(now=now + timedelta(minutes=1)) == 0
    assert Conversation.objects.get(pk=conversation.pk).priority == "high"
    assert Conversation.objects.get(pk=waiting.pk).priority == "none"

    # an agent answers, the customer writes again, nobody answers: a new spell
    Conversation.objects.filter(pk=conversation.pk).update(priority="none")
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        kind="message",
        status="sent",
        sent_at=now,
        platform_message_id=None,
    )
    MessageFactory(conversation=conversation, sent_at=now + timedelta(minutes=1))
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=now + timedelta(minutes=1)
    )
    assert unanswered_scan(now=now + timedelta(minutes=8)) == 0
    # 16 minutes on: the new spell, and the other conversation's first
    assert unanswered_scan(now=now + timedelta(minutes=17)) == 2
    assert Conversation.objects.get(pk=conversation.pk).priority == "high"
    assert RuleRun.objects.filter(rule=rule, conversation=conversation).count() == 2


# ------------------------------------------------------------------ scoping


def test_ids_of_another_business_are_refused_naming_the_field(business, make_rule):
    other = BusinessFactory()
    foreign_team = TeamFactory(business=other)
    foreign_label = LabelFactory(business=other)

    with pytest.raises(ValidationError) as refused:
        make_rule(
            conditions={"label_id": foreign_label.pk},
            actions={"assign_team_id": foreign_team.pk, "assign_agent_id": 999999},
        )

    assert refused.value.message_dict == {
        "conditions.label_id": ["No such label in this business."],
        "actions.assign_team_id": ["No such team in this business."],
        "actions.assign_agent_id": ["No such agent in this business."],
    }


def test_active_triggers_follow_rule_changes(business, make_rule):
    assert active_triggers(business.pk) == frozenset()
    rule = make_rule(actions={"priority": "low"})
    # (the cache is dropped on commit; the test's transaction never commits)
    from django.core.cache import cache

    from automation import triggers

    cache.delete(triggers._cache_key(business.pk))
    assert active_triggers(business.pk) == {"message_created"}
    assert CUSTOMER.external_id  # (fixture imported for the helpers)
    rule.delete()


def test_the_thread_shows_the_priority_and_the_rules_entry(
    client, admin_member, business, whatsapp, make_rule
):
    canned = CannedResponseFactory(business=business, content="We got it.")
    make_rule(
        name="Urgent",
        actions={"priority": "urgent", "canned_response_id": canned.pk},
    )
    message = receive(whatsapp, "wamid.p", "help")
    client.force_login(admin_member.user)

    page = client.get(f"/conversations/{message.conversation_id}/").content.decode()

    assert "Urgent priority" in page
    assert (
        "Automation rule “Urgent” ran: set priority urgent; sent canned "
        f"response /{canned.short_code}" in page
    )
    assert "Automation rule</strong> (sent automatically)" in page


def test_the_on_commit_check_costs_one_query_then_none(business, whatsapp, make_rule):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from automation.triggers import _publish

    events = [event("conversation_created", 1, "conversation.created:1")]
    with CaptureQueriesContext(connection) as cold:
        _publish(business.pk, events)  # no rule of this trigger: no task
    with CaptureQueriesContext(connection) as warm:
        _publish(business.pk, events)

    assert (len(cold), len(warm)) == (1, 0)


def test_an_ingest_batch_of_a_business_without_rules_runs_no_automation_query(
    business, whatsapp, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        ingest(channel=whatsapp, items=[inbound("wamid.q", "hello")])

    assert not [q for q in queries.captured_queries if "automation_" in q["sql"]]

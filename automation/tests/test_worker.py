"""The acceptance case on a real Celery worker: a rule "WhatsApp message
containing refund → team Billing, label refund" is applied once per
message. The ingest commits, its on-commit hook sends the task through the
broker, the worker thread runs the rules."""

from __future__ import annotations

import pytest
from django.db import transaction

from automation.models import RuleRun
from automation.tasks import run_rules
from automation.tests.conftest import inbound
from automation.triggers import event
from conversations.models import Conversation, Message
from conversations.services import ingest
from pingback.testing import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_refund_rule_applied_once_per_message_on_a_real_worker(
    whatsapp, billing_team, refund_label, make_rule, celery_worker
):
    rule = make_rule(
        name="WhatsApp refunds",
        conditions={"channel_types": ["whatsapp"], "text_contains": ["refund"]},
        actions={"assign_team_id": billing_team.pk, "add_label_id": refund_label.pk},
    )

    with transaction.atomic():
        first = ingest(channel=whatsapp, items=[inbound("wamid.A", "Refund please")])
    wait_for(lambda: RuleRun.objects.filter(rule=rule).count() == 1)
    message = Message.objects.get(pk=first.created[0])
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.team_id == billing_team.pk
    assert list(conversation.labels.all()) == [refund_label]

    # The platform delivers the same message again, and the task is sent
    # twice more for it (a redelivered task): the rule does not act again.
    with transaction.atomic():
        again = ingest(channel=whatsapp, items=[inbound("wamid.A", "Refund please")])
    assert again.duplicates == 1
    key = f"message.created:{message.pk}"
    run_rules.delay([event("message_created", conversation.pk, key, message.pk)])
    run_rules.delay([event("message_created", conversation.pk, key, message.pk)])
    # A message without the word: no run. Then a second message about a
    # refund: a second run, with nothing left to change. (The solo worker
    # takes tasks in the order sent: once that run exists, the tasks before
    # it have run.)
    with transaction.atomic():
        ingest(channel=whatsapp, items=[inbound("wamid.C", "thanks")])
    with transaction.atomic():
        ingest(channel=whatsapp, items=[inbound("wamid.B", "still no refund")])

    wait_for(lambda: RuleRun.objects.filter(rule=rule).count() == 2)
    runs = sorted(
        RuleRun.objects.filter(rule=rule).values_list("trigger_key", flat=True)
    )
    second = Message.objects.get(platform_message_id="wamid.B")
    assert runs == sorted([key, f"message.created:{second.pk}"])
    texts = list(
        conversation.messages.filter(kind="activity")
        .order_by("pk")
        .values_list("text", flat=True)
    )
    assert texts == [
        "PingBack assigned this conversation to team Billing",
        "PingBack added label refund",
        "Automation rule “WhatsApp refunds” ran: routed to team Billing; "
        "added label refund",
        "Automation rule “WhatsApp refunds” ran: already in team Billing; "
        "label refund already on",
    ]

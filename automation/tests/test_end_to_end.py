"""The acceptance case end to end through real parts: the live server, a
real Celery worker on the broker, the sandbox's WhatsApp stand-in delivering
signed webhooks as Meta does. An admin creates the rule "WhatsApp message
containing refund → team Billing, label refund" through the API; the
customer writes; the worker stores the messages and applies the rule once
per message, even when Meta delivers a message twice."""

from __future__ import annotations

import pytest

from automation.models import RuleRun
from channels_app.tests import e2e
from conversations.models import Conversation, Message
from pingback.testing import wait_for
from sandbox.platforms.whatsapp.payloads import DEMO_NUMBER
from workspace.tests.factories import LabelFactory, TeamFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VERIFY_TOKEN = "acme-whatsapp-verify-2026"


@pytest.fixture
def live(live_server, sandbox, settings, celery_worker, admin_member):
    """The running stack and a WhatsApp channel created through the API, its
    callback subscribed in the sandbox's Meta dashboard."""
    config = DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN)
    stack = e2e.live_stack(
        live_server, settings, admin_member, sandbox, "whatsapp", config
    )
    instructions = stack["channel"]["config"]["_meta_setup_instructions"]
    subscribed = e2e.sandbox_control(
        stack,
        "whatsapp",
        "subscribe",
        **instructions,
        app_secret=DEMO_NUMBER.app_secret,
    )
    assert subscribed["verified"] is True, subscribed
    return stack


def customer_sends(live, **body) -> None:
    sent = e2e.sandbox_control(live, "whatsapp", "customer/message", **body)
    assert [d["status_code"] for d in sent["deliveries"]] == [200]


def test_whatsapp_refund_rule_end_to_end(live, admin_member):
    business = admin_member.business
    billing = TeamFactory(business=business, name="Billing")
    refund = LabelFactory(business=business, name="refund")
    created = live["api"].post(
        f"{live['url']}/api/v1/automation-rules/",
        json={
            "name": "WhatsApp refunds",
            "trigger": "message_created",
            "conditions": {"channel_types": ["whatsapp"], "text_contains": ["refund"]},
            "actions": {"assign_team_id": billing.pk, "add_label_id": refund.pk},
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text

    customer_sends(live, text="Can I get a refund?", message_id="wamid.refund-1")
    customer_sends(live, text="Can I get a refund?", message_id="wamid.refund-1")
    customer_sends(live, text="Thanks", message_id="wamid.thanks")
    customer_sends(live, text="Any news on my REFUND?", message_id="wamid.refund-2")

    # The worker takes the inbound events in order: once the second run is
    # there, every message before it has been through the rules.
    runs = wait_for(
        lambda: (
            list(RuleRun.objects.order_by("pk"))
            if RuleRun.objects.count() >= 2
            else None
        ),
        timeout=30,
    )
    conversation = Conversation.objects.get()
    assert conversation.team == billing
    assert list(conversation.labels.all()) == [refund]
    refunds = Message.objects.filter(
        platform_message_id__in=["wamid.refund-1", "wamid.refund-2"]
    ).order_by("pk")
    assert [run.trigger_key for run in runs] == [
        f"message.created:{m.pk}" for m in refunds
    ]
    entries = [
        m["text"]
        for m in e2e.thread(live, conversation.pk)
        if m.get("kind") == "activity"
    ]
    assert entries == [
        "PingBack assigned this conversation to team Billing",
        "PingBack added label refund",
        "Automation rule “WhatsApp refunds” ran: routed to team Billing; "
        "added label refund",
        "Automation rule “WhatsApp refunds” ran: already in team Billing; "
        "label refund already on",
    ]

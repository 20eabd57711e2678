"""Fixtures of the automation tests: a WhatsApp channel of the business, a
"Billing" team and a "refund" label, and a helper that makes a rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from automation.services import rule_create
from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from workspace.tests.factories import LabelFactory, TeamFactory

CUSTOMER = InboundContact(external_id="+15550001111", name="Rosa Díaz")


@pytest.fixture
def whatsapp(business):
    return ChannelFactory(
        business=business, type="whatsapp", name="WhatsApp support", secrets={}
    )


@pytest.fixture
def telegram(business):
    return ChannelFactory(
        business=business, type="telegram", name="Telegram bot", secrets={}
    )


@pytest.fixture
def billing_team(business):
    return TeamFactory(business=business, name="Billing")


@pytest.fixture
def refund_label(business):
    return LabelFactory(business=business, name="refund")


@pytest.fixture
def make_rule(business):
    """`make_rule(actions={...}, conditions={...}, trigger=..., name=...)`."""

    def make(**data):
        data.setdefault("name", "Rule")
        data.setdefault("trigger", "message_created")
        data.setdefault("conditions", {})
        return rule_create(business=business, data=data)

    return make


def inbound(
    platform_message_id: str,
    text: str,
    *,
    contact: InboundContact = CUSTOMER,
    at: datetime | None = None,
) -> InboundMessage:
    """A customer's message on a phone channel (thread: the number)."""
    return InboundMessage(
        platform_message_id=platform_message_id,
        contact=contact,
        text=text,
        sent_at=at or datetime.now(UTC) - timedelta(seconds=1),
        thread_key=contact.external_id,
    )


@pytest.fixture(autouse=True)
def _fresh_trigger_cache(monkeypatch):
    """No cached "active triggers" of an earlier test's business (ids may
    be reused once a test's transaction is rolled back): each test's keys
    are its own (the cache is not cleared: Redis holds other state)."""
    from automation import triggers

    run = uuid.uuid4().hex
    monkeypatch.setattr(
        triggers,
        "_cache_key",
        lambda business_id: f"automation:test:{run}:{business_id}",
    )

"""Fixtures for customer satisfaction's tests: a business with CSAT on, and
conversations on a few channel types with a customer message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation, Message
from conversations.services.conversations import conversation_update
from conversations.tests.factories import ConversationFactory, MessageFactory
from satisfaction.models import SatisfactionSettings

QUESTION = "How did we do? Rate us 1-5."


@pytest.fixture
def csat_on(business) -> SatisfactionSettings:
    return SatisfactionSettings.objects.create(
        business=business, enabled=True, question=QUESTION
    )


def conversation_on(business, channel_type: str, *, thread_key=None, wrote_ago=None):
    """An open conversation on a new channel of `channel_type`, where the
    customer wrote `wrote_ago` (default a minute) ago."""
    channel = ChannelFactory(business=business, type=channel_type, config={})
    kwargs = {"thread_key": thread_key} if thread_key else {}
    if channel_type in ("webchat", "widget"):
        kwargs["thread_key"] = "visitor:6f1d0a56-8f6e-4d27-9a3e-0c5d8f1b2a77"
    conversation = ConversationFactory(business=business, channel=channel, **kwargs)
    MessageFactory(
        conversation=conversation,
        sent_at=timezone.now() - (wrote_ago or timedelta(minutes=1)),
    )
    return conversation


@pytest.fixture
def make_conversation(business):
    def make(channel_type: str = "telegram", **kwargs) -> Conversation:
        return conversation_on(business, channel_type, **kwargs)

    return make


@pytest.fixture
def resolve(django_capture_on_commit_callbacks, admin_member):
    """Resolve a conversation as the admin, then run what the change queued
    on commit (the `satisfaction.ask` task runs inline). The question it
    queues stays `queued`: its hand-off to the delivery workers is left out
    here (the end-to-end tests send it through the sandbox)."""

    def run(conversation: Conversation, status: str = "resolved") -> None:
        with django_capture_on_commit_callbacks() as callbacks:
            conversation_update(
                conversation=conversation, by=admin_member.user, status=status
            )
        for callback in callbacks:
            callback()

    return run


def questions(conversation: Conversation) -> list[Message]:
    return list(
        Message.objects.filter(
            conversation=conversation, details__automatic="csat_request"
        ).order_by("pk")
    )

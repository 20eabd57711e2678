"""Notes and activity entries in the thread as an agent sees it: a note is
marked private with no delivery status; an activity entry is a line."""

import pytest
from django.test import Client
from django.urls import reverse

from conversations.services import conversation_update
from conversations.services.replies import post_note
from conversations.tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_a_note_is_marked_private_and_an_activity_entry_is_a_line(agent_member):
    # Given a conversation with a note and a status change.
    conversation = ConversationFactory(business=agent_member.business)
    post_note(conversation=conversation, author=agent_member.user, text="VIP, be kind")
    conversation_update(
        conversation=conversation, status="resolved", by=agent_member.user
    )
    client = Client()
    client.force_login(agent_member.user)

    # When the agent opens it.
    html = client.get(
        reverse("conversation", kwargs={"conversation_id": conversation.pk})
    ).content.decode()

    # Then the note says it is private and shows no delivery status, and the
    # change is a line of its own.
    assert "Private note</strong> (agents only, not sent)" in html
    assert "VIP, be kind" in html
    assert 'class="delivery ' not in html
    assert '<li class="activity"' in html
    assert "resolved this conversation" in html

"""The inbox's search partial (`/inbox/search/`) and opening a conversation
at a message (`/conversations/<id>/?message=<id>`)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from conversations.tests.factories import ConversationFactory, MessageFactory
from workspace.models import Label

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(admin_member) -> Client:
    client = Client()
    client.force_login(admin_member.user)
    return client


def test_results_partial_lists_matches_under_the_list_filters(
    business, admin_member, agent_client
):
    vip = Label.objects.create(business=business, name="vip")
    labelled = MessageFactory(
        conversation=ConversationFactory(business=business, status="resolved"),
        text="lost <em>luggage</em> claim",
    )
    labelled.conversation.labels.add(vip)
    other = MessageFactory(
        conversation=ConversationFactory(business=business), text="luggage tag"
    )

    everything = agent_client.get("/inbox/search/", {"q": "luggage"})
    assert everything.status_code == 200
    html = everything.content.decode()
    # The list's default status (open) does not narrow a search.
    assert f"message={labelled.pk}" in html
    assert f"message={other.pk}" in html
    assert "in every status" in html
    assert "&lt;em&gt;" in html and "<em>" not in html
    assert "<mark>luggage</mark>" in html

    narrowed = agent_client.get(
        "/inbox/search/", {"q": "luggage", "label": "vip", "status": "resolved"}
    ).content.decode()
    assert f"message={labelled.pk}" in narrowed
    assert f"message={other.pk}" not in narrowed
    assert "status=resolved" in narrowed  # the result keeps the list's address

    mine = agent_client.get(
        "/inbox/search/", {"q": "luggage", "view": "mine"}
    ).content.decode()
    assert "No message or subject matches" in mine


def test_results_partial_explains_a_bad_query(agent_client):
    response = agent_client.get("/inbox/search/", {"q": "  "})
    assert response.status_code == 200
    assert "Enter a word to search for." in response.content.decode()
    bad_date = agent_client.get("/inbox/search/", {"q": "x", "since": "soon"})
    assert "YYYY-MM-DD" in bad_date.content.decode()


def test_search_page_needs_a_login(client):
    response = client.get("/inbox/search/", {"q": "x"})
    assert response.status_code == 302


def test_conversation_opens_at_the_message(business, agent_client):
    conversation = ConversationFactory(business=business)
    first = MessageFactory(conversation=conversation, text="first")
    MessageFactory(conversation=conversation, text="second")

    page = agent_client.get(
        f"/conversations/{conversation.pk}/", {"message": first.pk}
    ).content.decode()
    pane = agent_client.get(
        f"/conversations/{conversation.pk}/pane/", {"message": first.pk}
    ).content.decode()

    for html in (page, pane):
        found = re.findall(
            r'<li class="message [^"]*is-found" id="message-(\d+)"', html
        )
        assert found == [str(first.pk)]
        assert html.count("data-found-message") == 1
    plain = agent_client.get(f"/conversations/{conversation.pk}/").content.decode()
    assert "is-found" not in plain


def test_results_partial_is_read_in_at_most_six_queries(business, agent_client):
    # given: matches in messages, a subject and a contact's name
    for index in range(5):
        MessageFactory(
            conversation=ConversationFactory(
                business=business, subject=f"Refund {index}", contact__name="Rufus"
            ),
            text="refund please",
        )
    agent_client.get("/inbox/search/", {"q": "refund"})
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # when
    with CaptureQueriesContext(connection) as queries:
        answer = agent_client.get("/inbox/search/", {"q": "refund"})

    # then: the session, the agent with their business, and the search's own
    assert answer.status_code == 200
    assert answer.content.decode().count("refund") >= 5
    assert len(queries) <= 6, [query["sql"][:100] for query in queries]

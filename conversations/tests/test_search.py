"""Search: conversations by message text and subject, contacts by their
details, with the inbox filters; the API `GET /api/v1/search/` and `?q=` on
the conversations list. Runs on SQLite (icontains) and PostgreSQL (tsvector,
trigram)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from billing.tests.factories import BusinessFactory
from contacts.services.contacts import contact_create
from conversations.models import Message, MessageSearch
from conversations.search import (
    SearchFilters,
    SearchQueryInvalid,
    highlight_html,
    query_cleaned,
    search,
)
from conversations.services.conversations import activity_message
from conversations.tests.factories import (
    ContactIdentityFactory,
    ConversationFactory,
    MessageFactory,
)
from workspace.models import Label

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="text search configurations"
)


def _found(business, q, **filters):
    results = search(business, q, SearchFilters(**filters))
    return [
        (entry.conversation.pk, entry.match.message_id)
        for entry in results.conversations
    ]


def test_finds_inbound_outbound_and_note_words_but_not_activity(business):
    inbound = MessageFactory(
        conversation=ConversationFactory(business=business),
        text="The parcel never arrived at Lisbon",
    )
    outbound = MessageFactory(
        conversation=ConversationFactory(business=business),
        direction="outbound",
        status="sent",
        text="We shipped the parcel again",
    )
    note = MessageFactory(
        conversation=ConversationFactory(business=business),
        direction="outbound",
        kind="note",
        status="received",
        text="Customer asked about the parcel twice",
    )
    quiet = ConversationFactory(business=business)
    activity = activity_message(quiet, "parcel label changed", by=None)
    activity.save()

    found = _found(business, "parcel")

    assert sorted(found) == sorted(
        [
            (inbound.conversation_id, inbound.pk),
            (outbound.conversation_id, outbound.pk),
            (note.conversation_id, note.pk),
        ]
    )
    assert quiet.pk not in [conversation for conversation, _ in found]


def test_newest_match_first_each_conversation_once_with_highlight(business):
    conversation = ConversationFactory(business=business)
    old = timezone.now() - timedelta(days=2)
    MessageFactory(conversation=conversation, text="refund please", sent_at=old)
    other = MessageFactory(
        conversation=ConversationFactory(business=business),
        text="refund done",
        sent_at=old,
    )
    newest = MessageFactory(
        conversation=conversation, text="still waiting for the refund <b>now</b> thanks"
    )

    results = search(business, "refund")

    assert [e.match.message_id for e in results.conversations] == [
        newest.pk,
        other.pk,
    ]
    highlight = str(results.conversations[0].match.highlight)
    assert "<mark>refund</mark>" in highlight
    assert "&lt;b&gt;now&lt;/b&gt;" in highlight
    assert "<b>" not in highlight


def test_every_word_must_match(business):
    both = MessageFactory(
        conversation=ConversationFactory(business=business),
        text="blue invoice attached",
    )
    MessageFactory(
        conversation=ConversationFactory(business=business), text="blue sky today"
    )

    assert _found(business, "invoice blue") == [(both.conversation_id, both.pk)]


def test_subject_matches_an_email_conversation(business):
    conversation = ConversationFactory(
        business=business, subject="Quarterly statement overdue"
    )
    MessageFactory(conversation=conversation, text="see subject")

    results = search(business, "statement")

    assert [e.conversation.pk for e in results.conversations] == [conversation.pk]
    match = results.conversations[0].match
    assert match.kind == "subject"
    assert match.message_id is None
    assert "<mark>" in str(match.highlight)


def test_contacts_by_name_prefix_handle_email_and_phone_in_another_format():
    business = BusinessFactory(default_country="PT")
    ana = contact_create(
        business=business,
        name="Ana Brígida Sousa",
        company="Padaria Central",
        emails=["Ana.Sousa@Example.PT"],
        phones=["+351 912 345 678"],
    )
    ContactIdentityFactory(contact=ana, handle="anabakes")
    from contacts.search_text import search_text_refresh

    search_text_refresh([ana.pk])
    contact_create(business=business, name="Bruno Lima", phones=["+351 913 000 111"])

    def names(q):
        return [contact.name for contact in search(business, q).contacts]

    assert names("ana br") == ["Ana Brígida Sousa"]
    assert names("Anabak") == ["Ana Brígida Sousa"]
    assert names("ana.sousa@example") == ["Ana Brígida Sousa"]
    assert names("912 345 678") == ["Ana Brígida Sousa"]
    assert names("00351 912-345-678") == ["Ana Brígida Sousa"]
    assert names("padaria") == ["Ana Brígida Sousa"]
    found = search(business, "ana sousa").contacts[0]
    assert found.email_list == ["ana.sousa@example.pt"]
    assert found.phone_list == ["+351912345678"]


def test_another_business_is_never_seen(business):
    other = BusinessFactory()
    MessageFactory(
        conversation=ConversationFactory(business=other), text="secret zebra plan"
    )
    ConversationFactory(business=other, subject="zebra subject")
    contact_create(business=other, name="Zebra Person")
    mine = MessageFactory(
        conversation=ConversationFactory(business=business), text="my zebra"
    )

    results = search(business, "zebra")

    assert [e.match.message_id for e in results.conversations] == [mine.pk]
    assert results.contacts == []


def test_filters_combine(business, admin_member):
    label = Label.objects.create(business=business, name="vip")
    now = timezone.now()

    def message(**conversation):
        return MessageFactory(
            conversation=ConversationFactory(business=business, **conversation),
            text="tracking number please",
            sent_at=now - timedelta(days=conversation.pop("days", 0) or 0),
        )

    open_mine = message(status="open", assignee=admin_member.user)
    open_mine.conversation.labels.add(label)
    resolved = message(status="resolved", assignee=admin_member.user)
    unassigned = message(status="open")
    old = MessageFactory(
        conversation=ConversationFactory(business=business, status="open"),
        text="tracking number",
        sent_at=now - timedelta(days=30),
    )

    def ids(**filters):
        return sorted(c for c, _ in _found(business, "tracking", **filters))

    everything = sorted(
        m.conversation_id for m in (open_mine, resolved, unassigned, old)
    )
    assert ids() == everything
    assert ids(status="open", assignee_id=admin_member.user.pk) == [
        open_mine.conversation_id
    ]
    assert ids(assignee_id="none") == sorted(
        [unassigned.conversation_id, old.conversation_id]
    )
    assert ids(label_id=label.pk) == [open_mine.conversation_id]
    assert ids(status="resolved", label_id=label.pk) == []
    assert ids(since=now - timedelta(days=7)) == sorted(
        m.conversation_id for m in (open_mine, resolved, unassigned)
    )
    assert ids(until=now - timedelta(days=7)) == [old.conversation_id]
    assert ids(channel_type="telegram") == []
    assert ids(channel_id=old.conversation.channel_id) == [old.conversation_id]


def test_pages_go_to_older_matches(business):
    messages = [
        MessageFactory(
            conversation=ConversationFactory(business=business), text=f"widget {n}"
        )
        for n in range(5)
    ]

    first = search(business, "widget", limit=2)
    second = search(business, "widget", limit=2, before=first.next_before)
    third = search(business, "widget", limit=2, before=second.next_before)

    shown = [
        e.match.message_id
        for page in (first, second, third)
        for e in page.conversations
    ]
    assert shown == [m.pk for m in reversed(messages)]
    assert third.next_before is None


@postgresql_only
def test_language_configuration_matches_other_forms():
    english = BusinessFactory(search_language="english")
    simple = BusinessFactory()
    for business in (english, simple):
        MessageFactory(
            conversation=ConversationFactory(business=business),
            text="The printer keeps running hot",
        )

    assert len(search(english, "run").conversations) == 1
    assert len(search(english, "runs").conversations) == 1
    assert search(simple, "runs").conversations == []


@postgresql_only
def test_changing_the_language_reindexes_messages():
    from conversations.tasks import search_reindex

    business = BusinessFactory()
    MessageFactory(
        conversation=ConversationFactory(business=business, subject="Cars parked"),
        text="The cars were towed",
    )
    assert search(business, "towing").conversations == []

    business.search_language = "english"
    business.save()
    assert search_reindex(str(business.pk)) == 2
    assert search_reindex(str(business.pk)) == 2  # idempotent

    assert len(search(business, "towing").conversations) == 1
    assert search(business, "car").conversations[0].match.kind in ("message", "subject")


@postgresql_only
def test_unknown_language_falls_back_to_simple_and_keeps_messages():
    business = BusinessFactory(search_language="klingon")
    message = MessageFactory(
        conversation=ConversationFactory(business=business), text="qapla batlh"
    )
    assert Message.objects.filter(pk=message.pk).exists()
    assert len(search(business, "qapla").conversations) == 1


def test_long_and_hostile_text_is_escaped_and_cut(business):
    word = "x" * 5000
    MessageFactory(
        conversation=ConversationFactory(business=business),
        text=f"{word} <script>alert(1)</script> needle مرحبا {word}",
    )

    highlight = str(search(business, "needle").conversations[0].match.highlight)

    assert "<mark>needle</mark>" in highlight
    assert "<script>" not in highlight
    assert len(highlight) < 600


def test_highlight_html_escapes_then_marks():
    marked = "a <i>\ue000hit\ue001</i> & \ue000open"
    assert str(highlight_html(marked)) == (
        "a &lt;i&gt;<mark>hit</mark>&lt;/i&gt; &amp; <mark>open</mark>"
    )


def test_query_is_checked():
    with pytest.raises(SearchQueryInvalid):
        query_cleaned("   ")
    with pytest.raises(SearchQueryInvalid):
        query_cleaned("?!")
    with pytest.raises(SearchQueryInvalid):
        query_cleaned("a" * 201)
    assert query_cleaned("  hello ") == "hello"


def test_search_reads_few_queries(business, django_assert_max_num_queries):
    for n in range(30):
        conversation = ConversationFactory(business=business, subject=f"order {n}")
        MessageFactory(conversation=conversation, text=f"order {n} late")
        contact_create(business=business, name=f"Order Person {n}")

    with django_assert_max_num_queries(4):
        results = search(business, "order")
    assert len(results.conversations) == 25
    assert len(results.contacts) == 10
    assert connection.vendor in ("postgresql", "sqlite")


@postgresql_only
def test_the_trigger_keeps_each_messages_business_and_words(business):
    conversation = ConversationFactory(business=business)
    saved = MessageFactory(conversation=conversation, text="first words")
    [bulk] = Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                direction="inbound",
                text="bulk words",
                status="received",
                sent_at=timezone.now(),
            )
        ]
    )
    activity = activity_message(conversation, "Ana resolved this", by=None)
    activity.save()
    # A full save from an instance that never read the trigger's columns.
    saved.text = "changed words"
    saved.save()

    rows = {
        row["pk"]: row
        for row in MessageSearch.objects.filter(conversation=conversation).values(
            "pk", "business_id", "search_vector"
        )
    }
    assert {row["business_id"] for row in rows.values()} == {business.pk}
    assert rows[activity.pk]["search_vector"] is None
    assert "changed" in rows[saved.pk]["search_vector"]
    assert "bulk" in rows[bulk.pk]["search_vector"]
    assert _found(business, "changed") == [(conversation.pk, saved.pk)]
    assert _found(business, "first") == []


def test_a_word_repeated_in_one_long_conversation_does_not_hide_older_ones(
    business,
):
    older = MessageFactory(
        conversation=ConversationFactory(business=business), text="gizmo broke"
    )
    chatty = ConversationFactory(business=business)
    for n in range(12):
        MessageFactory(conversation=chatty, text=f"gizmo update {n}")

    first = search(business, "gizmo", limit=2)  # reads 8 matches: all chatty's
    assert [e.conversation.pk for e in first.conversations] == [chatty.pk]
    assert first.next_before is not None
    shown = []
    page = first
    while page.next_before is not None:
        page = search(business, "gizmo", limit=2, before=page.next_before)
        shown += [e.match.message_id for e in page.conversations]
    assert older.pk in shown


@postgresql_only
def test_search_indexes_keep_no_pending_list():
    """A pending list is read whole by every search until a vacuum: the
    search indexes write new words into the index at once instead, so a
    search costs the same whenever it runs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)",
            [["msg_search_idx", "conv_search_idx", "contact_search_trgm_idx"]],
        )
        options = dict(cursor.fetchall())
    assert options == {
        "msg_search_idx": ["fastupdate=off"],
        "conv_search_idx": ["fastupdate=off"],
        "contact_search_trgm_idx": ["fastupdate=off"],
    }

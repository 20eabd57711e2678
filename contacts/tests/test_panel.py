"""The inbox's customer panel: the contact, its details, attributes and note
edited in place, its conversations on every channel and the suggested merge."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.tests.factories import ChannelFactory
from contacts.selectors.merge import PANEL_CONVERSATIONS
from contacts.services.contacts import contact_create
from conversations.models import Contact, Conversation
from conversations.tests.factories import ContactIdentityFactory, ConversationFactory
from workspace.models import Label

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(agent_member) -> Client:
    client = Client()
    client.force_login(agent_member.user)
    return client


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def _panel(client, conversation) -> str:
    answer = client.get(f"/conversations/{conversation.pk}/panel/")
    assert answer.status_code == 200
    return answer.content.decode()


def test_the_panel_lists_the_contacts_conversations_on_every_channel(
    business, agent_client, django_assert_max_num_queries
):
    vip = Label.objects.create(business=business, name="vip", color="#d97706")
    contact = contact_create(
        business=business,
        name="Ana Lima",
        company="Lima Lda",
        emails=["ana@example.com"],
        phones=["+351912345678"],
        label_ids=[vip.pk],
    )
    now = timezone.now()
    channels = [
        ChannelFactory(business=business, type=kind)
        for kind in ("x", "telegram", "email")
    ]
    conversations = [
        ConversationFactory(
            business=business,
            channel=channel,
            contact=contact,
            last_message_at=now - timedelta(hours=index),
            last_message_preview=f"message on {channel.type}",
        )
        for index, channel in enumerate(channels)
    ]
    with django_assert_max_num_queries(22):
        html = _panel(agent_client, conversations[2])
    text = _text(html)
    assert "Ana Lima" in text and "Lima Lda" in text
    assert "ana@example.com" in text and "+351 912 345 678" in text
    assert 'data-color="#d97706"><bdi>vip</bdi>' in html
    # Both others, newest first, each one click away.
    assert text.index("message on x") < text.index("message on telegram")
    for other in conversations[:2]:
        assert f'href="/conversations/{other.pk}/"' in html
    assert f'href="/contacts/{contact.pk}/"' in html
    assert "All 3 conversations" in text


def test_the_panel_bounds_the_list_and_counts_them_all(
    business, agent_client, django_assert_max_num_queries
):
    contact = contact_create(business=business, name="Ana")
    channel = ChannelFactory(business=business)
    conversations = [
        ConversationFactory(business=business, channel=channel, contact=contact)
        for _ in range(PANEL_CONVERSATIONS + 5)
    ]
    with django_assert_max_num_queries(22):
        html = _panel(agent_client, conversations[0])
    assert html.count("data-open-conversation=") == PANEL_CONVERSATIONS
    assert f"All {PANEL_CONVERSATIONS + 5} conversations" in _text(html)


def test_a_nameless_sms_contact_is_named_by_its_phone_shown_once(
    business, agent_client
):
    contact = contact_create(business=business, phones=["+14155550100"])
    channel = ChannelFactory(business=business, type="sms")
    identity = ContactIdentityFactory(
        contact=contact, channel=channel, external_id="+14155550100", handle=""
    )
    conversation = ConversationFactory(
        business=business, channel=channel, contact=contact, contact_identity=identity
    )
    text = _text(_panel(agent_client, conversation))
    assert "Unknown contact" not in text
    assert "<h2" in _panel(agent_client, conversation)
    assert text.count("+1 415-555-0100") == 2  # the heading and the Phone line
    assert "+14155550100" in text  # the conversation's identity line only
    assert text.count("+14155550100") == 1


def test_hostile_content_is_escaped(business, agent_client):
    contact = contact_create(
        business=business,
        name="<script>alert(1)</script>",
        note="<img src=x onerror=alert(1)>",
        custom_attributes={"plan": "<b>gold</b>"},
    )
    conversation = ConversationFactory(business=business, contact=contact)
    html = _panel(agent_client, conversation)
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;b&gt;gold&lt;/b&gt;" in html


def _post(client, conversation, what, data):
    return client.post(f"/conversations/{conversation.pk}/panel/{what}/", data)


def test_an_attribute_is_edited_added_and_removed_in_place(business, agent_client):
    contact = contact_create(
        business=business, name="Ana", custom_attributes={"plan": "gold", "orders": 3}
    )
    conversation = ConversationFactory(business=business, contact=contact)
    answer = _post(
        agent_client, conversation, "attribute", {"key": "plan", "value": "platinum"}
    )
    assert answer.status_code == 200
    assert "platinum" in answer.content.decode()
    answer = _post(
        agent_client, conversation, "attribute", {"key": "orders", "value": "4"}
    )
    assert answer.status_code == 200
    answer = _post(
        agent_client, conversation, "attribute", {"key": "city", "value": "Porto"}
    )
    assert answer.status_code == 200
    contact.refresh_from_db()
    assert contact.custom_attributes == {
        "plan": "platinum",
        "orders": 4,
        "city": "Porto",
    }
    answer = _post(
        agent_client, conversation, "attribute", {"key": "plan", "remove": "1"}
    )
    assert answer.status_code == 200
    contact.refresh_from_db()
    assert "plan" not in contact.custom_attributes


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"key": "Bad Key", "value": "x"}, "lowercase"),
        ({"key": "plan", "value": ""}, "Give a value"),
        ({"key": "", "value": "x"}, "name"),
        ({"key": "plan", "value": "x" * 1001}, "1000"),
    ],
)
def test_a_refused_attribute_answers_the_reason_and_changes_nothing(
    business, agent_client, data, reason
):
    contact = contact_create(business=business, custom_attributes={"plan": "gold"})
    conversation = ConversationFactory(business=business, contact=contact)
    answer = _post(agent_client, conversation, "attribute", data)
    assert answer.status_code == 400
    assert reason in answer.content.decode()
    contact.refresh_from_db()
    assert contact.custom_attributes == {"plan": "gold"}


def test_the_note_is_edited(business, agent_client):
    contact = contact_create(business=business, name="Ana")
    conversation = ConversationFactory(business=business, contact=contact)
    answer = _post(agent_client, conversation, "note", {"note": "VIP\r\nCall first"})
    assert answer.status_code == 200
    contact.refresh_from_db()
    assert contact.note == "VIP\nCall first"
    assert "Call first" in _text(answer.content.decode())


def test_panel_writes_need_the_csrf_token(business, agent_member):
    contact = contact_create(business=business, custom_attributes={"plan": "gold"})
    conversation = ConversationFactory(business=business, contact=contact)
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent_member.user)
    answer = _post(client, conversation, "attribute", {"key": "plan", "value": "x"})
    assert answer.status_code == 403
    contact.refresh_from_db()
    assert contact.custom_attributes == {"plan": "gold"}


def test_another_business_conversation_or_contact_answers_404(business, agent_client):
    foreign_conversation = ConversationFactory(business=BusinessFactory())
    assert (
        _post(agent_client, foreign_conversation, "note", {"note": "x"}).status_code
        == 404
    )
    contact = contact_create(business=business, name="Ana")
    conversation = ConversationFactory(business=business, contact=contact)
    foreign = foreign_conversation.contact
    answer = _post(agent_client, conversation, "merge", {"other_id": foreign.pk})
    assert answer.status_code == 404
    assert Contact.objects.filter(pk=foreign.pk).exists()
    answer = agent_client.get(
        f"/conversations/{conversation.pk}/panel/merge-preview/",
        {"other_id": foreign.pk},
    )
    assert answer.status_code == 404


def test_the_panel_suggests_a_merge_previews_it_and_merges(
    business, agent_client, django_assert_max_num_queries
):
    ana = contact_create(business=business, name="Ana", emails=["ana@example.com"])
    twin = contact_create(
        business=business,
        name="Ana Lima",
        emails=["Ana@Example.com"],
        phones=["+351912345678"],
    )
    x_channel = ChannelFactory(business=business)
    telegram = ChannelFactory(business=business, type="telegram")
    conversation = ConversationFactory(
        business=business, channel=x_channel, contact=ana
    )
    theirs = ConversationFactory(
        business=business,
        channel=telegram,
        contact=twin,
        last_message_preview="hello from telegram",
    )
    html = _panel(agent_client, conversation)
    text = _text(html)
    assert "Same person as Ana Lima?" in text
    assert "e-mail ana@example.com" in text
    preview = agent_client.get(
        f"/conversations/{conversation.pk}/panel/merge-preview/", {"other_id": twin.pk}
    )
    assert preview.status_code == 200
    preview_text = _text(preview.content.decode())
    assert "1 telegram identity" in preview_text
    assert "phone +351 912 345 678" in preview_text
    assert "1 conversation" in preview_text
    assert Contact.objects.filter(pk=twin.pk).exists()  # a preview changes nothing

    with django_assert_max_num_queries(50):
        answer = _post(agent_client, conversation, "merge", {"other_id": twin.pk})
    assert answer.status_code == 200
    merged = _text(answer.content.decode())
    assert "Same person as" not in merged
    assert "hello from telegram" in merged
    assert "+351 912 345 678" in merged
    assert not Contact.objects.filter(pk=twin.pk).exists()
    assert Conversation.objects.get(pk=theirs.pk).contact_id == ana.pk


def test_not_the_same_person_hides_the_suggestion(business, agent_client):
    ana = contact_create(business=business, name="Ana", phones=["+351912345678"])
    bea = contact_create(business=business, name="Bea", phones=["+351912345678"])
    conversation = ConversationFactory(business=business, contact=ana)
    assert "Same person as Bea?" in _text(_panel(agent_client, conversation))
    answer = _post(agent_client, conversation, "dismiss", {"other_id": bea.pk})
    assert answer.status_code == 200
    assert "Same person as" not in _text(answer.content.decode())
    assert "Same person as" not in _text(_panel(agent_client, conversation))
    assert Contact.objects.filter(pk=bea.pk).exists()


def test_a_member_of_another_business_cannot_see_the_panel(business):
    conversation = ConversationFactory(business=business)
    outsider = MemberFactory(business=BusinessFactory())
    client = Client()
    client.force_login(outsider.user)
    assert client.get(f"/conversations/{conversation.pk}/panel/").status_code == 404


def test_the_panel_is_read_in_at_most_seven_queries(business, agent_client):
    # given: a contact with every kind of detail, identities on two channels,
    # and another contact sharing its phone (a merge suggestion)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    vip = Label.objects.create(business=business, name="vip", color="#d97706")
    contact = contact_create(
        business=business,
        name="Ana Lima",
        emails=["ana@example.com", "ana@work.example"],
        phones=["+351912345678"],
        label_ids=[vip.pk],
    )
    contact_create(business=business, name="A. Lima", phones=["+351912345678"])
    whatsapp = ChannelFactory(business=business, type="whatsapp")
    x = ChannelFactory(business=business, type="x")
    ContactIdentityFactory(
        contact=contact, channel=whatsapp, external_id="+351912345678", handle=""
    )
    ContactIdentityFactory(contact=contact, channel=x, external_id="42", handle="ana")
    conversation = ConversationFactory(
        business=business, channel=whatsapp, contact=contact
    )
    for _ in range(12):
        ConversationFactory(business=business, channel=x, contact=contact)
    _panel(agent_client, conversation)

    # when
    with CaptureQueriesContext(connection) as queries:
        html = _panel(agent_client, conversation)

    # then: the session, the agent, the conversation, the details with the
    # identities, the other conversations with their count, and the
    # suggestion with its reason; and the conversation's satisfaction ratings
    text = _text(html)
    assert "Same person as" in text or "A. Lima" in text
    assert "Both have the phone +351 912 345 678" in text, text
    assert "@ana" in text
    assert "All 13 conversations" in text
    assert len(queries) <= 7, [query["sql"][:120] for query in queries]

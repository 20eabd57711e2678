"""Merging contacts, suggested merges and their API."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.tests.factories import BusinessFactory, MemberFactory
from channels_app.tests.factories import ChannelFactory
from contacts.models import ContactEmail, ContactLabel, ContactPhone, MergeDismissal
from contacts.selectors.merge import (
    contact_merge_preview,
    contact_panel,
    merge_suggestions,
)
from contacts.services import merge as merge_module
from contacts.services.contacts import contact_create
from contacts.services.merge import (
    ContactNotFound,
    MergeInvalid,
    contact_merge,
    merge_dismiss,
)
from conversations import realtime
from conversations.models import Contact, ContactIdentity, Conversation, Message
from conversations.search import contacts_matching
from conversations.tests.factories import (
    ContactIdentityFactory,
    ConversationFactory,
    MessageFactory,
)
from conversations.tests.test_live_events import Listener
from workspace.models import Label

pytestmark = pytest.mark.django_db


@pytest.fixture
def listener(settings, business):
    """The business's inbox group, as an agent's open page hears it."""
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
    heard = Listener(business.id)
    yield heard
    heard.close()


@pytest.fixture
def pair(business):
    """Ana on X (two conversations) and the same Ana on SMS, with details,
    labels, attributes and notes that overlap."""
    vip = Label.objects.create(business=business, name="vip")
    late = Label.objects.create(business=business, name="late payer")
    kept = contact_create(
        business=business,
        name="Ana Lima",
        emails=["ana@example.com"],
        phones=["+351912345678"],
        custom_attributes={"plan": "gold", "orders": 3},
        label_ids=[vip.pk],
        note="Prefers e-mail.",
    )
    other = contact_create(
        business=business,
        name="",
        company="Lima & Filhos",
        emails=["ana@example.com", "ana.lima@work.example"],
        phones=["+351 912 345 678", "+351 913 000 111"],
        custom_attributes={"plan": "silver", "city": "Porto"},
        label_ids=[vip.pk, late.pk],
        note="Called about invoice 7.",
    )
    x_channel = ChannelFactory(business=business)
    sms_channel = ChannelFactory(business=business, type="sms")
    kept_conversation = ConversationFactory(
        business=business, channel=x_channel, contact=kept
    )
    sms_identity = ContactIdentityFactory(
        contact=other, channel=sms_channel, external_id="+351913000111", handle=""
    )
    moved = ConversationFactory(
        business=business,
        channel=sms_channel,
        contact=other,
        contact_identity=sms_identity,
    )
    inbound = MessageFactory(conversation=moved, sender_contact=other)
    return {
        "kept": kept,
        "other": other,
        "kept_conversation": kept_conversation,
        "moved": moved,
        "inbound": inbound,
        "sms_identity": sms_identity,
        "labels": (vip, late),
    }


def test_merge_moves_everything_into_the_kept_contact(pair, admin_member):
    kept, other = pair["kept"], pair["other"]
    admin_member.user.first_name = "Rita"
    admin_member.user.save()
    result = contact_merge(kept=kept, other=other, by=admin_member.user)

    assert not Contact.objects.filter(pk=other.pk).exists()
    kept.refresh_from_db()
    assert ContactIdentity.objects.get(pk=pair["sms_identity"].pk).contact_id == kept.pk
    assert Conversation.objects.get(pk=pair["moved"].pk).contact_id == kept.pk
    assert Message.objects.get(pk=pair["inbound"].pk).sender_contact_id == kept.pk
    assert sorted(
        ContactEmail.objects.filter(contact=kept).values_list("address", flat=True)
    ) == [
        "ana.lima@work.example",
        "ana@example.com",
    ]
    assert sorted(
        ContactPhone.objects.filter(contact=kept).values_list("number", flat=True)
    ) == [
        "+351912345678",
        "+351913000111",
    ]
    assert sorted(
        ContactLabel.objects.filter(contact=kept).values_list("label__name", flat=True)
    ) == [
        "late payer",
        "vip",
    ]
    # The kept contact's values win; the other's differing value goes into the note.
    assert kept.custom_attributes == {"plan": "gold", "orders": 3, "city": "Porto"}
    name = result.other_name
    assert f"Merged from {name} (#{other.pk}): plan: silver" in kept.note
    assert kept.note.startswith("Prefers e-mail.")
    assert "Called about invoice 7." in kept.note
    # Empty fields are filled from the other contact; the name stays.
    assert kept.name == "Ana Lima"
    assert kept.company == "Lima & Filhos"
    # Search finds the kept contact by the other's details.
    assert list(contacts_matching(kept.business, "913000111")) == [kept]
    # An activity entry on every conversation of the kept contact.
    for conversation in (pair["moved"], pair["kept_conversation"]):
        entry = Message.objects.get(conversation=conversation, kind=Message.ACTIVITY)
        assert entry.text == f"Rita merged {name} into Ana Lima"
        assert entry.author == admin_member.user
    assert result.conversations == 1
    assert result.identities == {"sms": 1}
    assert result.emails == 1 and result.phones == 1 and result.labels == 1
    assert result.conflicts == [{"key": "plan", "kept": "gold", "other": "silver"}]


def test_open_pages_hear_of_the_merge_on_each_conversation(
    pair, admin_member, listener, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        contact_merge(kept=pair["kept"], other=pair["other"], by=admin_member.user)
    changed = {
        event["conversation_id"]
        for event in listener.events()
        if event["type"] == "conversation"
    }
    # The inbox refreshes the open conversation's panel on this event.
    assert changed == {pair["moved"].pk, pair["kept_conversation"].pk}


def test_a_failed_merge_announces_nothing(
    pair, admin_member, listener, monkeypatch, django_capture_on_commit_callbacks
):
    publish = realtime.publish_messages_created

    def publish_then_fail(messages):
        publish(messages)
        raise RuntimeError("the process died")

    monkeypatch.setattr(realtime, "publish_messages_created", publish_then_fail)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            contact_merge(kept=pair["kept"], other=pair["other"], by=admin_member.user)
    assert listener.events() == []
    assert Contact.objects.filter(pk=pair["other"].pk).exists()
    assert not Message.objects.filter(kind=Message.ACTIVITY).exists()


def test_the_other_contact_display_name_falls_back_to_its_phone(pair, admin_member):
    # The other contact has no name: it is named by its identity's number.
    result = contact_merge(kept=pair["kept"], other=pair["other"], by=admin_member.user)
    assert result.other_name == "+351 912 345 678"


def test_a_failure_midway_leaves_both_contacts_unchanged(
    pair, admin_member, monkeypatch
):
    kept, other = pair["kept"], pair["other"]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(merge_module, "_dismissals_move", broken)
    with pytest.raises(RuntimeError):
        contact_merge(kept=kept, other=other, by=admin_member.user)

    other.refresh_from_db()
    kept.refresh_from_db()
    assert kept.custom_attributes == {"plan": "gold", "orders": 3}
    assert kept.note == "Prefers e-mail."
    assert kept.company == ""
    assert other.custom_attributes == {"plan": "silver", "city": "Porto"}
    assert Conversation.objects.get(pk=pair["moved"].pk).contact_id == other.pk
    assert (
        ContactIdentity.objects.get(pk=pair["sms_identity"].pk).contact_id == other.pk
    )
    assert Message.objects.get(pk=pair["inbound"].pk).sender_contact_id == other.pk
    assert ContactEmail.objects.filter(contact=other).count() == 2
    assert ContactPhone.objects.filter(contact=other).count() == 2
    assert ContactLabel.objects.filter(contact=other).count() == 2
    assert not Message.objects.filter(kind=Message.ACTIVITY).exists()


def test_a_different_company_and_attributes_beyond_the_limit_go_into_the_note(
    business, admin_member
):
    kept = contact_create(
        business=business,
        name="Ana",
        company="Acme",
        custom_attributes={f"k{n}": n for n in range(50)},
    )
    other = contact_create(
        business=business, name="Ana L", company="Lima Lda", custom_attributes={"z": 1}
    )
    contact_merge(kept=kept, other=other, by=admin_member.user)
    kept.refresh_from_db()
    assert kept.company == "Acme"
    assert f"Merged from Ana L (#{other.pk}): company: Lima Lda" in kept.note
    assert f"Merged from Ana L (#{other.pk}): z: 1" in kept.note
    assert len(kept.custom_attributes) == 50


def test_refusals(pair, admin_member):
    kept = pair["kept"]
    with pytest.raises(MergeInvalid) as same:
        contact_merge(kept=kept, other=kept, by=admin_member.user)
    assert same.value.field == "other_id"
    foreign = contact_create(business=BusinessFactory(), name="Ana")
    with pytest.raises(ContactNotFound):
        contact_merge(kept=kept, other=foreign, by=admin_member.user)
    assert Contact.objects.filter(pk=foreign.pk).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_two_agents_merging_the_same_pair_at_once_do_not_deadlock(business):
    """A into B and B into A at the same moment: one merge wins, the other
    finds its contact gone (404); no deadlock, nothing half-merged."""
    import threading

    from django.db import close_old_connections

    first = contact_create(business=business, name="Ana", emails=["a@example.com"])
    second = contact_create(business=business, name="Ana L", emails=["a@example.com"])
    ConversationFactory(business=business, contact=first)
    ConversationFactory(business=business, contact=second)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def merge(kept, other):
        try:
            barrier.wait(10)
            contact_merge(kept=kept, other=other, by=None)
            outcomes.append("merged")
        except ContactNotFound:
            outcomes.append("404")
        finally:
            close_old_connections()

    threads = [
        threading.Thread(target=merge, args=(first, second)),
        threading.Thread(target=merge, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["404", "merged"]
    survivor = Contact.objects.get(business=business)
    assert survivor.conversations.count() == 2
    assert ContactEmail.objects.filter(contact=survivor).count() == 1


def test_preview_tells_what_would_move_and_changes_nothing(pair):
    preview = contact_merge_preview(pair["kept"], pair["other"])
    assert preview.identities == {"sms": 1}
    assert preview.conversations == 1
    assert preview.emails == ["ana.lima@work.example"]
    assert preview.phones == ["+351 913 000 111"]
    assert preview.labels == ["late payer"]
    assert preview.attributes == ["city"]
    assert preview.conflicts == [{"key": "plan", "kept": "gold", "other": "silver"}]
    assert preview.note is True
    assert Contact.objects.filter(pk=pair["other"].pk).exists()


def test_a_shared_phone_typed_differently_is_suggested_not_merged(
    business, admin_member
):
    business.default_country = "PT"
    business.save()
    ana = contact_create(business=business, name="Ana", phones=["912 345 678"])
    twin = contact_create(business=business, name="A. Lima", phones=["+351912345678"])
    stranger = contact_create(business=business, name="Bea", phones=["+351911111111"])
    foreign = contact_create(
        business=BusinessFactory(), name="Ana", phones=["+351912345678"]
    )
    with CaptureQueriesContext(connection) as queries:
        suggestions = merge_suggestions(ana)
    assert len(queries) <= 3
    assert [(s.other.pk, s.name, s.reason) for s in suggestions] == [
        (twin.pk, "A. Lima", "same phone +351 912 345 678")
    ]
    # Suggested, never applied by itself.
    assert (
        Contact.objects.filter(
            pk__in=[ana.pk, twin.pk, stranger.pk, foreign.pk]
        ).count()
        == 4
    )
    # Either way round; then dismissed for both.
    assert [s.other.pk for s in merge_suggestions(twin)] == [ana.pk]
    merge_dismiss(twin, ana, admin_member.user)
    assert merge_suggestions(ana) == []
    assert merge_suggestions(twin) == []
    row = MergeDismissal.objects.get()
    assert (row.contact_id, row.other_id) == (
        min(ana.pk, twin.pk),
        max(ana.pk, twin.pk),
    )


def test_a_shared_email_is_suggested_with_its_reason_and_erased_contacts_are_not(
    business,
):
    ana = contact_create(business=business, name="Ana", emails=["ANA@example.com"])
    twin = contact_create(business=business, name="", emails=["ana@example.com"])
    erased = contact_create(business=business, name="Gone", emails=["ana@example.com"])
    Contact.objects.filter(pk=erased.pk).update(erased_at="2026-01-01T00:00:00Z")
    suggestions = merge_suggestions(ana)
    assert [(s.other.pk, s.name, s.reason) for s in suggestions] == [
        (twin.pk, "ana@example.com", "same e-mail ana@example.com")
    ]


def test_the_panel_reads_suggestions_with_its_details_and_names_them_only_if_any(
    business,
):
    """The customer panel finds the contacts sharing an address or a number
    in its details' query; a second one names them only when there are
    some, e-mail matches first, erased and dismissed contacts left out."""
    ana = contact_create(
        business=business,
        name="Ana",
        emails=["ana@example.com"],
        phones=["+351912345678"],
    )
    conversation = ConversationFactory(business=business, contact=ana)
    conversation = Conversation.objects.select_related("contact").get(
        pk=conversation.pk
    )
    with CaptureQueriesContext(connection) as alone:
        panel = contact_panel(conversation)
    assert panel.suggestions == []
    assert len(alone) == 2  # details (with the shared ones), other conversations

    by_phone = contact_create(business=business, name="Bea", phones=["+351912345678"])
    by_email = contact_create(business=business, name="", emails=["ANA@example.com"])
    gone = contact_create(business=business, name="Gone", emails=["ana@example.com"])
    Contact.objects.filter(pk=gone.pk).update(erased_at="2026-01-01T00:00:00Z")
    contact_create(business=BusinessFactory(), name="Ana", emails=["ana@example.com"])
    with CaptureQueriesContext(connection) as shared:
        panel = contact_panel(conversation)
    assert len(shared) == 3
    assert [(s.other.pk, s.name, s.reason) for s in panel.suggestions] == [
        (by_email.pk, "ana@example.com", "same e-mail ana@example.com"),
        (by_phone.pk, "Bea", "same phone +351 912 345 678"),
    ]
    # The panel's suggestions are the API's.
    assert [s.reason for s in merge_suggestions(ana)] == [
        s.reason for s in panel.suggestions
    ]


def test_dismissals_of_the_merged_contact_become_the_kept_ones(business, admin_member):
    ana = contact_create(business=business, name="Ana", emails=["a@example.com"])
    twin = contact_create(business=business, name="Ana L", emails=["a@example.com"])
    bea = contact_create(business=business, name="Bea", emails=["a@example.com"])
    merge_dismiss(twin, bea, admin_member.user)
    contact_merge(kept=ana, other=twin, by=admin_member.user)
    assert merge_suggestions(ana) == []  # Bea was said not to be Ana L.


# ------------------------------------------------------------------ API


def _url(contact_id, what="merge"):
    return f"/api/v1/contacts/{contact_id}/{what}"


def test_api_merges_and_answers_what_moved(pair, admin_api):
    kept, other = pair["kept"], pair["other"]
    answer = admin_api.post(_url(kept.pk), {"other_id": other.pk}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["id"] == kept.pk
    assert body["merged_id"] == other.pk
    assert body["moved"]["conversations"] == 1
    assert body["moved"]["identities"] == {"sms": 1}
    assert not Contact.objects.filter(pk=other.pk).exists()


def test_api_foreign_or_unknown_contacts_answer_404(pair, admin_api):
    kept, other = pair["kept"], pair["other"]
    foreign = contact_create(business=BusinessFactory(), name="Ana")
    for path, body in (
        (_url(kept.pk), {"other_id": foreign.pk}),
        (_url(foreign.pk), {"other_id": kept.pk}),
        (_url(999_999), {"other_id": other.pk}),
        (_url("abc"), {"other_id": other.pk}),
    ):
        answer = admin_api.post(path, body, format="json")
        assert answer.status_code == 404, (path, answer.content)
    assert Contact.objects.filter(pk__in=[kept.pk, other.pk, foreign.pk]).count() == 3
    answer = admin_api.get(_url(kept.pk, "merge_preview"), {"other_id": foreign.pk})
    assert answer.status_code == 404


def test_api_self_merge_or_missing_other_id_answers_400_naming_it(pair, admin_api):
    kept = pair["kept"]
    for body in ({"other_id": kept.pk}, {}, {"other_id": "x"}):
        answer = admin_api.post(_url(kept.pk), body, format="json")
        assert answer.status_code == 400, answer.content
        assert "other_id" in answer.json()
    assert admin_api.get(_url(kept.pk, "merge_preview")).status_code == 400


def test_api_preview_suggestions_and_dismiss(pair, admin_api):
    kept, other = pair["kept"], pair["other"]
    preview = admin_api.get(_url(kept.pk, "merge_preview"), {"other_id": other.pk})
    assert preview.status_code == 200
    assert preview.json()["conflicts"] == [
        {"key": "plan", "kept": "gold", "other": "silver"}
    ]
    suggestions = admin_api.get(_url(kept.pk, "merge_suggestions"))
    assert suggestions.status_code == 200
    assert suggestions.json() == [
        {
            "other_id": other.pk,
            "name": "+351 912 345 678",
            "reason": "same e-mail ana@example.com",
        }
    ]
    dismissed = admin_api.post(
        _url(kept.pk, "merge_suggestions/dismiss"),
        {"other_id": other.pk},
        format="json",
    )
    assert dismissed.status_code == 200
    assert admin_api.get(_url(kept.pk, "merge_suggestions")).json() == []
    assert Contact.objects.filter(pk=other.pk).exists()


def test_api_needs_a_token_of_the_business(pair, client):
    answer = client.get(_url(pair["kept"].pk, "merge_suggestions"))
    assert answer.status_code in (401, 403)


def test_an_agent_may_merge(pair, api_client_for, business):
    agent = MemberFactory(business=business, role="agent")
    answer = api_client_for(agent).post(
        _url(pair["kept"].pk), {"other_id": pair["other"].pk}, format="json"
    )
    assert answer.status_code == 200

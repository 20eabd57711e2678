"""Identities fill in what they know: an inbound message's identity gives its
contact a phone number (WhatsApp, SMS), an address (e-mail) or a username
and name (Telegram), in a number of queries that does not grow with the
batch; the backfill gives existing contacts the same."""

from datetime import UTC, datetime, timedelta
from importlib import import_module
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.platforms import get_platform
from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.contract.kits.sms import KIT as SMS
from channels_app.tests.platforms.contract.kits.whatsapp import KIT as WHATSAPP
from channels_app.tests.platforms.fixtures import FIXTURES, fixture_bytes
from channels_app.tests.platforms.test_sms import form
from contacts.models import ContactEmail, ContactPhone
from contacts.services.identities import identity_details
from conversations.models import Contact
from conversations.search import contacts_matching
from conversations.services.ingest import ingest
from conversations.tests.factories import ContactFactory, ContactIdentityFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def parsed(channel, body: bytes) -> list:
    return list(get_platform(channel.type).parse(channel, body).items)


def details(contact: Contact) -> tuple[list, list]:
    return (
        list(contact.emails.values_list("address", "source")),
        list(contact.phones.values_list("number", "source")),
    )


def test_a_whatsapp_message_gives_its_contact_the_phone_number_and_name():
    # given
    channel = WHATSAPP.create()

    # when
    ingest(
        channel=channel,
        items=parsed(channel, fixture_bytes("whatsapp", "message__text")),
    )

    # then: wa_id 16505551234 is +16505551234; the profile name is the name
    contact = Contact.objects.get()
    assert contact.name == "Sheena Nelson"
    assert details(contact) == ([], [("+16505551234", "whatsapp")])
    # and the contact is found by its number, as agents type it
    assert list(contacts_matching(channel.business, "650555")) == [contact]


def test_an_sms_gives_its_contact_the_number_once():
    # given
    channel = SMS.create()
    body = urlencode(form("message__sms"))

    # when
    ingest(channel=channel, items=parsed(channel, body.encode()))
    ingest(channel=channel, items=parsed(channel, body.encode()))

    # then
    contact = Contact.objects.get()
    assert details(contact) == ([], [("+15558675310", "sms")])


def test_an_email_gives_its_contact_the_address_lower_cased():
    # given
    channel = ChannelFactory(
        type="email",
        config={"address": "support@shop.test"},
        secrets={},
    )
    mail = (FIXTURES / "email" / "message__plain.eml").read_bytes()

    # when
    ingest(channel=channel, items=parsed(channel, mail))

    # then
    contact = Contact.objects.get()
    assert contact.name == "Casey Customer"
    assert details(contact) == ([("casey@customer.test", "email")], [])
    assert list(contacts_matching(channel.business, "casey@cust")) == [contact]


def test_a_telegram_message_gives_the_username_and_name_and_nothing_more():
    # given
    channel = ChannelFactory(type="telegram", secrets={"bot_token": "1:x"}, config={})

    # when
    ingest(
        channel=channel,
        items=parsed(channel, fixture_bytes("telegram", "message__text")),
    )

    # then
    contact = Contact.objects.get()
    identity = contact.identities.get()
    assert identity.handle == "casey_customer"
    assert contact.name.startswith("Casey")
    assert details(contact) == ([], [])
    assert list(contacts_matching(channel.business, "@casey_cust")) == [contact]


def test_a_number_that_is_no_phone_number_gives_nothing():
    assert identity_details("sms", "AMAZON").phones == ()
    assert identity_details("sms", "+15558675310").phones == ("+15558675310",)
    assert identity_details("whatsapp", "351912345678").phones == ("+351912345678",)
    assert identity_details("email", "not an address").emails == ()
    assert identity_details("telegram", "12345678") == identity_details("x", "1")


def wa_message(n: int, wa_id: str) -> InboundMessage:
    return InboundMessage(
        platform_message_id=f"wamid.{n}",
        contact=InboundContact(external_id=wa_id, name=f"Customer {wa_id}"),
        text=f"message {n}",
        sent_at=T0 + timedelta(minutes=n),
        thread_key=f"wa:{wa_id}",
    )


def test_details_of_a_batch_cost_one_insert_whatever_its_contacts(business):
    # given: new customers, 1 writing 3 messages, then 15 writing 45
    few = [wa_message(n, "351910000000") for n in range(3)]
    many = [wa_message(100 + n, f"35191000{n % 15:04}") for n in range(45)]
    few_channel = WHATSAPP.create(business=business)
    many_channel = WHATSAPP.create(business=business)

    # when
    with CaptureQueriesContext(connection) as few_queries:
        ingest(channel=few_channel, items=few)
    with CaptureQueriesContext(connection) as many_queries:
        ingest(channel=many_channel, items=many)

    # then: the same queries; the phone numbers in one INSERT each time
    def phone_inserts(queries):
        return sum(
            q["sql"].startswith("INSERT") and 'INTO "contacts_contactphone"' in q["sql"]
            for q in queries.captured_queries
        )

    assert phone_inserts(few_queries) == phone_inserts(many_queries) == 1
    assert len(many_queries) == len(few_queries)
    assert ContactPhone.objects.filter(business=business).count() == 16


def test_a_known_identity_adds_nothing_more(business):
    # given: a customer whose number an agent removed
    channel = WHATSAPP.create(business=business)
    ingest(channel=channel, items=[wa_message(1, "351910000001")])
    ContactPhone.objects.all().delete()

    # when: they write again
    ingest(channel=channel, items=[wa_message(2, "351910000001")])

    # then: the identity is not new, so nothing is added back
    assert ContactPhone.objects.count() == 0


def test_the_backfill_gives_existing_contacts_their_numbers_and_addresses(business):
    # given: identities stored before identities filled in what they know
    whatsapp = WHATSAPP.create(business=business)
    email = ChannelFactory(business=business, type="email", config={}, secrets={})
    telegram = ChannelFactory(business=business, type="telegram", config={})
    ada = ContactFactory(business=business, name="Ada")
    ContactIdentityFactory(contact=ada, channel=whatsapp, external_id="351912345678")
    ContactIdentityFactory(contact=ada, channel=email, external_id="Ada@Example.com")
    grace = ContactFactory(business=business, name="Grace")
    ContactIdentityFactory(contact=grace, channel=telegram, external_id="4242")
    migration = import_module("conversations.migrations.0015_identity_profile")

    # when
    migration.backfill_details(apps, None)
    migration.backfill_details(apps, None)  # run twice: nothing doubles

    # then
    assert details(ada) == (
        [("ada@example.com", "email")],
        [("+351912345678", "whatsapp")],
    )
    assert details(grace) == ([], [])
    assert list(contacts_matching(business, "351912")) == [ada]
    assert list(contacts_matching(business, "ada@example")) == [ada]
    assert ContactEmail.objects.count() == 1

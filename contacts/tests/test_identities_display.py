"""How the inbox names a contact: never "Unknown contact" when a name,
username, phone number or address is known, and an SMS contact named after
its number shows it once."""

import pytest
from django.urls import reverse

from channels_app.tests.factories import ChannelFactory
from contacts.naming import contact_display_name
from conversations.models import Contact, ContactIdentity
from conversations.tests.factories import (
    ContactFactory,
    ContactIdentityFactory,
    ConversationFactory,
)


def shown(channel_type, *, name="", handle="", external_id="") -> tuple:
    display = contact_display_name(
        Contact(name=name),
        ContactIdentity(handle=handle, external_id=external_id),
        channel_type,
    )
    return display.name, display.handle, str(display)


@pytest.mark.parametrize(
    ("channel_type", "contact", "expected"),
    [
        # an SMS contact is named after its number: shown once, formatted
        (
            "sms",
            {"name": "+14155550100", "handle": "+14155550100"},
            ("+1 415-555-0100", "", "+1 415-555-0100"),
        ),
        # WhatsApp without a profile name: the number
        (
            "whatsapp",
            {"external_id": "351912345678"},
            ("+351 912 345 678", "", "+351 912 345 678"),
        ),
        (
            "whatsapp",
            {"name": "Sheena", "external_id": "16505551234"},
            ("Sheena", "", "Sheena"),
        ),
        # Instagram before its profile came: the username, else not unknown
        # only when nothing at all is known
        (
            "instagram",
            {"handle": "ada.l", "external_id": "71"},
            ("", "ada.l", "@ada.l"),
        ),
        (
            "instagram",
            {"name": "Ada", "handle": "ada.l", "external_id": "71"},
            ("Ada", "ada.l", "Ada"),
        ),
        # X and Telegram: a name equal to the username is not shown twice
        ("x", {"name": "casey", "handle": "casey"}, ("casey", "", "casey")),
        ("telegram", {"name": "Casey", "handle": "casey"}, ("Casey", "casey", "Casey")),
        (
            "email",
            {"external_id": "ada@example.com"},
            ("ada@example.com", "", "ada@example.com"),
        ),
        (
            "webchat",
            {"external_id": "5f0b7e36-0000-4000-8000-000000000000"},
            ("Visitor 5f0b7e36", "", "Visitor 5f0b7e36"),
        ),
        (
            "instagram",
            {"external_id": "71"},
            ("Unknown contact", "", "Unknown contact"),
        ),
        ("", {}, ("Unknown contact", "", "Unknown contact")),
    ],
)
def test_the_display_rule(channel_type, contact, expected):
    assert shown(channel_type, **contact) == expected


def test_no_identity_shows_the_name_or_unknown():
    assert str(contact_display_name(Contact(name="Ada"))) == "Ada"
    assert not contact_display_name(Contact(name=" ")).known


@pytest.mark.django_db
def test_the_inbox_row_and_header_show_the_phone_once(client, admin_member):
    # given: an SMS conversation whose contact is named after its number
    channel = ChannelFactory(business=admin_member.business, type="sms")
    contact = ContactFactory(business=admin_member.business, name="+14155550100")
    identity = ContactIdentityFactory(
        contact=contact,
        channel=channel,
        external_id="+14155550100",
        handle="+14155550100",
    )
    conversation = ConversationFactory(
        business=admin_member.business,
        channel=channel,
        channel_type="sms",
        contact=contact,
        contact_identity=identity,
    )
    client.force_login(admin_member.user)

    # when
    page = client.get(reverse("conversation", args=[conversation.pk])).content.decode()

    # then
    header = page[page.index('<header class="thread-header"') :]
    header = header[: header.index("</h1>")]
    assert header.count("415-555-0100") == 1
    assert "@" not in header
    row = page[page.index(f'id="conversation-{conversation.pk}"') :]
    row = row[: row.index("</li>")]
    assert 'aria-label="Select the conversation with +1 415-555-0100"' in row
    assert "Unknown contact" not in row


@pytest.mark.django_db
def test_an_instagram_contact_without_a_name_shows_its_username(client, admin_member):
    channel = ChannelFactory(business=admin_member.business, type="instagram")
    contact = ContactFactory(business=admin_member.business, name="")
    identity = ContactIdentityFactory(
        contact=contact, channel=channel, external_id="71", handle="ada.l"
    )
    conversation = ConversationFactory(
        business=admin_member.business,
        channel=channel,
        channel_type="instagram",
        contact=contact,
        contact_identity=identity,
    )
    client.force_login(admin_member.user)

    page = client.get(reverse("conversation", args=[conversation.pk])).content.decode()

    header = page[page.index('<header class="thread-header"') :]
    header = header[: header.index("</h1>")]
    assert "@<bdi>ada.l</bdi>" in header
    row = page[page.index(f'id="conversation-{conversation.pk}"') :]
    row = row[: row.index("</li>")]
    assert '<span class="name">@<bdi>ada.l</bdi></span>' in row
    assert "Unknown contact" not in header + row


@pytest.mark.django_db
def test_every_page_names_a_nameless_contact_by_the_same_rule(client, admin_member):
    # given: a WhatsApp customer PingBack knows only by their number, whose
    # reply failed
    from contacts.models import ContactPhone
    from conversations.notifications import _contact_name
    from conversations.tests.factories import ReplyFactory

    business = admin_member.business
    channel = ChannelFactory(business=business, type="whatsapp")
    contact = ContactFactory(business=business, name="")
    ContactPhone.objects.create(
        business=business, contact=contact, number="+14155550100"
    )
    identity = ContactIdentityFactory(
        contact=contact, channel=channel, external_id="+14155550100", handle=""
    )
    conversation = ConversationFactory(
        business=business,
        channel=channel,
        channel_type="whatsapp",
        contact=contact,
        contact_identity=identity,
    )
    ReplyFactory(conversation=conversation, status="failed", error="Window closed")
    client.force_login(admin_member.user)
    shown = "+1 415-555-0100"

    # when / then: the contacts list, the contact's page, the delivery
    # problems list and a notification all call them by their number
    assert shown in client.get(reverse("contacts")).content.decode()
    assert shown in client.get(reverse("contact", args=[contact.pk])).content.decode()
    problems = client.get(reverse("delivery-problems")).content.decode()
    assert shown in problems
    assert "Unknown contact" not in problems
    row = {
        "channel_type": "whatsapp",
        "contact__name": "",
        "contact_identity__handle": "",
        "contact_identity__external_id": "+14155550100",
    }
    assert _contact_name(row) == shown

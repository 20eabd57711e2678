"""A widget visitor whom the website identifies: the name, e-mail address and
phone number the site passes reach the contact only with a valid hash of the
site's user id; a forged or missing hash changes nothing.

Through the real ASGI application's widget websocket."""

import uuid

import pytest
from asgiref.sync import async_to_sync

from channels_app.tests.factories import ChannelFactory
from channels_app.tests.widget.conftest import (  # noqa: F401 (fixtures)
    SHOP,
    fresh_channel_layer,
    widget_socket,
)
from contacts.services.identities import identifier_hash
from conversations.models import Contact, ContactIdentity, Message
from conversations.search import contacts_matching

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "7c1e4b0f9d2a5e8c3b6f1a4d7e0c9b2a"
TIMEOUT = 5


@pytest.fixture
def socket_for(request):
    """`widget_socket` of the widget tests: connections to the widget's
    websocket through the ASGI application."""
    return request.getfixturevalue("widget_socket")


@pytest.fixture
def identified_widget(business):
    return ChannelFactory(
        business=business,
        type="webchat",
        secrets={"identity_secret": SECRET},
        config={"allowed_domains": ["shop.example.com"]},
    )


def identify_frame(identifier="user-42", digest=None, **details):
    return {
        "type": "identify",
        "identifier": identifier,
        "identifier_hash": digest or identifier_hash(SECRET, identifier),
        **details,
    }


def visit(socket_for, channel, frames: list[dict], *, then_say: str = "") -> list:
    """Connect, say hello, send `frames` (and a message), return the answers."""

    async def scenario():
        socket = socket_for(channel.id, origin=SHOP)
        connected, _ = await socket.connect(timeout=TIMEOUT)
        assert connected
        await socket.send_json_to({"type": "hello", "token": None})
        welcome = await socket.receive_json_from(timeout=TIMEOUT)
        answers = [welcome]
        for frame in frames:
            await socket.send_json_to(frame)
            answers.append(await socket.receive_json_from(timeout=TIMEOUT))
        if then_say:
            await socket.send_json_to(
                {"type": "message", "id": str(uuid.uuid4()), "text": then_say}
            )
            answers.append(await socket.receive_json_from(timeout=TIMEOUT))
        await socket.disconnect()
        return answers

    return async_to_sync(scenario)()


def test_a_verified_visitor_gets_the_name_address_and_number_the_site_passes(
    socket_for, identified_widget
):
    # when: the site identifies its signed-in customer, who then writes
    answers = visit(
        socket_for,
        identified_widget,
        [
            identify_frame(
                name="Ada Lovelace",
                email="Ada@Example.com",
                phone="+351 912 345 678",
                attributes={"plan": "gold", "Bad Key": "x"},
            )
        ],
        then_say="Where is my order?",
    )

    # then
    assert answers[1] == {"type": "identified"}
    assert answers[2]["type"] == "ack"
    message = Message.objects.get()
    contact = message.conversation.contact
    assert contact.name == "Ada Lovelace"
    assert list(contact.emails.values_list("address", "source")) == [
        ("ada@example.com", "widget")
    ]
    assert list(contact.phones.values_list("number", "source")) == [
        ("+351912345678", "widget")
    ]
    assert contact.custom_attributes == {"plan": "gold"}
    identity = ContactIdentity.objects.get()
    assert (identity.external_id, identity.handle) == (
        answers[0]["visitor_id"],
        "user-42",
    )
    # the visitor's later messages do not put the placeholder name back
    assert Contact.objects.count() == 1
    business = identified_widget.business
    assert list(contacts_matching(business, "user-42")) == [contact]
    assert list(contacts_matching(business, "ada@example")) == [contact]


@pytest.mark.parametrize(
    ("case", "digest"),
    [
        ("forged", "0" * 64),
        ("hash of another user", identifier_hash(SECRET, "user-43")),
        (
            "signed with another secret",
            identifier_hash("another secret " * 3, "user-42"),
        ),
    ],
)
def test_a_forged_identification_changes_nothing(
    socket_for, identified_widget, case, digest
):
    # when
    answers = visit(
        socket_for,
        identified_widget,
        [identify_frame(digest=digest, name="Mallory", email="ceo@shop.example.com")],
        then_say="Hello",
    )

    # then
    assert answers[1]["type"] == "error"
    assert answers[1]["code"] == "identity_refused"
    contact = Contact.objects.get()
    assert contact.name.startswith("Visitor ")
    assert not contact.emails.exists()
    assert ContactIdentity.objects.get().handle == ""


def test_a_widget_without_an_identity_secret_accepts_no_identification(
    socket_for, business
):
    # given
    channel = ChannelFactory(
        business=business,
        type="webchat",
        secrets={},
        config={"allowed_domains": ["shop.example.com"]},
    )

    # when: even a hash made with an empty key
    answers = visit(
        socket_for,
        channel,
        [identify_frame(digest=identifier_hash("", "user-42"), name="Eve")],
    )

    # then
    assert answers[1]["code"] == "identity_refused"
    assert not Contact.objects.exists()


def test_a_malformed_identification_is_refused(socket_for, identified_widget):
    answers = visit(
        socket_for,
        identified_widget,
        [
            {"type": "identify", "name": "No identifier"},
            identify_frame(attributes=["not", "an", "object"]),
            identify_frame(name="x" * 300),
        ],
    )

    assert [a["code"] for a in answers[1:]] == ["invalid_identity"] * 3
    assert not Contact.objects.exists()


def test_a_name_an_agent_wrote_is_kept(socket_for, identified_widget):
    # given: the visitor wrote and an agent named the contact
    visit(socket_for, identified_widget, [], then_say="Hi")
    Contact.objects.update(name="Ada (VIP)")

    # when: the visitor comes back identified, in a new browser
    visit(
        socket_for,
        identified_widget,
        [identify_frame(name="Ada Lovelace")],
    )

    # then: a new browser is a new visitor: their own contact is named;
    # the first contact keeps the agent's name
    assert sorted(Contact.objects.values_list("name", flat=True)) == [
        "Ada (VIP)",
        "Ada Lovelace",
    ]

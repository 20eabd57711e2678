"""Every WhatsApp message kind the Cloud API documents, as agents see it:
taps on reply buttons, list rows and template quick-replies, shared contact
cards, reactions, orders, click-to-WhatsApp ads, forwarded messages, system
messages (a customer's new number), unsupported kinds, and the `played`
status of a voice message.

Fixtures are shaped as the Cloud API's webhook reference gives them
(https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/
> interactive, button, contacts, reaction, order, system, unsupported, text
(context.forwarded, frequently_forwarded, referral); > status for `played`),
with the reference's example values. What each fixture parses to is in its
expectation file, checked by the contract suite (`contract/`); here, what
agents see of each kind end to end, signed with the kit's signer.
"""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from channels_app.models import Channel
from channels_app.tests.factories import customer_conversation
from channels_app.tests.platforms.contract.kits.whatsapp import KIT
from channels_app.tests.platforms.fixtures import fixture_bytes
from channels_app.tests.platforms.test_whatsapp import customer_wrote, sandbox_channel
from conversations.models import ContactIdentity, Conversation, Message
from conversations.tests.factories import ConversationFactory, MessageFactory

CUSTOMER = "16505551234"
NEW_NUMBER = "12195555358"
# The message with the buttons the customer tapped (the reference's example).
OUR_BUTTONS = "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
OUR_WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
REACTED_TO = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3QkI1RDc2QTM0NTJFOTFDNTMA"


def raw_message(name: str) -> dict:
    """The fixture's `messages[0]`, as an unsupported message keeps it."""
    import json

    body = json.loads(fixture_bytes("whatsapp", name))
    return body["entry"][0]["changes"][0]["value"]["messages"][0]


# ------------------------------------------------------------------ end to end


def post_signed(channel: Channel, name: str):
    """POST the fixture as Meta does, signed with the channel's app secret."""
    response = KIT.deliver(Client(), channel, fixture_bytes("whatsapp", name))
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted"}
    return response


@pytest.fixture
def channel(business) -> Channel:
    return KIT.create(business=business)


@pytest.fixture
def post(channel, django_capture_on_commit_callbacks):
    def run(name: str) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            post_signed(channel, name)

    return run


def thread_html(member, conversation: Conversation) -> str:
    client = Client()
    client.force_login(member.user)
    url = reverse("conversation", kwargs={"conversation_id": conversation.pk})
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def api_messages(api, conversation: Conversation) -> list[dict]:
    response = api.get(f"/api/v1/conversations/{conversation.pk}/messages")
    assert response.status_code == 200
    return response.json()["results"]


def the_customers(channel: Channel) -> Conversation:
    """The conversation with the fixtures' customer."""
    return customer_conversation(channel, CUSTOMER, f"wa:{CUSTOMER}")


def our_message(channel: Channel, platform_message_id: str, **extra) -> Message:
    """A reply PingBack sent to the fixtures' customer as `platform_message_id`."""
    return MessageFactory(
        conversation=the_customers(channel),
        direction="outbound",
        platform_message_id=platform_message_id,
        **{"status": "sent", **extra},
    )


@pytest.mark.django_db
def test_a_tapped_button_or_list_row_continues_the_thread_of_our_question(
    channel, post, admin_member, admin_api
):
    question = our_message(channel, OUR_BUTTONS, text="How should we ship it?")

    post("message__interactive_list_reply")
    post("message__interactive_button_reply")
    post("message__button")

    conversation = question.conversation
    shown = api_messages(admin_api, conversation)
    assert [(m["direction"], m["text"]) for m in shown] == [
        ("outbound", "How should we ship it?"),
        ("inbound", "Priority Mail Express"),
        ("inbound", "Cancel"),
        ("inbound", "Unsubscribe"),
    ]
    assert [m["details"].get("reply") for m in shown[1:]] == [
        {
            "type": "list_reply",
            "id": "priority_express",
            "title": "Priority Mail Express",
        },
        {"type": "button_reply", "id": "cancel-button", "title": "Cancel"},
        {"type": "button", "id": "Unsubscribe", "title": "Unsubscribe"},
    ]
    html = thread_html(admin_member, conversation)
    assert "Chosen from a list" in html
    assert "Next Day to 2 Days" in html


@pytest.mark.django_db
def test_a_shared_contact_card_shows_its_name_and_number(
    channel, post, admin_member, admin_api
):
    post("message__contacts")

    conversation = Conversation.objects.get()
    [message] = api_messages(admin_api, conversation)
    assert message["text"] == (
        "Contact card: Barbara J. Johnson, +1 (940) 555-1234, bjohnson@whatsapp.com"
    )
    html = thread_html(admin_member, conversation)
    assert "Contact: <bdi>Barbara J. Johnson</bdi>" in html
    assert "+1 (940) 555-1234" in html


CUSTOMER_THUMBS_UP = '👍<span class="visually-hidden"> from the customer</span>'


@pytest.mark.django_db
def test_a_reaction_shows_on_our_message_and_an_empty_one_removes_it(
    channel, post, admin_member
):
    reacted = our_message(channel, REACTED_TO, text="It ships tomorrow.")

    post("message__reaction")
    reacted.refresh_from_db()
    assert [(r["by"], r["emoji"]) for r in reacted.reactions] == [("contact", "👍")]
    assert CUSTOMER_THUMBS_UP in thread_html(admin_member, reacted.conversation)

    post("message__reaction_removed")
    reacted.refresh_from_db()
    assert reacted.reactions == []
    assert 'class="reactions"' not in thread_html(admin_member, reacted.conversation)
    assert Message.objects.count() == 1  # a reaction is not a message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("message__unsupported", "Unsupported message: Message type unknown"),
        ("message__unsupported_type", "Unsupported message: poll_update"),
        (
            "message__interactive_nfm_reply",
            "Unsupported message: interactive nfm_reply",
        ),
    ],
)
def test_a_kind_pingback_cannot_render_is_shown_with_the_event_as_received(
    channel, post, admin_member, name, shown
):
    post(name)

    message = Message.objects.get()
    assert message.kind == "unsupported"
    assert message.text == shown
    assert message.details["raw"] == raw_message(name)
    html = thread_html(admin_member, message.conversation)
    assert shown in html
    assert "Show the event as received" in html


@pytest.mark.django_db
def test_a_played_voice_message_counts_as_read(channel, post):
    voice = our_message(channel, OUR_WAMID, text="", status="delivered")

    post("status__played")

    voice.refresh_from_db()
    assert voice.status == "read"


@pytest.mark.django_db
def test_an_order_lists_its_items_and_total(channel, post, admin_member):
    post("message__order")

    conversation = Conversation.objects.get()
    html = thread_html(admin_member, conversation)
    assert "2 x di9ozbzfi4 at 7.99 USD" in html
    assert "Total: 20.98 USD" in html


@pytest.mark.django_db
def test_the_ad_a_customer_came_from_and_forwarding_are_shown_above_the_text(
    channel, post, admin_member
):
    post("message__referral")
    post("message__frequently_forwarded")

    html = thread_html(admin_member, Conversation.objects.get())
    assert "From an ad" in html
    assert "Chat with us — Summer succulents are here!" in html
    assert 'href="https://fb.me/3cr4Wqqkv"' in html
    assert "Forwarded many times" in html


@pytest.mark.django_db
def test_a_customer_who_changes_number_keeps_their_thread(channel, post, admin_member):
    post("message__text")  # Sheena writes from her old number
    conversation = Conversation.objects.get()

    post("message__system_number_changed")

    identity = ContactIdentity.objects.get(channel=channel)
    assert identity.external_id == NEW_NUMBER
    conversation.refresh_from_db()
    assert conversation.thread_key == f"wa:{NEW_NUMBER}"
    assert "User Sheena Nelson changed from 16505551234 to 12195555358" in (
        thread_html(admin_member, conversation)
    )
    assert Conversation.objects.count() == 1


# ------------------------------------------------------- agents react back
# Source: Cloud API reference, messages > reaction messages (`type:
# reaction`, `reaction {message_id, emoji}`, "" removes it). Sent through
# the real Graph client to the sandbox's WhatsApp stand-in over HTTP.


def customer_message(channel: Channel) -> Message:
    return MessageFactory(
        conversation=the_customers(channel),
        platform_message_id=REACTED_TO,
        text="Thanks!",
    )


def react(api, message: Message, capture, **body):
    with capture(execute=True):
        return api.post(
            f"/api/v1/conversations/{message.conversation_id}/messages/"
            f"{message.pk}/reactions",
            body,
            format="json",
        )


def reaction_sends(sandbox) -> list[tuple[str, str, str]]:
    return [
        (send["to"], send["payload"]["reaction"]["message_id"], send["text"])
        for send in sandbox.whatsapp.snapshot()["sends"]
        if send["type"] == "reaction"
    ]


@pytest.mark.django_db
def test_an_agent_reacts_and_the_customer_sees_it_on_whatsapp(
    admin_api, admin_member, business, sandbox, django_capture_on_commit_callbacks
):
    message = customer_message(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=1)

    response = react(admin_api, message, django_capture_on_commit_callbacks, emoji="❤️")

    assert response.status_code == 200, response.json()
    assert [
        (r["by"], r["emoji"], r["author_id"]) for r in response.json()["reactions"]
    ] == [("agent", "❤️", admin_member.user.pk)]
    [send] = sandbox.whatsapp.snapshot()["sends"]
    assert send["payload"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "reaction",
        "reaction": {"message_id": REACTED_TO, "emoji": "❤️"},
    }
    assert '❤️<span class="visually-hidden"> from the agent</span>' in thread_html(
        admin_member, message.conversation
    )


@pytest.mark.django_db
def test_removing_the_reaction_sends_an_empty_one_and_a_repeat_sends_nothing(
    admin_api, business, sandbox, django_capture_on_commit_callbacks
):
    message = customer_message(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=1)

    react(admin_api, message, django_capture_on_commit_callbacks, emoji="👍")
    react(admin_api, message, django_capture_on_commit_callbacks, emoji="👍")
    response = react(admin_api, message, django_capture_on_commit_callbacks, emoji="")

    assert response.status_code == 200
    assert response.json()["reactions"] == []
    assert reaction_sends(sandbox) == [
        (CUSTOMER, REACTED_TO, "👍"),
        (CUSTOMER, REACTED_TO, ""),
    ]


@pytest.mark.django_db
def test_when_one_agent_removes_theirs_the_other_agents_reaction_is_sent(
    admin_api,
    agent_member,
    api_client_for,
    business,
    sandbox,
    django_capture_on_commit_callbacks,
):
    message = customer_message(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=1)
    agent_api = api_client_for(agent_member)

    react(admin_api, message, django_capture_on_commit_callbacks, emoji="👍")
    react(agent_api, message, django_capture_on_commit_callbacks, emoji="🎉")
    react(agent_api, message, django_capture_on_commit_callbacks, emoji="")

    # WhatsApp shows one reaction from the business: the newest left.
    assert [emoji for _, _, emoji in reaction_sends(sandbox)] == ["👍", "🎉", "👍"]


@pytest.mark.django_db
@pytest.mark.parametrize("emoji", ["ok", "👍 👍", "a👍", "x" * 17])
def test_a_reaction_that_is_not_one_emoji_is_400_naming_the_field(
    admin_api, business, sandbox, django_capture_on_commit_callbacks, emoji
):
    message = customer_message(sandbox_channel(business=business))

    response = react(
        admin_api, message, django_capture_on_commit_callbacks, emoji=emoji
    )

    assert response.status_code == 400
    assert list(response.json()) == ["emoji"]
    message.refresh_from_db()
    assert message.reactions == []
    assert sandbox.whatsapp.snapshot()["sends"] == []


@pytest.mark.django_db
def test_a_missing_emoji_is_400_naming_the_field(
    admin_api, business, django_capture_on_commit_callbacks
):
    message = customer_message(KIT.create(business=business))

    response = react(admin_api, message, django_capture_on_commit_callbacks)

    assert response.status_code == 400
    assert response.json() == {"emoji": ["This field is required."]}


@pytest.mark.django_db
def test_reacting_on_a_channel_without_reactions_is_400(
    admin_api, business, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(business=business)  # an X channel
    message = MessageFactory(conversation=conversation)

    response = react(admin_api, message, django_capture_on_commit_callbacks, emoji="👍")

    assert response.status_code == 400
    assert response.json()["code"] == "reactions_unsupported"
    message.refresh_from_db()
    assert message.reactions == []


@pytest.mark.django_db
def test_a_reaction_outside_the_window_stays_in_pingback_and_is_not_retried(
    admin_api, business, sandbox, django_capture_on_commit_callbacks, caplog
):
    message = customer_message(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=25)
    caplog.set_level("WARNING", logger="conversations.services.reactions")

    response = react(admin_api, message, django_capture_on_commit_callbacks, emoji="👍")

    assert response.status_code == 200
    message.refresh_from_db()
    assert [r["emoji"] for r in message.reactions] == ["👍"]
    assert sandbox.whatsapp.snapshot()["sends"] == []  # Meta refused it (131047)
    assert [r.getMessage() for r in caplog.records] == ["reaction.failed"]


@pytest.mark.django_db
def test_a_refused_reaction_shows_failed_with_metas_reason_like_a_reply(
    admin_api, admin_member, business, sandbox, django_capture_on_commit_callbacks
):
    message = customer_message(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=25)

    react(admin_api, message, django_capture_on_commit_callbacks, emoji="👍")

    [reaction] = api_messages(admin_api, message.conversation)[0]["reactions"]
    assert (reaction["emoji"], reaction["status"]) == ("👍", "failed")
    assert "131047" in reaction["error"], reaction
    html = thread_html(admin_member, message.conversation)
    assert '<span class="delivery-status">Failed</span>: <span class="reason"' in html
    assert escape(reaction["error"]) in html

    # Once the customer writes again, reacting anew goes through and the
    # refusal is gone.
    customer_wrote(sandbox, hours_ago=1)
    react(admin_api, message, django_capture_on_commit_callbacks, emoji="🎉")

    [reaction] = api_messages(admin_api, message.conversation)[0]["reactions"]
    assert (reaction["emoji"], reaction["status"]) == ("🎉", "sent")
    assert "error" not in reaction
    assert "delivery-failed" not in thread_html(admin_member, message.conversation)


@pytest.mark.django_db
def test_the_thread_offers_quick_reactions_and_pressing_yours_again_removes_it(
    admin_member, business, sandbox, django_capture_on_commit_callbacks
):
    message = customer_message(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=1)
    client = Client()
    client.force_login(admin_member.user)
    react_url = reverse(
        "message-react",
        kwargs={"conversation_id": message.conversation_id, "message_id": message.pk},
    )

    html = thread_html(admin_member, message.conversation)
    assert 'aria-label="React with thumbs up"' in html
    with django_capture_on_commit_callbacks(execute=True):
        client.post(react_url, {"emoji": "👍"})
    html = thread_html(admin_member, message.conversation)
    assert (
        'value="" aria-pressed="true" aria-label="Remove your thumbs up reaction"'
        in (html)
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(react_url, {"emoji": ""})

    message.refresh_from_db()
    assert message.reactions == []
    assert [emoji for _, _, emoji in reaction_sends(sandbox)] == ["👍", ""]


@pytest.mark.django_db
def test_no_quick_reactions_on_notes_or_on_channels_without_reactions(
    admin_member, business
):
    x_conversation = ConversationFactory(business=business)  # an X channel
    MessageFactory(conversation=x_conversation, text="Hello from X")
    whatsapp = customer_message(KIT.create(business=business))
    MessageFactory(
        conversation=whatsapp.conversation,
        direction="outbound",
        kind="note",
        platform_message_id=None,
        text="internal",
    )

    assert "React with" not in thread_html(admin_member, x_conversation)
    assert (
        thread_html(admin_member, whatsapp.conversation).count(
            'aria-label="React with thumbs up"'
        )
        == 1
    )


@pytest.mark.django_db
def test_no_reaction_goes_to_a_customer_who_opted_out(
    admin_api, business, sandbox, django_capture_on_commit_callbacks
):
    message = customer_message(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=1)
    ContactIdentity.objects.filter(pk=message.conversation.contact_identity_id).update(
        opted_out_at=message.sent_at, opted_out_reason="Blocked the business"
    )

    response = react(admin_api, message, django_capture_on_commit_callbacks, emoji="👍")

    assert response.status_code == 200
    assert sandbox.whatsapp.snapshot()["sends"] == []


@pytest.fixture
def customer_said_thanks(sandbox, admin_member) -> Message:
    """Made before Playwright starts: the ORM inside its greenlet would open a
    connection of its own that outlives the test database."""
    return customer_message(sandbox_channel(business=admin_member.business))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_an_agent_reacts_from_the_keyboard_in_a_real_browser(
    live_server, sandbox, admin_member, customer_said_thanks, browser_page
):
    message = customer_said_thanks
    customer_wrote(sandbox, hours_ago=1)
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", admin_member.user.username)
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/**")
    thread = reverse(
        "conversation", kwargs={"conversation_id": message.conversation_id}
    )
    page.goto(f"{live_server.url}{thread}")

    bubble = page.locator(f"#message-{message.pk}")
    bubble.locator(".react-menu > summary").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    page.locator(f"#message-{message.pk} .reactions li").wait_for()
    assert page.locator(f"#message-{message.pk} .reactions li").text_content() == (
        "👍 from the agent"
    )
    assert [emoji for _, _, emoji in reaction_sends(sandbox)] == ["👍"]

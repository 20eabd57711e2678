"""Instagram message kinds beyond text and media: reactions, unsent messages,
story replies and mentions, icebreaker and template buttons (postbacks), ads
and links a customer came from (referrals), and what PingBack cannot render.

Fixtures are shaped as Meta documents them: the Instagram messaging webhooks
reference (https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook:
`messages` with `is_deleted`, `is_unsupported`, `reply_to.story {url, id}`,
`attachments[].type` `story_mention`, `ig_reel`, `share`, `template`;
`message_reactions`; `messaging_postbacks`; `messaging_referral`), the
messaging_referrals reference for ads (`ads_context_data`), and the Story
Mention page (story media are links, never stored). What each fixture parses to
is in its expectation file, checked by the contract suite (`contract/`).
"""

import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from channels_app.models import InboundEvent
from channels_app.platforms import get_platform
from channels_app.tests.platforms.contract.kits.instagram import KIT
from channels_app.tests.platforms.fixtures import fixture_bytes
from conversations.models import Message
from conversations.tests.factories import ConversationFactory, MessageFactory
from sandbox.platforms.instagram.payloads import DEMO_CUSTOMER_ID

THREAD = f"ig:{DEMO_CUSTOMER_ID}"
LOOKASIDE = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="
AD_PHOTO = "https://scontent.cdninstagram.com/v/ad-kettle.jpg"


def mid(suffix: str) -> str:
    """The fixtures' mids differ only in their last digits."""
    return (
        "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcx"
        "MDMwMTI0NDI1ODU5OTE3NTI2OTQwODg3NjozMjUwMzM2MTczNzg4MTI5NDExMzU3NjQ4OTczNTY4"
        f"{suffix}ZDZD"
    )


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def raw(name: str, index: int = 0) -> dict:
    """The `messaging[index]` event of a fixture, as stored in details.raw."""
    return json.loads(fixture_bytes("instagram", name))["entry"][0]["messaging"][index]


OUR_MID = mid("OTAwMQ")
STORY_URL = LOOKASIDE + "18056789012345678&signature=St0ryR3ply-signature"
MENTION_URL = LOOKASIDE + "18045678901234567&signature=Qw3rTy-story-signature"
REEL_URL = LOOKASIDE + "18067890123456789&signature=R33l-signature"


def test_a_reaction_named_without_its_emoji_gets_the_emoji_of_its_name():
    body = json.loads(fixture_bytes("instagram", "reaction__react"))
    del body["entry"][0]["messaging"][0]["reaction"]["emoji"]
    body["entry"][0]["messaging"][0]["reaction"]["reaction"] = "like"

    parsed = get_platform("instagram").parse(KIT.build(), json.dumps(body).encode())

    assert [item.emoji for item in parsed.items] == ["\U0001f44d"]


def test_text_with_an_attachment_it_cannot_render_keeps_the_text_and_the_event():
    body = json.loads(fixture_bytes("instagram", "message__template"))
    body["entry"][0]["messaging"][0]["message"]["text"] = "Is this in stock?"

    [item] = (
        get_platform("instagram").parse(KIT.build(), json.dumps(body).encode()).items
    )

    assert (item.kind, item.text) == ("message", "Is this in stock?")
    assert item.details["raw"] == body["entry"][0]["messaging"][0]


def test_an_unsent_message_does_not_pass_for_a_redelivery_of_it():
    channel = KIT.build()
    platform = get_platform("instagram")

    sent = platform.parse(channel, fixture_bytes("instagram", "message__text"))
    unsent = platform.parse(channel, fixture_bytes("instagram", "message__deleted"))

    assert sent.event_key != unsent.event_key


# ------------------------------------------------------------------ end to end


def deliver(client, channel, capture, *names: str) -> None:
    for name in names:
        with capture(execute=True):
            response = KIT.deliver(client, channel, fixture_bytes("instagram", name))
        assert response.status_code == 200, response.content


def thread_html(member, conversation) -> str:
    client = Client()
    client.force_login(member.user)
    url = reverse("conversation", kwargs={"conversation_id": conversation.pk})
    return client.get(url).content.decode()


@pytest.fixture
def channel(agent_member):
    return KIT.create(business=agent_member.business)


@pytest.fixture
def ours(channel):
    """Our earlier reply, the message the fixtures' reactions are about."""
    return MessageFactory(
        conversation=ConversationFactory(
            business=channel.business,
            channel=channel,
            thread_key=THREAD,
            contact_identity__external_id=DEMO_CUSTOMER_ID,
        ),
        direction="outbound",
        status="sent",
        platform_message_id=OUR_MID,
        text="Yes! It is back since this morning.",
    )


@pytest.mark.django_db
def test_a_reaction_shows_on_our_message_and_unreact_removes_it(
    client, django_capture_on_commit_callbacks, channel, ours, agent_member
):
    deliver(client, channel, django_capture_on_commit_callbacks, "reaction__react")
    reacted = thread_html(agent_member, ours.conversation)
    deliver(client, channel, django_capture_on_commit_callbacks, "reaction__unreact")
    unreacted = thread_html(agent_member, ours.conversation)

    assert 'aria-label="Reactions"' in reacted
    assert "\u2764\ufe0f<span" in reacted
    assert 'aria-label="Reactions"' not in unreacted
    ours.refresh_from_db()
    assert ours.reactions == []
    assert list(InboundEvent.objects.values_list("status", flat=True)) == [
        "processed",
        "processed",
    ]


@pytest.mark.django_db
def test_an_unsent_message_is_kept_and_shown_as_deleted(
    client, django_capture_on_commit_callbacks, channel, agent_member
):
    deliver(
        client,
        channel,
        django_capture_on_commit_callbacks,
        "message__text",
        "message__deleted",
    )

    message = Message.objects.get()
    assert message.deleted_at == ms(1763712700104)
    html = thread_html(agent_member, message.conversation)
    assert "Deleted by the customer" in html
    assert "Hi! Is the blue kettle back in stock?" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "label", "url", "text"),
    [
        (
            "message__story_reply",
            "Replied to your story",
            STORY_URL,
            "Is this one still available?",
        ),
        ("message__story_mention", "Mentioned you in their story", MENTION_URL, ""),
    ],
)
def test_a_story_reply_or_mention_shows_the_story_as_a_link_never_stored(
    client,
    django_capture_on_commit_callbacks,
    agent_member,
    name,
    label,
    url,
    text,
):
    """Meta's Story Mention page: story media must not be stored, so the
    story stays a link (no download is even attempted)."""
    channel = KIT.create(business=agent_member.business)

    deliver(client, channel, django_capture_on_commit_callbacks, name)

    message = Message.objects.get()
    assert message.text == text
    [story] = message.attachments
    assert "stored" not in story
    assert "fetch_error" not in story
    html = thread_html(agent_member, message.conversation)
    assert f'<span class="context-label">{label}</span>' in html
    assert html.count(f'href="{url.replace("&", "&amp;")}"') == 2  # context, file
    assert "fetching" not in html


@pytest.mark.django_db
def test_an_icebreaker_tap_is_the_customers_message_with_the_button(
    client, django_capture_on_commit_callbacks, channel, agent_member
):
    deliver(client, channel, django_capture_on_commit_callbacks, "postback__icebreaker")

    message = Message.objects.get()
    assert message.direction == "inbound"
    assert message.details["reply"] == {
        "type": "postback",
        "id": "ORDER_STATUS",
        "title": "Where is my order?",
    }
    assert "Where is my order?" in thread_html(agent_member, message.conversation)


@pytest.mark.django_db
def test_the_ad_a_customer_came_from_shows_above_their_message(
    client, django_capture_on_commit_callbacks, channel, agent_member
):
    deliver(
        client, channel, django_capture_on_commit_callbacks, "referral__ad_then_message"
    )

    message = Message.objects.get()
    assert message.text == "How much is shipping?"
    html = thread_html(agent_member, message.conversation)
    assert (
        '<span class="context-label">From an ad: Blue kettle, back in stock</span>'
        in html
    )
    assert f'href="{AD_PHOTO}"' in html


@pytest.mark.django_db
def test_an_ad_referral_alone_is_a_visible_message(
    client, django_capture_on_commit_callbacks, channel, agent_member
):
    deliver(client, channel, django_capture_on_commit_callbacks, "referral__ad")

    message = Message.objects.get()
    html = thread_html(agent_member, message.conversation)
    assert "Came to the conversation from an ad: Blue kettle, back in stock" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "shown"),
    [
        (
            "message__unsupported",
            "Unsupported message: a kind of message Instagram does not share",
        ),
        ("message__template", "Unsupported message: Instagram template"),
    ],
)
def test_what_cannot_be_rendered_is_kept_with_the_event_as_received(
    client, django_capture_on_commit_callbacks, agent_member, name, shown
):
    channel = KIT.create(business=agent_member.business)

    deliver(client, channel, django_capture_on_commit_callbacks, name)

    message = Message.objects.get()
    assert message.kind == "unsupported"
    assert message.details["raw"] == raw(name)
    html = thread_html(agent_member, message.conversation)
    assert shown in html
    assert "Show the event as received" in html


@pytest.mark.django_db
def test_a_shared_reel_is_a_link_to_it(
    client, django_capture_on_commit_callbacks, channel, agent_member
):
    deliver(client, channel, django_capture_on_commit_callbacks, "message__ig_reel")

    message = Message.objects.get()
    [reel] = message.attachments
    assert "stored" not in reel
    html = thread_html(agent_member, message.conversation)
    assert f'href="{REEL_URL.replace("&", "&amp;")}"' in html


def test_a_shop_product_the_customer_asks_about_shows_above_their_message():
    """`message.referral.product.id`: a message sent from a product in the
    account's Instagram Shop."""
    body = json.loads(fixture_bytes("instagram", "message__text"))
    message = body["entry"][0]["messaging"][0]["message"]
    message["referral"] = {"product": {"id": "4412345678901234"}}

    [item] = (
        get_platform("instagram").parse(KIT.build(), json.dumps(body).encode()).items
    )

    assert item.details == {
        "context": [{"label": "From your shop", "text": "Product 4412345678901234"}]
    }


def test_a_quick_reply_tapped_is_the_message_with_its_payload():
    body = json.loads(fixture_bytes("instagram", "message__text"))
    message = body["entry"][0]["messaging"][0]["message"]
    message["quick_reply"] = {"payload": "STOCK_BLUE"}

    [item] = (
        get_platform("instagram").parse(KIT.build(), json.dumps(body).encode()).items
    )

    assert item.details == {
        "reply": {
            "type": "quick_reply",
            "id": "STOCK_BLUE",
            "title": "Hi! Is the blue kettle back in stock?",
        }
    }


@pytest.mark.parametrize("payload", [None, "x", {}])
def test_an_attachment_without_a_usable_payload_is_unsupported_not_lost(payload):
    body = json.loads(fixture_bytes("instagram", "message__image"))
    attachment = body["entry"][0]["messaging"][0]["message"]["attachments"][0]
    attachment.update(type="fallback", payload=payload)

    [item] = (
        get_platform("instagram").parse(KIT.build(), json.dumps(body).encode()).items
    )

    assert (item.kind, item.text) == (
        "unsupported",
        "Unsupported message: Instagram fallback",
    )

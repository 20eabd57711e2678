"""The channel settings pages (/settings/channels/…): only a business's admins
use them; the form is the one Django admin uses (a field per config key, the
platform's own words for a bad value, secrets kept when left blank, the
plan's refusal in the form); setup runs against the sandbox stand-in; the
webhook URL and Meta's verify token are shown; deactivating and deleting
keep the conversations, and the delete page says what goes and what stays."""

from __future__ import annotations

import pytest
from django.test import Client

from billing.tests.factories import MemberFactory, UserFactory
from channels_app.models import Channel, InboundEvent
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.test_admin_channel_form import BAD_TOKENS, bot_api_calls
from conversations.models import ContactIdentity, Conversation, Message
from conversations.tests.factories import ConversationFactory, MessageFactory
from sandbox.platforms.telegram.standin import DEMO_BOT
from workspace.tests.test_settings_pages import client_for

pytestmark = pytest.mark.django_db

LIST = "/settings/channels/"
ADD_TELEGRAM = "/settings/channels/new/telegram/"


@pytest.fixture
def admin(admin_member) -> Client:
    return client_for(admin_member)


def text(response) -> str:
    return response.content.decode()


def whatsapp_channel(business) -> Channel:
    return ChannelFactory(
        business=business,
        type="whatsapp",
        name="Acme WhatsApp",
        config={"phone_number_id": "1234567890"},
        secrets={
            "access_token": "EAAG-long-lived-access-token-0001",
            "verify_token": "chosen-verify-token-4321",
            "app_secret": "app-secret-0123456789",
        },
    )


def pages(channel: Channel) -> list[str]:
    base = f"{LIST}{channel.pk}/"
    return [
        LIST,
        "/settings/channels/new/",
        ADD_TELEGRAM,
        base,
        base + "edit/",
        base + "delete/",
    ]


# ------------------------------------------------------------------ access


def test_anonymous_visitors_are_sent_to_log_in(client, business):
    response = client.get(LIST)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_agents_and_non_members_get_403_and_nothing_changes(business, sandbox):
    channel = ChannelFactory(business=business, name="Kept")
    agent = client_for(MemberFactory(business=business, role="agent"))
    stranger = Client()
    stranger.force_login(UserFactory())

    for client in (agent, stranger):
        for url in pages(channel):
            assert client.get(url).status_code == 403, url
        base = f"{LIST}{channel.pk}/"
        assert client.post(base + "delete/").status_code == 403
        assert client.post(base + "active/", {"is_active": "0"}).status_code == 403
        assert client.post(base + "setup/").status_code == 403
        assert client.post(base + "edit/", {"name": "Taken"}).status_code == 403

    channel.refresh_from_db()
    assert channel.name == "Kept" and channel.is_active
    assert sandbox.requests() == []


def test_the_channels_tab_shows_for_admins_only(admin, business):
    agent = client_for(MemberFactory(business=business, role="agent"))

    assert 'href="/settings/channels/"' in text(admin.get("/settings/teams/"))
    assert 'href="/settings/channels/"' not in text(agent.get("/settings/teams/"))


def test_another_business_channel_is_404_everywhere(admin, sandbox):
    theirs = ChannelFactory(name="Their channel")

    for url in pages(theirs)[3:]:
        assert admin.get(url).status_code == 404, url
    base = f"{LIST}{theirs.pk}/"
    assert admin.post(base + "delete/").status_code == 404
    assert admin.post(base + "active/", {"is_active": "0"}).status_code == 404
    assert admin.post(base + "setup/").status_code == 404
    assert "Their channel" not in text(admin.get(LIST))
    assert Channel.objects.filter(pk=theirs.pk, is_active=True).exists()


# ------------------------------------------------------------------ list


def test_the_list_shows_each_channel_with_its_state_and_alert(admin, business):
    ChannelFactory(
        business=business,
        name="@acme_bot",
        type="telegram",
        setup_state="failed",
        setup_message="Telegram refused the token: Unauthorized.",
    )
    ChannelFactory(
        business=business,
        name="Acme on X",
        is_active=False,
        alert="Your X account has no credits left.",
    )

    page = text(admin.get(LIST))

    assert "@acme_bot" in page and "Acme on X" in page
    assert 'class="channel-icon channel-telegram"' in page
    assert 'class="channel-icon channel-x"' in page
    assert "Setup: Failed" in page
    assert "Telegram refused the token: Unauthorized." in page
    assert "Inactive" in page
    assert "Your X account has no credits left." in page


def test_the_list_costs_the_same_queries_however_many_channels(
    admin, business, django_assert_max_num_queries
):
    ChannelFactory.create_batch(3, business=business)
    with django_assert_max_num_queries(8) as few:
        admin.get(LIST)
    ChannelFactory.create_batch(10, business=business)
    with django_assert_max_num_queries(len(few.captured_queries)):
        admin.get(LIST)


# ------------------------------------------------------------------ add


def test_the_add_form_has_the_platforms_fields_and_help(admin):
    page = text(admin.get(ADD_TELEGRAM))

    assert 'type="password" name="telegram__bot_token"' in page
    assert "@BotFather" in page  # the serializer's help text
    assert "telegram__bot_username" not in page  # learned by setup
    assert "whatsapp__" not in page  # only the chosen type's fields
    assert admin.get("/settings/channels/new/nonsense/").status_code == 404


def test_adding_a_telegram_channel_runs_setup_and_shows_the_webhook(
    admin, business, sandbox
):
    response = admin.post(
        ADD_TELEGRAM,
        {"name": "", "telegram__bot_token": DEMO_BOT.token},
        follow=True,
    )

    channel = Channel.objects.get()
    page = text(response)
    assert channel.business == business and channel.type == "telegram"
    assert channel.setup_state == "ready"
    assert response.redirect_chain[-1][0] == f"{LIST}{channel.pk}/"
    assert channel.name  # named by setup from the bot
    assert "getMe" in bot_api_calls(sandbox)
    assert "setWebhook" in bot_api_calls(sandbox)
    assert 'data-setup-state="ready"' in page
    assert sandbox.telegram.webhook()["url"] in page
    assert f"/api/v1/webhooks/telegram/{channel.pk}" in page
    assert DEMO_BOT.token not in page


@BAD_TOKENS
def test_a_bad_value_shows_the_platforms_words_beside_its_field(
    admin, sandbox, token, words
):
    response = admin.post(
        ADD_TELEGRAM, {"name": "Typed name", "telegram__bot_token": token}
    )

    page = text(response)
    assert response.status_code == 400
    assert 'id="id_telegram__bot_token_error"' in page
    assert words in page
    assert 'value="Typed name"' in page  # what was typed stays
    assert Channel.objects.count() == 0
    assert sandbox.telegram.webhook() is None


def test_over_the_plan_shows_the_refusal_in_the_form(admin, business, sandbox):
    business.plan = "free"
    business.save(update_fields=["plan"])
    words = (
        "The Free plan does not include telegram channels; upgrade to Mini or "
        "Pro to add it."
    )

    shown = admin.get(ADD_TELEGRAM)
    response = admin.post(ADD_TELEGRAM, {"telegram__bot_token": DEMO_BOT.token})

    assert words in text(shown)
    assert response.status_code == 400
    assert words in text(response)
    assert Channel.objects.count() == 0
    assert bot_api_calls(sandbox) == []  # refused before Telegram was asked


def test_the_count_limit_is_said_before_choosing_a_type(admin, business):
    ChannelFactory.create_batch(3, business=business)

    page = text(admin.get("/settings/channels/new/"))
    refused = admin.post(
        "/settings/channels/new/webchat/", {"webchat__brand_color": "#12abef"}
    )

    assert "The Mini plan allows 3 channels and this business uses 3" in page
    assert refused.status_code == 400
    assert "The Mini plan allows 3 channels and this business uses 3" in text(refused)
    assert Channel.objects.filter(type="webchat").count() == 0


# ------------------------------------------------------------------ detail, edit


def test_a_meta_channel_shows_its_callback_url_and_verify_token_in_clear(
    admin, business
):
    channel = whatsapp_channel(business)

    page = text(admin.get(f"{LIST}{channel.pk}/"))

    assert "Callback URL" in page
    assert f"/api/v1/webhooks/whatsapp/{channel.pk}" in page
    assert "Verify token" in page and "chosen-verify-token-4321" in page
    assert page.count('data-copy-target="setup-') == 2
    assert "EAAG-long-lived-access-token-0001" not in page
    assert "app-secret-0123456789" not in page


def test_renaming_keeps_the_secrets_and_calls_no_platform(admin, business, sandbox):
    channel = whatsapp_channel(business)

    form = text(admin.get(f"{LIST}{channel.pk}/edit/"))
    response = admin.post(
        f"{LIST}{channel.pk}/edit/",
        {
            "name": "Support (Lisbon)",
            "whatsapp__phone_number_id": "1234567890",
            "whatsapp__access_token": "",
            "whatsapp__verify_token": "",
            "whatsapp__app_secret": "",
        },
    )

    channel.refresh_from_db()
    assert "EAAG-long-lived-access-token-0001" not in form
    assert "****0001" in form  # the stored secret, masked
    assert response.status_code == 302
    assert channel.name == "Support (Lisbon)"
    assert channel.secrets["access_token"] == "EAAG-long-lived-access-token-0001"
    assert channel.secrets["verify_token"] == "chosen-verify-token-4321"
    assert sandbox.requests() == []


def test_a_refused_rename_saves_nothing(admin, business, sandbox):
    admin.post(ADD_TELEGRAM, {"telegram__bot_token": DEMO_BOT.token})
    channel = Channel.objects.get()
    named = channel.name

    refused = admin.post(
        f"{LIST}{channel.pk}/edit/", {"name": "x" * 201, "telegram__bot_token": ""}
    )

    channel.refresh_from_db()
    assert refused.status_code == 400
    assert "at most 200 characters" in text(refused)
    assert channel.name == named


def test_a_new_token_moves_the_webhook_and_the_name_to_the_new_bot(
    admin, business, sandbox
):
    admin.post(ADD_TELEGRAM, {"telegram__bot_token": DEMO_BOT.token})
    channel = Channel.objects.get()
    old_name = channel.name
    new_bot = sandbox.telegram.register_bot(
        "7000000077:AAsettings-page-second-bot-token", "acme_second_bot"
    )

    response = admin.post(
        f"{LIST}{channel.pk}/edit/",
        {"name": old_name, "telegram__bot_token": new_bot.token},
        follow=True,
    )

    channel.refresh_from_db()
    assert channel.secrets["bot_token"] == new_bot.token
    assert channel.name != old_name and "acme_second_bot" in channel.name
    assert sandbox.telegram.webhook(new_bot.token)["url"].endswith(str(channel.pk))
    assert not (sandbox.telegram.webhook(DEMO_BOT.token) or {}).get("url")
    assert 'data-setup-state="ready"' in text(response)


def test_run_setup_again_registers_the_webhook_again(admin, business, sandbox):
    admin.post(ADD_TELEGRAM, {"telegram__bot_token": DEMO_BOT.token})
    channel = Channel.objects.get()
    before = bot_api_calls(sandbox).count("setWebhook")

    response = admin.post(f"{LIST}{channel.pk}/setup/", follow=True)

    assert bot_api_calls(sandbox).count("setWebhook") == before + 1
    assert "Setup of" in text(response) and ": ready." in text(response)


# ------------------------------------------------------------------ (de)activate


def test_deactivating_stops_sends_keeps_conversations_and_reactivating_sets_up(
    admin, admin_api, business, sandbox
):
    admin.post(ADD_TELEGRAM, {"telegram__bot_token": DEMO_BOT.token})
    channel = Channel.objects.get()
    conversation = ConversationFactory(
        business=business, channel=channel, channel_type="telegram"
    )
    url = f"{LIST}{channel.pk}/active/"

    admin.post(url, {"is_active": "0"})
    channel.refresh_from_db()
    reply = admin_api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        {"text": "Hello"},
        format="json",
    )
    deactivated_webhook = sandbox.telegram.webhook()

    assert channel.is_active is False
    assert Conversation.objects.filter(pk=conversation.pk, channel=channel).exists()
    assert reply.status_code == 409
    assert not (deactivated_webhook or {}).get("url")
    assert admin.post(url, {"is_active": "maybe"}).status_code == 400
    assert admin.post(f"{LIST}{channel.pk}/setup/").status_code == 409

    admin.post(url, {"is_active": "1"})
    channel.refresh_from_db()
    assert channel.is_active is True
    assert sandbox.telegram.webhook()["url"].endswith(str(channel.pk))


# ------------------------------------------------------------------ delete


def test_the_delete_page_counts_what_goes_and_what_stays(admin, business, sandbox):
    channel = ChannelFactory(business=business, name="Old number", is_active=False)
    conversations = ConversationFactory.create_batch(
        2, business=business, channel=channel, channel_type="x"
    )
    for conversation in conversations:
        MessageFactory.create_batch(3, conversation=conversation)
    InboundEvent.objects.create(channel=channel, event_key="e1", body=b"{}")
    identities = list(
        ContactIdentity.objects.filter(channel=channel).values_list("pk", flat=True)
    )
    messages = Message.objects.filter(conversation__in=conversations).count()

    page = text(admin.get(f"{LIST}{channel.pk}/delete/"))
    response = admin.post(f"{LIST}{channel.pk}/delete/")

    assert f"its 2 conversations and their {messages} message(s)" in page
    assert f"customers' {len(identities)} account id(s)" in page
    assert "its 1 stored webhook delivery(ies)" in page
    assert response.status_code == 302 and response["Location"] == LIST
    assert not Channel.objects.filter(pk=channel.pk).exists()
    # Exactly what the page said: conversations and messages stay.
    assert (
        Conversation.objects.filter(pk__in=[c.pk for c in conversations]).count() == 2
    )
    assert Message.objects.filter(conversation__in=conversations).count() == messages
    assert identities and not ContactIdentity.objects.filter(pk__in=identities).exists()
    assert InboundEvent.objects.filter(channel_id=channel.pk).count() == 0

"""The pages of the live inbox: the list and thread subscribe instead of
polling, one list row as a partial, marking read while a thread is open, and
the admins' web widget settings."""

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from billing.tests.factories import BusinessFactory
from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from conversations.tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture
def agent_client(agent_member) -> Client:
    client = Client()
    client.force_login(agent_member.user)
    return client


@pytest.fixture
def admin_client(admin_member) -> Client:
    client = Client()
    client.force_login(admin_member.user)
    return client


@pytest.fixture
def widget(business) -> Channel:
    return ChannelFactory(
        business=business,
        type="webchat",
        secrets={},
        config={"allowed_domains": ["shop.example.com"], "welcome_message": "Hi!"},
    )


def row_url(conversation, query: str = "") -> str:
    return (
        reverse("conversation-row", kwargs={"conversation_id": conversation.pk}) + query
    )


def settings_url(channel) -> str:
    return reverse("widget-settings-edit", kwargs={"channel_id": channel.pk})


# -------------------------------------------------------- list and thread pages


def test_the_inbox_subscribes_to_live_events_instead_of_reloading(
    agent_client, business
):
    conversation = ConversationFactory(business=business, last_message_at=T0)

    html = agent_client.get(reverse("inbox")).content.decode()

    assert "location.reload" not in html
    assert '<script src="/static/inbox/live.js" defer></script>' in html
    assert 'data-live-url="/ws/inbox/"' in html
    assert 'data-row-url="/conversations/0/row/"' in html
    assert (
        '<li class="conversation-row" data-channel-type="x" '
        f'id="conversation-{conversation.pk}" data-conversation-id="{conversation.pk}" '
        'data-activity="1740830400250000">'
    ) in html


def test_the_conversation_page_subscribes_instead_of_polling(agent_client, business):
    conversation = ConversationFactory(business=business)

    html = agent_client.get(
        reverse("conversation", kwargs={"conversation_id": conversation.pk})
    ).content.decode()

    assert "setTimeout(refresh" not in html
    assert (
        f'<div id="thread-container" data-conversation-id="{conversation.pk}" '
        f'data-refresh-url="/conversations/{conversation.pk}/messages/" '
        f'data-read-url="/conversations/{conversation.pk}/read/">'
    ) in html


def test_the_login_page_does_not_open_a_live_connection():
    html = Client().get(reverse("login")).content.decode()

    assert "live.js" not in html


# ------------------------------------------------------------------ row partial


def test_the_row_partial_renders_one_row_with_its_unread_badge(agent_client, business):
    conversation = ConversationFactory(
        business=business,
        unread_count=3,
        last_message_preview="Any news?",
        contact__name="Casey Customer",
    )

    response = agent_client.get(row_url(conversation))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith(
        '<li class="conversation-row unread" data-channel-type="x" '
        f'id="conversation-{conversation.pk}"'
    )
    assert html.count('<li class="conversation-row') == 1
    assert "Casey Customer" in html
    assert "Any news?" in html
    assert (
        '<span class="badge" title="Unread messages">'
        '<span class="visually-hidden">Unread: </span>3</span>'
    ) in html


@pytest.mark.parametrize(
    ("_case", "query", "status", "expected"),
    [
        ("default filter is open: resolved is out", "", "resolved", 204),
        ("default filter is open: open is in", "", "open", 200),
        ("all statuses", "?status=", "resolved", 200),
        ("other channel type", "?status=&channel_type=telegram", "open", 204),
        ("same channel type", "?channel_type=x", "open", 200),
    ],
)
def test_the_row_partial_follows_the_lists_filters(
    agent_client, business, _case, query, status, expected
):
    conversation = ConversationFactory(business=business, status=status)

    assert agent_client.get(row_url(conversation, query)).status_code == expected


def test_the_row_of_another_businesss_conversation_is_404(agent_client):
    conversation = ConversationFactory(business=BusinessFactory())

    assert agent_client.get(row_url(conversation)).status_code == 404


def test_the_row_partial_needs_login(business):
    conversation = ConversationFactory(business=business)

    assert Client().get(row_url(conversation)).status_code == 302


# -------------------------------------------------------------------- mark read


def test_marking_read_clears_the_unread_count(agent_client, business):
    conversation = ConversationFactory(business=business, unread_count=2)
    url = reverse("conversation-read", kwargs={"conversation_id": conversation.pk})

    response = agent_client.post(url)

    conversation.refresh_from_db()
    assert response.status_code == 204
    assert conversation.unread_count == 0


def test_marking_read_is_post_only_and_scoped_to_the_business(agent_client, business):
    ours = ConversationFactory(business=business, unread_count=2)
    theirs = ConversationFactory(business=BusinessFactory(), unread_count=2)

    def url(conversation):
        return reverse("conversation-read", kwargs={"conversation_id": conversation.pk})

    assert agent_client.get(url(ours)).status_code == 405
    assert agent_client.post(url(theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.unread_count == 2


# ------------------------------------------------------------ widget settings


def test_the_inbox_links_widget_settings_for_admins_only(
    admin_client, agent_client, widget
):
    link = f'<a href="{reverse("widget-settings")}">Widgets</a>'

    assert link in admin_client.get(reverse("inbox")).content.decode()
    assert link not in agent_client.get(reverse("inbox")).content.decode()


@pytest.mark.parametrize("page", ["list", "edit"])
def test_widget_settings_are_for_admins_only(agent_client, widget, page):
    url = reverse("widget-settings") if page == "list" else settings_url(widget)

    assert agent_client.get(url).status_code == 403
    assert (
        agent_client.post(url, {"allowed_domains": "evil.example"}).status_code == 403
    )
    widget.refresh_from_db()
    assert widget.config["allowed_domains"] == ["shop.example.com"]


def test_the_list_shows_each_widget_and_where_it_may_be_embedded(
    admin_client, widget, business
):
    bare = ChannelFactory(business=business, type="widget", secrets={}, config={})
    x_channel = ChannelFactory(business=business)

    html = admin_client.get(reverse("widget-settings")).content.decode()

    assert str(x_channel.pk) not in html
    assert f'href="{settings_url(widget)}"' in html
    assert "embeddable on shop.example.com" in html
    assert f'href="{settings_url(bare)}"' in html
    assert "<strong>no site may embed it yet</strong>" in html


def test_the_edit_page_shows_the_snippet_as_text_and_explains_an_empty_list(
    admin_client, widget, settings
):
    settings.PINGBACK_PUBLIC_BASE_URL = "https://inbox.example.com"

    html = admin_client.get(settings_url(widget)).content.decode()

    assert (
        '<code class="snippet" id="embed-snippet">&lt;script '
        "src=&quot;https://inbox.example.com/static/widget/pingback-widget.js&quot; "
        f"data-pingback-channel=&quot;{widget.pk}&quot; async&gt;&lt;/script&gt;</code>"
    ) in html
    assert "<strong>An empty list means no site may embed it.</strong>" in html
    assert ">shop.example.com</textarea>" in html
    assert ">Hi!</textarea>" in html


def test_saving_settings_validates_and_stores_them_like_the_api(admin_client, widget):
    response = admin_client.post(
        settings_url(widget),
        {
            "allowed_domains": "https://Shop.Example.com\n"
            "help.example.com:8443, .example.org",
            "welcome_message": "Hello! Ask us anything.",
            "brand_color": "#112233",
            "logo_url": "https://shop.example.com/logo.png",
        },
    )

    widget.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == settings_url(widget)
    assert widget.config == {
        "allowed_domains": [
            "shop.example.com",
            "help.example.com:8443",
            ".example.org",
        ],
        "welcome_message": "Hello! Ask us anything.",
        "brand_color": "#112233",
        "logo_url": "https://shop.example.com/logo.png",
    }
    assert widget.setup_state == "ready"
    assert widget.setup_message.endswith(
        "Sites allowed to embed it: shop.example.com, help.example.com:8443, "
        ".example.org."
    )


def test_emptied_fields_are_removed(admin_client, widget):
    admin_client.post(
        settings_url(widget),
        {
            "allowed_domains": "",
            "welcome_message": "",
            "brand_color": "",
            "logo_url": "",
        },
    )

    widget.refresh_from_db()
    assert widget.config == {"allowed_domains": []}


def test_a_refused_value_is_shown_beside_its_field_and_nothing_is_saved(
    admin_client, widget
):
    response = admin_client.post(
        settings_url(widget),
        {
            "allowed_domains": "shop.example.com\nnot_a domain!",
            "welcome_message": "Hello",
            "brand_color": "blue",
            "logo_url": "javascript:alert(1)",
        },
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "<li>not_a: Enter a domain such as shop.example.com" in html
    assert "<li>Enter a valid URL.</li>" in html
    assert "This value does not match the required pattern." in html
    widget.refresh_from_db()
    assert widget.config == {
        "allowed_domains": ["shop.example.com"],
        "welcome_message": "Hi!",
    }


def test_another_businesss_widget_or_a_non_widget_channel_is_404(
    admin_client, business
):
    theirs = ChannelFactory(business=BusinessFactory(), type="webchat", secrets={})
    x_channel = ChannelFactory(business=business)

    assert admin_client.get(settings_url(theirs)).status_code == 404
    assert admin_client.get(settings_url(x_channel)).status_code == 404
    assert admin_client.get("/settings/widgets/not-a-uuid/").status_code == 404


def test_an_admin_adds_a_widget_and_lands_on_its_settings(admin_client, business):
    response = admin_client.post(reverse("widget-settings"))

    channel = Channel.objects.get(business=business)
    assert channel.type == "webchat"
    assert response["Location"] == settings_url(channel)


def test_adding_a_widget_beyond_the_plan_shows_why(admin_client, business, widget):
    business.plan = "free"
    business.save()

    response = admin_client.post(reverse("widget-settings"), follow=True)

    assert Channel.objects.filter(business=business).count() == 1
    assert "The Free plan allows" in response.content.decode()

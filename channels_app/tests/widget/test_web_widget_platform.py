"""The web widget's platform module: config (allowed domains), origin matching,
pushing replies, setup's embed snippet. Parsing the stored visitor messages is
in the contract suite (`channels_app/tests/platforms/contract/`, kit
`kits/webchat.py`)."""

import uuid
from datetime import datetime
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from channels_app.models import Channel
from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    OutboundAttachment,
    OutboundMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from channels_app.platforms.web_widget import origin_allowed, visitor_group

FIXTURES = Path(__file__).parent / "fixtures"
VISITOR = "5f0b7e36-9d1c-4f4e-8a51-3c1f2b6d9e01"
SNIPPET = (
    '<script src="http://pingback.test/static/widget/pingback-widget.js" '
    'data-pingback-channel="{id}" async></script>'
)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


# ------------------------------------------------------------------------ origins


@pytest.mark.parametrize(
    ("_case", "origin", "allowed", "expected"),
    [
        (
            "exact host, any port",
            "https://shop.example.com",
            ["shop.example.com"],
            True,
        ),
        (
            "exact host, other port",
            "http://shop.example.com:8080",
            ["shop.example.com"],
            True,
        ),
        ("host case", "https://Shop.Example.com", ["shop.example.com"], True),
        (
            "port named and matching",
            "https://shop.example.com:8443",
            ["shop.example.com:8443"],
            True,
        ),
        (
            "port named, default https port",
            "https://shop.example.com",
            ["shop.example.com:443"],
            True,
        ),
        (
            "port named, other port",
            "https://shop.example.com",
            ["shop.example.com:8443"],
            False,
        ),
        (
            "subdomain of an exact entry",
            "https://a.shop.example.com",
            ["shop.example.com"],
            False,
        ),
        ("leading dot, the domain", "https://example.com", [".example.com"], True),
        ("leading dot, a subdomain", "https://a.b.example.com", [".example.com"], True),
        (
            "suffix that is not a subdomain",
            "https://badexample.com",
            [".example.com"],
            False,
        ),
        (
            "lookalike",
            "https://shop.example.com.evil.test",
            ["shop.example.com"],
            False,
        ),
        ("empty list", "https://shop.example.com", [], False),
        ("no origin", None, ["shop.example.com"], False),
        ("opaque origin", "null", ["shop.example.com"], False),
        ("localhost with port", "http://localhost:8766", ["localhost:8766"], True),
    ],
)
def test_origin_allowed(_case, origin, allowed, expected):
    assert origin_allowed(origin, allowed) is expected


# ------------------------------------------------------------------------- config


def create(api, config: dict, channel_type: str = "webchat"):
    return api.post(
        "/api/v1/channels/", {"type": channel_type, "config": config}, format="json"
    )


@pytest.mark.django_db
def test_allowed_domains_are_stored_as_lower_case_hosts_once_each(admin_api):
    response = create(
        admin_api,
        {
            "allowed_domains": [
                "https://Shop.Example.com/",
                "shop.example.com",
                "help.example.com:8443",
                ".example.org",
            ]
        },
    )

    assert response.status_code == 201, response.json()
    assert response.json()["config"]["allowed_domains"] == [
        "shop.example.com",
        "help.example.com:8443",
        ".example.org",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad", ["not a domain", "https://", "exa mple.com", "shop.example.com:port", "*"]
)
def test_an_allowed_domain_that_is_not_a_host_is_400_naming_it(admin_api, bad):
    response = create(admin_api, {"allowed_domains": ["shop.example.com", bad]})

    assert response.status_code == 400
    assert response.json() == {
        "config": {
            "allowed_domains": {
                "1": [
                    "Enter a domain such as shop.example.com, optionally with a "
                    "port (shop.example.com:8443)."
                ]
            }
        }
    }
    assert Channel.objects.count() == 0


@pytest.mark.django_db
def test_setup_is_ready_and_gives_the_embed_snippet(admin_api, settings):
    settings.PINGBACK_PUBLIC_BASE_URL = "http://pingback.test"

    response = create(admin_api, {"allowed_domains": ["shop.example.com"]}, "widget")

    body = response.json()
    snippet = SNIPPET.format(id=body["id"])
    assert body["setup"]["state"] == "ready"
    assert body["setup"]["message"] == (
        f"Paste this into your site's pages, before </body>: {snippet} "
        "Sites allowed to embed it: shop.example.com."
    )
    assert body["config"]["_embed_snippet"] == snippet


@pytest.mark.django_db
def test_setup_says_when_no_site_may_embed_the_widget(admin_api):
    response = create(admin_api, {})

    assert response.json()["setup"]["message"].endswith(
        "No site may embed it yet: add your site's domain to the allowed domains."
    )


@pytest.mark.django_db
def test_the_widget_receives_no_webhooks(client, business):
    channel = Channel.objects.create(business=business, type="webchat")

    response = client.post(
        f"/api/v1/webhooks/webchat/{channel.id}",
        data=fixture_bytes("message__text"),
        content_type="application/json",
    )

    assert response.status_code == 404


# --------------------------------------------------------------------------- send


def reply(**overrides) -> OutboundMessage:
    fields = {
        "message_id": 42,
        "text": "We ship to Norway, yes.",
        "recipient_external_id": VISITOR,
        "thread_key": f"visitor:{VISITOR}",
    }
    return OutboundMessage(**{**fields, **overrides})


@pytest.mark.django_db
def test_send_pushes_the_reply_to_the_visitors_group(fresh_channel_layer, business):
    channel = Channel.objects.create(business=business, type="webchat")
    attachment = OutboundAttachment(
        kind="image",
        filename="map.png",
        content_type="image/png",
        size=10,
        storage_name="x/map.png",
        public_url="http://pingback.test/attachments/abc",
    )

    async def listen() -> str:
        layer = get_channel_layer()
        name = await layer.new_channel()
        await layer.group_add(visitor_group(channel.id, VISITOR), name)
        return name

    listener = async_to_sync(listen)()
    result = get_platform("webchat").send(channel, reply(attachments=(attachment,)))
    event = async_to_sync(get_channel_layer().receive)(listener)

    assert result.platform_message_id == "reply-42"
    assert event["type"] == "widget.message"
    pushed = event["message"]
    assert datetime.fromisoformat(pushed.pop("sent_at")).tzinfo is not None
    assert pushed == {
        "id": 42,
        "client_id": None,
        "direction": "outbound",
        "text": "We ship to Norway, yes.",
        "attachments": [
            {
                "kind": "image",
                "name": "map.png",
                "url": "http://pingback.test/attachments/abc",
            }
        ],
    }


@pytest.mark.django_db
def test_send_without_a_reachable_channel_layer_is_a_transient_failure(
    settings, business
):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Nothing listens on port 9 (discard) here: the connection is refused.
            "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]},
        }
    }
    channel = Channel.objects.create(business=business, type="webchat")

    with pytest.raises(TransientDeliveryError) as raised:
        get_platform("webchat").send(channel, reply())

    assert raised.value.reason.startswith("The live connection service is unavailable")


@pytest.mark.django_db
def test_send_to_an_unknown_visitor_fails_for_good(business):
    channel = Channel.objects.create(business=business, type="webchat")

    with pytest.raises(PermanentDeliveryError):
        get_platform("webchat").send(channel, reply(recipient_external_id=""))


def test_visitor_ids_fit_a_channel_layer_group_name():
    group = visitor_group(uuid.uuid4(), str(uuid.uuid4()))

    assert len(group) < 100
    get_channel_layer().require_valid_group_name(group)

"""What only WhatsApp does: a message redelivered inside another body, stable
event keys, receipts, channel creation against the Graph API stand-in, sends
(window, templates, media, errors) and media fetch. Meta's handshake and
signatures, parsing of every fixture, redelivery and malformed bodies are in
the contract suite (`contract/`, kits `kits/whatsapp.py`, `kits/meta.py`).

Graph calls go over real HTTP (httpx) to the sandbox's WhatsApp stand-in.
"""

import hashlib
import json

import pytest
import requests
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from channels_app.models import Channel
from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    PermanentDeliveryError,
)
from channels_app.platforms.whatsapp import WINDOW_CLOSED
from channels_app.services.delivery import message_deliver
from channels_app.tests.factories import customer_conversation as conversation_of
from channels_app.tests.platforms.contract.kits.whatsapp import KIT
from channels_app.tests.platforms.fixtures import fixture_bytes
from conversations.models import Conversation, Message
from conversations.tests.factories import MessageFactory, ReplyFactory
from pingback.tests.servers import Answer, RecordingServer
from sandbox.platforms.whatsapp.payloads import (
    DEMO_NUMBER,
    Customer,
    CustomerMessage,
    customer_message_payload,
)
from sandbox.platforms.whatsapp.state import StoredMedia

VERIFY_TOKEN = "chosen-verify-token-1234"
CUSTOMER = "16505551234"
OUR_WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
REPLIED_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3QkI1RDc2QTM0NTJFOTFDNTMA"


def sandbox_channel(**kwargs) -> Channel:
    """A channel of the sandbox's demo number (the stand-in knows its token)."""
    return whatsapp_channel(
        config={"phone_number_id": DEMO_NUMBER.phone_number_id},
        secrets={
            "access_token": DEMO_NUMBER.access_token,
            "verify_token": VERIFY_TOKEN,
            "app_secret": DEMO_NUMBER.app_secret,
        },
        **kwargs,
    )


def whatsapp_channel(**fields) -> Channel:
    """A WhatsApp channel for the documented example number, set up."""
    return KIT.create(**fields)


# ------------------------------------------------------------------ webhooks


@pytest.mark.django_db
def test_a_message_seen_before_in_another_body_is_one_message(
    client, django_capture_on_commit_callbacks
):
    """Meta may redeliver a message inside a bigger body (another event key):
    the message itself is still stored once."""
    channel = whatsapp_channel()
    single = json.loads(fixture_bytes("whatsapp", "message__text"))
    combined = json.loads(fixture_bytes("whatsapp", "body__multi_entry"))
    combined["entry"][0]["changes"][0] = single["entry"][0]["changes"][0]

    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, fixture_bytes("whatsapp", "message__text"))
        response = KIT.deliver(client, channel, json.dumps(combined).encode())

    assert response.json() == {"status": "accepted"}
    assert sorted(Message.objects.values_list("text", flat=True)) == [
        "Does it come in another color?",
        "Is the shop open on Sunday?",
    ]


# ------------------------------------------------------------ parsing, pure


def test_the_same_items_in_another_order_have_the_same_event_key():
    channel = KIT.build()
    body = json.loads(fixture_bytes("whatsapp", "body__multi_entry"))
    reordered = {**body, "entry": list(reversed(body["entry"]))}

    keys = {
        get_platform("whatsapp").parse(channel, json.dumps(data).encode()).event_key
        for data in (body, reordered)
    }

    assert len(keys) == 1


# -------------------------------------------------------------------- statuses


def sent_message(channel, status: str = "sent") -> Message:
    """An agent's reply PingBack sent as OUR_WAMID to the fixtures' customer."""
    return ReplyFactory(
        conversation=conversation_of(channel, CUSTOMER, f"wa:{CUSTOMER}"),
        status=status,
        platform_message_id=OUR_WAMID,
        text="Yes, it comes in blue.",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "statuses", "final"),
    [
        ("in order", ["sent", "delivered", "read"], "read"),
        ("read then delivered", ["read", "delivered"], "read"),
        ("read then a late sent", ["read", "sent"], "read"),
        ("delivered then sent", ["delivered", "sent"], "delivered"),
    ],
)
def test_statuses_move_our_message_forward_and_never_back(
    client, django_capture_on_commit_callbacks, _case, statuses, final
):
    channel = whatsapp_channel()
    message = sent_message(channel)

    for status in statuses:
        with django_capture_on_commit_callbacks(execute=True):
            response = KIT.deliver(
                client, channel, fixture_bytes("whatsapp", f"status__{status}")
            )
        assert response.json() == {"status": "accepted"}

    message.refresh_from_db()
    assert message.status == final


@pytest.mark.django_db
def test_a_failed_status_shows_metas_reason_and_the_window_advice(
    client, django_capture_on_commit_callbacks
):
    channel = whatsapp_channel()
    message = sent_message(channel)

    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, fixture_bytes("whatsapp", "status__failed"))

    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error == (
        "131047: Re-engagement message — Message failed to send because more than "
        "24 hours have passed since the customer last replied to this number. "
        f"{WINDOW_CLOSED}"
    )


# ---------------------------------------------------------- channel creation


def create(admin_api, config: dict):
    return admin_api.post(
        "/api/v1/channels/", {"type": "whatsapp", "config": config}, format="json"
    )


@pytest.mark.django_db
def test_create_answers_the_setup_instructions_in_clear_and_get_masks_them(
    admin_api, sandbox
):
    config = DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN)

    response = create(admin_api, config)

    assert response.status_code == 201, response.json()
    body = response.json()
    callback = (
        f"{settings.PINGBACK_PUBLIC_BASE_URL}/api/v1/webhooks/whatsapp/{body['id']}"
    )
    assert body["webhook_url"] == callback
    assert body["config"] == {
        "phone_number_id": DEMO_NUMBER.phone_number_id,
        "display_phone_number": "+1 555-010-4477",
        "verified_name": "PingBack Demo",
        "access_token": "****0001",
        "verify_token": "****1234",
        "app_secret": "****0001",
        "_meta_setup_instructions": {
            "callback_url": callback,
            "verify_token": VERIFY_TOKEN,
        },
    }
    assert body["setup"]["state"] == "action_required"
    assert body["setup"]["message"] == (
        "Connected to PingBack Demo (+1 555-010-4477). Paste this callback URL "
        "and verify token in Meta's dashboard (WhatsApp → Configuration): "
        f"{callback} and the verify token you chose for this channel (both are "
        "in _meta_setup_instructions), click Verify and save, then subscribe to "
        "the messages field. PingBack turns this channel ready when Meta's first "
        "signed event arrives (the dashboard's Test button sends one)."
    )
    shown = admin_api.get(f"/api/v1/channels/{body['id']}").json()
    assert shown["config"]["_meta_setup_instructions"] == {
        "callback_url": callback,
        "verify_token": "****1234",
    }
    assert VERIFY_TOKEN not in json.dumps(shown)
    channel = Channel.objects.get()
    assert channel.secrets["verify_token"] == VERIFY_TOKEN


@pytest.mark.django_db
def test_a_token_that_cannot_see_the_number_is_400_naming_the_number(
    admin_api, sandbox
):
    """The token is valid, for another app's number: Meta's refusal names the
    object, so the 400 names phone_number_id."""
    requests.post(
        f"{sandbox.url}/_sandbox/whatsapp/numbers",
        json={
            "phone_number_id": "104400000000888",
            "access_token": "EAAOtherAppToken000",
            "app_secret": "other",
        },
        timeout=5,
    ).raise_for_status()
    config = DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN)

    response = create(admin_api, {**config, "access_token": "EAAOtherAppToken000"})

    assert response.status_code == 400
    assert response.json() == {
        "config": {
            "phone_number_id": [
                "Unsupported get request. Object with ID '104412345678901' does not "
                "exist, cannot be loaded due to missing permissions, or does not "
                "support this operation."
            ]
        }
    }
    assert Channel.objects.count() == 0


@pytest.mark.django_db
def test_admin_creates_the_channel_and_shows_the_values_to_paste(client, sandbox):
    from billing.tests.factories import BusinessFactory, UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    business = BusinessFactory(plan="mini")

    response = client.post(
        "/admin/channels_app/channel/add/",
        {
            "business": business.pk,
            "type": "whatsapp",
            **{
                f"whatsapp__{key}": value
                for key, value in DEMO_NUMBER.as_config(VERIFY_TOKEN).items()
            },
            "is_active": "on",
        },
        follow=True,
    )

    channel = Channel.objects.get()
    assert channel.config["verified_name"] == "PingBack Demo"
    page = response.content.decode()
    assert "setup action required. Connected to PingBack Demo" in page
    change = client.get(f"/admin/channels_app/channel/{channel.pk}/change/")
    # The admin sees the values to paste in Meta's dashboard in clear; the
    # access token and app secret stay hidden.
    assert f"/api/v1/webhooks/whatsapp/{channel.pk}" in change.content.decode()
    assert VERIFY_TOKEN in change.content.decode()
    for secret in ("access_token", "app_secret"):
        assert channel.secrets[secret] not in change.content.decode()


# ---------------------------------------------------------------------- sends


def customer_conversation(channel) -> Conversation:
    """A conversation where the customer wrote REPLIED_WAMID."""
    conversation = conversation_of(channel, CUSTOMER, f"wa:{CUSTOMER}")
    MessageFactory(conversation=conversation, platform_message_id=REPLIED_WAMID)
    return conversation


def customer_wrote(sandbox, hours_ago: float) -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/whatsapp/customer/window",
        json={"wa_id": CUSTOMER, "hours_ago": hours_ago},
        timeout=5,
    ).raise_for_status()


def reply(admin_api, conversation, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            f"/api/v1/conversations/{conversation.pk}/messages",
            body,
            format="multipart" if "files" in body else "json",
        )
    assert response.status_code == 202, response.json()
    return Message.objects.get(pk=response.json()["id"])


@pytest.mark.django_db
def test_a_reply_inside_the_window_is_sent_as_text_quoting_the_customer(
    admin_api, business, sandbox, django_capture_on_commit_callbacks
):
    conversation = customer_conversation(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=2)

    message = reply(
        admin_api,
        conversation,
        django_capture_on_commit_callbacks,
        text="Yes, it comes in blue.",
    )

    [send] = sandbox.whatsapp.snapshot()["sends"]
    assert send["payload"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"preview_url": False, "body": "Yes, it comes in blue."},
        "context": {"message_id": REPLIED_WAMID},
    }
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.platform_message_id == send["wamid"]


@pytest.mark.django_db
def test_outside_the_window_the_reply_fails_and_a_template_goes_out(
    admin_api, business, sandbox, django_capture_on_commit_callbacks
):
    conversation = customer_conversation(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=25)

    late = reply(
        admin_api, conversation, django_capture_on_commit_callbacks, text="Still there?"
    )
    template = reply(
        admin_api,
        conversation,
        django_capture_on_commit_callbacks,
        template={"name": "order_update", "language": "en_US", "parameters": ["4411"]},
    )

    late.refresh_from_db()
    assert late.status == "failed"
    assert late.error == (
        "(#131047) Re-engagement message: Message failed to send because more than "
        "24 hours have passed since the customer last replied to this number. "
        f"{WINDOW_CLOSED}"
    )
    [send] = sandbox.whatsapp.snapshot()["sends"]
    assert send["payload"]["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "4411"}]}
        ],
    }
    template.refresh_from_db()
    assert (template.status, template.platform_message_id) == ("sent", send["wamid"])
    assert template.text == "Template order_update (en_US): 4411"


@pytest.mark.django_db
def test_files_are_uploaded_then_sent_by_id_with_the_text_as_caption(
    admin_api, business, sandbox, django_capture_on_commit_callbacks
):
    conversation = customer_conversation(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=1)
    png, gif = b"\x89PNG label bytes", b"GIF89a animation"

    message = reply(
        admin_api,
        conversation,
        django_capture_on_commit_callbacks,
        text="Here is your return label.",
        files=[
            SimpleUploadedFile("label.png", png, content_type="image/png"),
            SimpleUploadedFile("how-to.gif", gif, content_type="image/gif"),
        ],
    )

    state = sandbox.whatsapp.snapshot()
    uploads = {m["id"]: m for m in state["media"]}
    image, document = (send["payload"] for send in state["sends"])
    assert image["type"] == "image"
    assert image["image"]["caption"] == "Here is your return label."
    assert image["context"] == {"message_id": REPLIED_WAMID}
    assert uploads[image["image"]["id"]]["sha256"] == hashlib.sha256(png).hexdigest()
    assert document["type"] == "document"
    assert document["document"]["filename"] == "how-to.gif"
    assert "context" not in document
    assert uploads[document["document"]["id"]]["mime_type"] == "image/gif"
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.platform_message_id == state["sends"][0]["wamid"]


@pytest.mark.django_db
def test_a_rate_limit_is_retried_and_the_next_try_goes_through(business, sandbox):
    conversation = customer_conversation(sandbox_channel(business=business))
    customer_wrote(sandbox, hours_ago=1)
    requests.post(
        f"{sandbox.url}/_sandbox/whatsapp/mode", json={"rate_limit_next": 1}, timeout=5
    )
    message = ReplyFactory(conversation=conversation, text="Hi")

    first = message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert first.status == "retry"
    assert message.status == "queued"
    assert message.error == (
        "(#130429) Rate limit hit: Cloud API message throughput has been reached."
    )
    # Throughput is the business account's: the whole channel waits.
    channel = Channel.objects.get(pk=conversation.channel_id)
    assert channel.paused_until > timezone.now()
    Channel.objects.filter(pk=channel.pk).update(paused_until=timezone.now())

    assert message_deliver(message_id=message.pk).status == "sent"


@pytest.mark.django_db
def test_a_refused_token_fails_the_reply_and_alerts_the_admins(business, sandbox):
    channel = sandbox_channel(business=business)
    channel.secrets = {**channel.secrets, "access_token": "EAArevoked"}
    channel.save()
    conversation = customer_conversation(channel)
    message = ReplyFactory(conversation=conversation, text="Hi")

    outcome = message_deliver(message_id=message.pk)

    assert outcome.status == "failed"
    channel.refresh_from_db()
    assert channel.alert == (
        "Meta refused the access token: Invalid OAuth access token - Cannot parse "
        "access token"
    )
    assert sandbox.whatsapp.snapshot()["sends"] == []


@pytest.mark.django_db
def test_text_over_whatsapps_limit_fails_without_calling_meta(business, sandbox):
    conversation = customer_conversation(sandbox_channel(business=business))
    message = ReplyFactory(conversation=conversation, text="x" * 4097)

    message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error == (
        "WhatsApp messages are limited to 4,096 characters; this one has 4,097."
    )
    assert sandbox.requests() == []


# ---------------------------------------------------------------------- media


@pytest.mark.django_db
def test_inbound_media_is_fetched_from_the_graph_api_and_stored(
    client, sandbox, django_capture_on_commit_callbacks
):
    channel = sandbox_channel()
    content = b"%PDF-1.4 the customer's invoice"
    sandbox.whatsapp.state.add_media(
        StoredMedia(
            media_id="1013859600285441",
            phone_number_id=DEMO_NUMBER.phone_number_id,
            content=content,
            mime_type="application/pdf",
            filename="invoice-4411.pdf",
            origin="customer",
        )
    )
    body = json.dumps(
        customer_message_payload(
            DEMO_NUMBER,
            CustomerMessage(
                type="document",
                customer=Customer(wa_id=CUSTOMER, name="Sheena Nelson"),
                text="Invoice attached",
                media_id="1013859600285441",
                mime_type="application/pdf",
                filename="invoice-4411.pdf",
            ),
        )
    ).encode()

    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, body)

    [attachment] = Message.objects.get().attachments
    assert attachment["kind"] == "document"
    assert attachment["filename"] == "invoice-4411.pdf"
    assert attachment["size"] == len(content)
    with default_storage.open(attachment["stored"]) as stored:
        assert stored.read() == content


@pytest.mark.django_db
def test_media_the_graph_api_cannot_serve_is_recorded_as_a_fetch_error(
    client, sandbox, django_capture_on_commit_callbacks
):
    channel = whatsapp_channel()

    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, fixture_bytes("whatsapp", "message__image"))

    [attachment] = Message.objects.get().attachments
    assert "stored" not in attachment
    assert attachment["fetch_error"] == "Graph API answered 404"


# ------------------------------------------------- inbound media: outbound policy

MEDIA_ID = "1013859600285442"
PDF = b"%PDF-1.4 fetched under the policy"


def graph_media_info(graph: RecordingServer, settings, url: str) -> None:
    """The Graph host answers `GET /{media_id}` with `url` to download."""
    settings.GRAPH_API_BASE_URL = graph.url
    info = {"url": url, "mime_type": "application/pdf", "file_size": len(PDF)}
    graph.answer(
        f"/{settings.GRAPH_API_VERSION}/{MEDIA_ID}",
        Answer(200, json.dumps(info).encode(), {"Content-Type": "application/json"}),
    )


@pytest.mark.django_db
def test_a_media_url_at_a_private_address_is_not_downloaded(settings):
    with (
        RecordingServer().running() as graph,
        RecordingServer().running() as loopback,
    ):
        settings.EGRESS_ALLOWED_HOSTS = [graph.netloc]
        graph_media_info(graph, settings, f"{loopback.url}/file")
        loopback.answer("/file", Answer(200, PDF))

        with pytest.raises(PermanentDeliveryError) as refused:
            get_platform("whatsapp").fetch_media(
                whatsapp_channel(), {"kind": "document", "ref": MEDIA_ID}
            )

        assert loopback.received == []
    assert refused.value.reason == (
        "The file was not downloaded: 127.0.0.1 is not a public address."
    )


@pytest.mark.django_db
def test_the_access_token_goes_to_the_graph_host_only_not_to_another_media_host(
    settings,
):
    with (
        RecordingServer().running() as graph,
        RecordingServer().running() as elsewhere,
    ):
        settings.EGRESS_ALLOWED_HOSTS = [graph.netloc, elsewhere.netloc]
        graph_media_info(graph, settings, f"{graph.url}/media/1")
        graph.answer(
            "/media/1", Answer(302, headers={"Location": f"{elsewhere.url}/f"})
        )
        elsewhere.answer("/f", Answer(200, PDF, {"Content-Type": "application/pdf"}))

        fetched = get_platform("whatsapp").fetch_media(
            whatsapp_channel(), {"kind": "document", "ref": MEDIA_ID}
        )

    assert fetched.content == PDF
    assert [(r.path, r.headers.get("authorization")) for r in graph.received] == [
        (f"/{settings.GRAPH_API_VERSION}/{MEDIA_ID}", "Bearer EAAG-example-token"),
        ("/media/1", "Bearer EAAG-example-token"),
    ]
    assert [r.headers.get("authorization") for r in elsewhere.received] == [None]

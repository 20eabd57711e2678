"""What only SMS (Twilio) does: the URL, query string included, is signed
with the fields; MMS files; failure receipts in words; receipts moving replies
on; setup of the number's incoming URL; sends (status callback, media URLs, the
account's refusals) and media fetch. Signatures, parsing of every fixture,
redelivery, malformed forms and the classified send refusals are in the
contract suite (`contract/`, kit `kits/sms.py`).

Webhooks are the form fields of the fixtures in `fixtures/sms/`, urlencoded and
signed with the sandbox's signer (the twilio SDK's validator) over the
channel's webhook URL, as Twilio signs them (docs/platforms/sms.md,
"Signature"). Setup and sends go through the real twilio SDK to the sandbox's
Twilio stand-in.
"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
from django.conf import settings

from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    FetchedMedia,
    InboundMessage,
    OutboundAttachment,
    OutboundMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from channels_app.services.delivery import message_deliver
from channels_app.tests.factories import customer_conversation
from channels_app.tests.platforms.contract.kits.base import closed_port_url
from channels_app.tests.platforms.contract.kits.sms import EMPTY_TWIML, KIT
from channels_app.tests.platforms.fixtures import fixture_bytes
from conversations.models import Conversation, Message
from conversations.tests.factories import ReplyFactory
from pingback.tests.servers import Answer, RecordingServer
from sandbox.platforms.sms.payloads import (
    DEMO_ACCOUNT,
    DEMO_CUSTOMER_NUMBER,
    DEMO_NUMBER,
    NOT_OWNED_NUMBER,
    sign,
)
from sandbox.platforms.sms.standin import SAMPLE_PNG

CUSTOMER = DEMO_CUSTOMER_NUMBER
SENT_SID = "SM9d8c7b6a5f4e3d2c1b0a99887766554f"  # the status__* fixtures
OLD_SMS_URL = "https://old-helpdesk.example.com/twilio/sms"


def sms_channel(**fields) -> Channel:
    """An SMS channel on the sandbox's demo Twilio account and number."""
    return KIT.create(**fields)


def form(name: str, **changes: str) -> dict[str, str]:
    fields = json.loads(fixture_bytes("sms", name))
    fields.update(changes)
    return {key: value for key, value in fields.items() if value is not None}


def webhook_url(channel) -> str:
    return settings.PINGBACK_PUBLIC_BASE_URL + f"/api/v1/webhooks/sms/{channel.id}"


def post_form(client, channel, body, *, signature: str, query: str = ""):
    path = webhook_url(channel).removeprefix(settings.PINGBACK_PUBLIC_BASE_URL)
    return client.post(
        path + (f"?{query}" if query else ""),
        data=body if isinstance(body, bytes) else urlencode(body),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def post_signed(client, channel, fields, query: str = ""):
    url = webhook_url(channel) + (f"?{query}" if query else "")
    signature = sign(channel.secrets["auth_token"], url, fields)
    return post_form(client, channel, fields, signature=signature, query=query)


def assert_twiml(response) -> None:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert response.content == EMPTY_TWIML


# ----------------------------------------------------------------------- webhook


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "url_suffix", "changes"),
    [
        ("signed for another URL", "x", {}),
        ("body changed after signing", "", {"Body": "hi"}),
    ],
)
def test_a_signature_over_another_url_or_other_fields_is_403(
    client, _case, url_suffix, changes
):
    channel = sms_channel()
    fields = form("message__sms")
    signed = sign(
        DEMO_ACCOUNT.auth_token,
        webhook_url(channel) + url_suffix,
        {**fields, **changes},
    )

    response = post_form(client, channel, fields, signature=signed)

    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_form_that_is_not_utf8_is_read_with_replacements_then_refused_400(client):
    """Bytes that are not UTF-8 are read as U+FFFD (pingback.untrusted): what
    is left is an inbound message without its MessageSid (the pure parse of
    the raw bytes refuses them as not UTF-8)."""
    channel = sms_channel()
    body = b"Body=\xff\xfe"
    # Twilio signs the form fields, however they decode.
    [signature] = KIT.signed(channel, body).values()

    response = post_form(client, channel, body, signature=signature)

    assert response.status_code == 400
    assert response.json() == {"detail": "MessageSid: missing"}
    event = InboundEvent.objects.get()
    assert (event.status, bytes(event.body)) == ("malformed", body)


@pytest.mark.django_db
def test_the_query_string_twilio_requested_is_part_of_the_signed_url(client):
    channel = sms_channel()
    fields = form("message__sms")
    without_query = sign(DEMO_ACCOUNT.auth_token, webhook_url(channel), fields)

    accepted = post_signed(client, channel, fields, query="source=console")
    refused = post_form(
        client, channel, fields, signature=without_query, query="source=console"
    )

    assert_twiml(accepted)
    assert refused.status_code == 403
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db
def test_mms_keeps_both_files_and_records_a_media_url_twilio_refuses(
    client, sandbox, django_capture_on_commit_callbacks
):
    """The fixture's media ids are unknown to the stand-in: the download is
    refused, and the refusal is shown on each attachment."""
    channel = sms_channel()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, channel, form("message__mms"))

    assert_twiml(response)
    message = Message.objects.get()
    assert message.text == "The box arrived crushed, photo and receipt attached"
    assert [(a["kind"], a["content_type"]) for a in message.attachments] == [
        ("image", "image/jpeg"),
        ("document", "application/pdf"),
    ]
    assert [a["fetch_error"] for a in message.attachments] == [
        "Twilio refused the file download (HTTP 404)"
    ] * 2


# ----------------------------------------------------------------- parsing, pure


@pytest.mark.parametrize(
    ("_case", "changes", "error"),
    [
        (
            "every listed code in words",
            {"MessageStatus": "undelivered", "ErrorCode": "30003"},
            "30003: Unreachable handset (switched off or out of coverage)",
        ),
        (
            "an unknown code keeps its number",
            {"MessageStatus": "undelivered", "ErrorCode": "30010"},
            "30010: Message undelivered, see the Twilio error code",
        ),
        (
            "no code at all",
            {"MessageStatus": "failed"},
            "Twilio reported the message failed without an error code.",
        ),
    ],
)
def test_failure_receipts_carry_the_code_and_its_meaning(_case, changes, error):
    body = urlencode(form("status__delivered", **changes)).encode()

    parsed = get_platform("sms").parse(KIT.build(), body)

    assert [(item.status, item.error) for item in parsed.items] == [("failed", error)]


def test_an_inbound_message_with_message_status_received_is_a_message():
    body = urlencode(form("message__sms", MessageStatus="received")).encode()

    parsed = get_platform("sms").parse(KIT.build(), body)

    assert [type(item) for item in parsed.items] == [InboundMessage]


# --------------------------------------------------------------------- receipts


def outbound_message(
    channel, status: str = "sent", platform_message_id: str | None = SENT_SID
) -> Message:
    return ReplyFactory(
        conversation=customer_conversation(channel, CUSTOMER, f"sms:{CUSTOMER}"),
        status=status,
        platform_message_id=platform_message_id,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "callbacks", "status", "error"),
    [
        ("delivered", ["status__delivered"], "delivered", ""),
        (
            "late sent and failed do not undo delivered",
            ["status__delivered", "status__sent", "status__failed_21610"],
            "delivered",
            "",
        ),
        (
            "undelivered",
            ["status__sent", "status__undelivered_30006"],
            "failed",
            "30006: Landline or unreachable carrier",
        ),
        (
            "a late delivered does not undo failed",
            ["status__failed_21610", "status__delivered"],
            "failed",
            "21610: The customer unsubscribed (replied STOP)",
        ),
        ("queued is not a forward move", ["status__queued"], "sent", ""),
    ],
)
def test_status_callbacks_move_the_message_forward_and_never_back(
    client, django_capture_on_commit_callbacks, _case, callbacks, status, error
):
    channel = sms_channel()
    message = outbound_message(channel)

    for name in callbacks:
        with django_capture_on_commit_callbacks(execute=True):
            assert_twiml(post_signed(client, channel, form(name)))

    message.refresh_from_db()
    assert (message.status, message.error) == (status, error)


@pytest.mark.django_db
def test_a_repeated_status_callback_is_stored_once(
    client, django_capture_on_commit_callbacks
):
    channel = sms_channel()
    outbound_message(channel)

    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, channel, form("status__delivered"))
        response = post_signed(client, channel, form("status__delivered"))

    assert_twiml(response)
    assert list(InboundEvent.objects.values_list("event_key", flat=True)) == [
        f"status:{SENT_SID}:delivered"
    ]
    assert Message.objects.get().status == "delivered"


# ------------------------------------------------------------------------ setup


def create(api, config):
    return api.post("/api/v1/channels/", {"type": "sms", "config": config}, "json")


@pytest.mark.django_db
def test_create_points_the_numbers_incoming_url_at_the_webhook(admin_api, sandbox):
    sandbox.sms.number(DEMO_NUMBER).sms_url = OLD_SMS_URL

    response = create(admin_api, DEMO_ACCOUNT.as_config())

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["setup"]["state"] == "ready"
    number = sandbox.sms.number(DEMO_NUMBER)
    assert (number.sms_url, number.sms_method) == (body["webhook_url"], "POST")
    assert body["webhook_url"].endswith(f"/api/v1/webhooks/sms/{body['id']}")
    assert body["config"]["auth_token"] == "****0001"
    assert body["config"]["phone_number_sid"] == number.sid
    assert body["config"]["previous_sms_url"] == OLD_SMS_URL


@pytest.mark.django_db
def test_a_number_not_on_the_account_leaves_the_url_to_paste(admin_api, sandbox):
    response = create(admin_api, DEMO_ACCOUNT.as_config(NOT_OWNED_NUMBER))

    assert response.status_code == 201
    setup = response.json()["setup"]
    assert setup["state"] == "action_required"
    assert f"{NOT_OWNED_NUMBER} is not a number of Twilio account" in setup["message"]
    assert (
        f'set "A message comes in" to Webhook {response.json()["webhook_url"]} '
        "with HTTP POST" in setup["message"]
    )
    assert sandbox.sms.number(DEMO_NUMBER).sms_url == ""


@pytest.fixture
def twilio_answering() -> Iterator:
    """A one-answer stand-in for Twilio responses the sandbox never gives
    (e.g. 404 on the account itself): `start(status, body)` returns its URL."""
    servers = []

    def start(status: int, body: dict) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db
def test_an_unknown_account_is_400_naming_the_account_sid(
    admin_api, settings, twilio_answering
):
    settings.TWILIO_API_BASE_URL = twilio_answering(
        404,
        {
            "code": 20404,
            "message": "The requested resource /2010-04-01/Accounts/AC.json was "
            "not found",
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        },
    )

    response = create(admin_api, DEMO_ACCOUNT.as_config())

    assert response.status_code == 400
    assert response.json() == {
        "config": {
            "account_sid": [
                "The requested resource /2010-04-01/Accounts/AC.json was not found"
            ]
        }
    }


@pytest.mark.django_db
def test_deactivate_and_delete_give_the_number_its_previous_url_back(
    admin_api, sandbox
):
    number = sandbox.sms.number(DEMO_NUMBER)
    number.sms_url = OLD_SMS_URL
    channel = create(admin_api, DEMO_ACCOUNT.as_config()).json()
    url = f"/api/v1/channels/{channel['id']}"

    admin_api.patch(url, {"is_active": False}, "json")
    assert number.sms_url == OLD_SMS_URL

    admin_api.patch(url, {"is_active": True}, "json")
    assert number.sms_url == channel["webhook_url"]

    admin_api.post(f"{url}/setup")
    admin_api.delete(url)
    assert number.sms_url == OLD_SMS_URL


@pytest.mark.django_db
def test_delete_leaves_a_number_pointed_elsewhere_since(admin_api, sandbox):
    channel = create(admin_api, DEMO_ACCOUNT.as_config()).json()
    number = sandbox.sms.number(DEMO_NUMBER)
    number.sms_url = "https://other-tool.example.com/sms"

    admin_api.delete(f"/api/v1/channels/{channel['id']}")

    assert number.sms_url == "https://other-tool.example.com/sms"


@pytest.mark.django_db
def test_without_a_previous_url_delete_clears_it(admin_api, sandbox):
    channel = create(admin_api, DEMO_ACCOUNT.as_config()).json()

    admin_api.delete(f"/api/v1/channels/{channel['id']}")

    assert sandbox.sms.number(DEMO_NUMBER).sms_url == ""


# ------------------------------------------------------------------------- send


def outbound(text: str = "Your replacement ships today.", **extra) -> OutboundMessage:
    return OutboundMessage(
        message_id=1,
        text=text,
        recipient_external_id=CUSTOMER,
        thread_key=f"sms:{CUSTOMER}",
        **extra,
    )


@pytest.mark.django_db
def test_send_creates_the_message_with_a_status_callback(sandbox):
    channel = sms_channel()
    platform = get_platform("sms")

    result = platform.send(channel, outbound())

    [sent] = sandbox.sms.sends
    assert result.platform_message_id == sent["sid"]
    assert (sent["from"], sent["to"], sent["body"]) == (
        DEMO_NUMBER,
        CUSTOMER,
        "Your replacement ships today.",
    )
    assert sent["media_urls"] == []
    assert sent["status_callback"] == platform.webhook_url(channel)


@pytest.mark.django_db
def test_files_go_as_media_urls_without_a_body_when_there_is_no_text(sandbox):
    channel = sms_channel()
    links = [f"{sandbox.url}/_sandbox/sms/media/ME{n}" for n in (1, 2)]
    attachments = tuple(
        OutboundAttachment(
            kind="image",
            filename=f"{n}.png",
            content_type="image/png",
            size=68,
            storage_name=f"attachments/{n}.png",
            public_url=link,
        )
        for n, link in enumerate(links)
    )

    get_platform("sms").send(channel, outbound("", attachments=attachments))

    [sent] = sandbox.sms.sends
    assert sent["sid"].startswith("MM")
    assert (sent["body"], sent["media_urls"]) == ("", links)


@pytest.mark.django_db
def test_refused_credentials_fail_the_send_and_alert_the_admins(sandbox):
    channel = sms_channel(secrets={"auth_token": "rotated-away-token"})

    with pytest.raises(PermanentDeliveryError) as caught:
        get_platform("sms").send(channel, outbound())

    assert caught.value.status_code == 401
    assert caught.value.reason == (
        "Twilio rejected the channel's credentials (20003: Authenticate (HTTP 401)): "
        "update the auth token in the channel's settings."
    )
    assert caught.value.channel_alert == caught.value.reason
    assert "rotated-away-token" not in caught.value.reason


@pytest.mark.django_db
def test_a_number_the_account_does_not_own_is_refused_with_twilios_words(sandbox):
    channel = sms_channel(
        config={"account_sid": DEMO_ACCOUNT.sid, "phone_number": NOT_OWNED_NUMBER}
    )

    with pytest.raises(PermanentDeliveryError) as caught:
        get_platform("sms").send(channel, outbound())

    assert caught.value.reason == (
        f"Twilio refused the message: 21606: The From phone number "
        f"{NOT_OWNED_NUMBER} is not a valid, SMS-capable inbound phone number or "
        "short code for your account. (HTTP 400)"
    )


@pytest.mark.django_db
def test_an_unreachable_twilio_is_a_transient_failure(settings):
    settings.TWILIO_API_BASE_URL = closed_port_url()

    with pytest.raises(TransientDeliveryError) as caught:
        get_platform("sms").send(sms_channel(), outbound())

    assert caught.value.reason == "Could not reach Twilio: ConnectionError"


@pytest.mark.django_db
def test_a_reply_to_a_customer_who_texted_stop_fails_with_the_reason(sandbox):
    channel = sms_channel()
    message = outbound_message(channel, "queued", platform_message_id=None)
    sandbox.sms.number(DEMO_NUMBER).sms_url = closed_port_url() + "/sms"
    sandbox.sms.customer_message({"body": "STOP", "from": CUSTOMER})

    outcome = message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert outcome.status == "failed"
    assert message.status == "failed"
    assert message.error.startswith("The customer unsubscribed (STOP)")
    assert sandbox.sms.sends == []


# ------------------------------------------------------------------- inbound media


@pytest.mark.django_db
def test_fetch_media_downloads_the_file_with_the_accounts_credentials(sandbox):
    sandbox.sms.number(DEMO_NUMBER).sms_url = closed_port_url() + "/sms"
    texted = sandbox.sms.customer_message(
        {"body": "", "media": [{"content_type": "image/png"}]}
    )
    attachment = {
        "kind": "image",
        "url": texted["form"]["MediaUrl0"],
        "content_type": "image/png",
    }

    fetched = get_platform("sms").fetch_media(sms_channel(), attachment)

    assert fetched == FetchedMedia(content=SAMPLE_PNG, content_type="image/png")
    with pytest.raises(PermanentDeliveryError, match=r"\(HTTP 401\)$"):
        get_platform("sms").fetch_media(
            sms_channel(secrets={"auth_token": "wrong"}), attachment
        )
    assert get_platform("sms").fetch_media(sms_channel(), {}) is None


# ------------------------------------------------- inbound media: outbound policy

LOOPBACK_SECRET = b"internal service answer"
MMS_TO_PRIVATE = (
    "The file was not downloaded: 127.0.0.1 is not a public address.",
    "The file was not downloaded: links with a user name or password in them "
    "are not fetched.",
)


def one_media_form(url: str, content_type: str = "image/png") -> dict[str, str]:
    return form(
        "message__mms",
        NumMedia="1",
        MediaUrl0=url,
        MediaContentType0=content_type,
        MediaUrl1=None,
        MediaContentType1=None,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("media_url", "error"),
    [
        ("{loopback}/secret", MMS_TO_PRIVATE[0]),
        (
            "http://localhost:{loopback_port}/secret",
            MMS_TO_PRIVATE[0].replace("127.0.0.1", "localhost"),
        ),
        ("http://api.twilio.com@127.0.0.1:{loopback_port}/secret", MMS_TO_PRIVATE[1]),
        ("{redirector}/media", MMS_TO_PRIVATE[0]),
    ],
    ids=["loopback", "localhost", "userinfo", "redirect-to-loopback"],
)
def test_an_mms_linking_to_a_private_address_is_not_fetched_and_agents_see_why(
    client,
    sandbox,
    settings,
    business,
    admin_api,
    django_capture_on_commit_callbacks,
    media_url,
    error,
):
    """A signed Twilio webhook whose `MediaUrl0` points at a loopback server
    (directly, through a host that redirects there, or hidden behind a user
    name): the loopback server receives nothing, and the thread shows agents
    why the file is missing."""
    channel = sms_channel(business=business)
    with (
        RecordingServer().running() as loopback,
        RecordingServer().running() as redirector,
    ):
        loopback.answer("/secret", Answer(200, LOOPBACK_SECRET))
        redirector.answer(
            "/media", Answer(302, headers={"Location": f"{loopback.url}/secret"})
        )
        # The redirecting host stands for a public one: it is allowed, the
        # loopback server is not (only the sandbox is, besides it).
        settings.EGRESS_ALLOWED_HOSTS = [
            *settings.EGRESS_ALLOWED_HOSTS,
            redirector.netloc,
        ]
        url = media_url.format(
            loopback=loopback.url,
            loopback_port=loopback.port,
            redirector=redirector.url,
        )

        with django_capture_on_commit_callbacks(execute=True):
            response = post_signed(client, channel, one_media_form(url))

        assert loopback.received == []
    assert_twiml(response)
    conversation = Conversation.objects.get()
    shown = admin_api.get(f"/api/v1/conversations/{conversation.pk}/messages")
    [message] = shown.json()["results"]
    [attachment] = message["attachments"]
    assert attachment["fetch_error"] == error
    assert "stored" not in Message.objects.get().attachments[0]


@pytest.mark.django_db
def test_twilios_credentials_go_to_its_api_host_only_not_to_the_storage_it_redirects_to(
    settings,
):
    """Twilio's media URL answers with a redirect to storage on another host:
    the file is fetched, the account's basic auth went to the API host and not
    to the storage host."""
    with (
        RecordingServer().running() as api,
        RecordingServer().running() as storage,
    ):
        settings.TWILIO_API_BASE_URL = api.url
        settings.EGRESS_ALLOWED_HOSTS = [api.netloc, storage.netloc]
        media = f"/2010-04-01/Accounts/{DEMO_ACCOUNT.sid}/Messages/MM1/Media/ME1"
        api.answer(media, Answer(307, headers={"Location": f"{storage.url}/f.png"}))
        storage.answer("/f.png", Answer(200, SAMPLE_PNG, {"Content-Type": "image/png"}))
        attachment = {"kind": "image", "url": f"https://api.twilio.com{media}"}

        fetched = get_platform("sms").fetch_media(sms_channel(), attachment)

    assert fetched == FetchedMedia(content=SAMPLE_PNG, content_type="image/png")
    [to_api] = api.received
    assert to_api.headers["authorization"].startswith("Basic ")
    assert [r.headers.get("authorization") for r in storage.received] == [None]


@pytest.mark.django_db
def test_a_media_url_off_twilio_gets_no_credentials(settings):
    with RecordingServer().running() as elsewhere:
        settings.EGRESS_ALLOWED_HOSTS = [elsewhere.netloc]
        elsewhere.answer(
            "/f.png", Answer(200, SAMPLE_PNG, {"Content-Type": "image/png"})
        )

        get_platform("sms").fetch_media(
            sms_channel(), {"kind": "image", "url": f"{elsewhere.url}/f.png"}
        )

    assert [r.headers.get("authorization") for r in elsewhere.received] == [None]

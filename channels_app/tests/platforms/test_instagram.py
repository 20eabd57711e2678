"""What only Instagram does: redelivery with a new entry time, replies and
read receipts, echoes, event keys, setup through the channels API, sending
(text then images, the human agent tag, what Meta refuses) and media, against
the sandbox's Instagram stand-in over real HTTP. Meta's handshake and
signatures, parsing of every fixture, ignored events, malformed bodies and the
classified send refusals are in the contract suite (`contract/`, kits
`kits/instagram.py`, `kits/meta.py`).
"""

import hashlib
import json

import pytest
from django.core.files.storage import default_storage

from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    FetchedMedia,
    OutboundMessage,
    PermanentDeliveryError,
)
from channels_app.services.delivery import message_deliver
from channels_app.tests.factories import customer_conversation
from channels_app.tests.platforms.contract.kits.base import closed_port_url
from channels_app.tests.platforms.contract.kits.instagram import KIT, image
from channels_app.tests.platforms.fixtures import fixture_bytes
from conversations.models import Message
from conversations.tests.factories import (
    ConversationFactory,
    MessageFactory,
    ReplyFactory,
)
from pingback.tests.servers import Answer, RecordingServer
from sandbox.platforms.instagram.payloads import (
    DEMO_ACCOUNT,
    DEMO_CUSTOMER_ID,
    demo_png,
)

ACCOUNT_ID = DEMO_ACCOUNT.instagram_id


def mid(suffix: str) -> str:
    """The fixtures' mids differ only in their last digits."""
    return (
        "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcx"
        "MDMwMTI0NDI1ODU5OTE3NTI2OTQwODg3NjozMjUwMzM2MTczNzg4MTI5NDExMzU3NjQ4OTczNTY4"
        f"{suffix}ZDZD"
    )


OUR_MID = mid("OTAwMQ")


def instagram_channel(*, build: bool = False, **fields):
    """An Instagram channel for the stand-in's demo Page, set up."""
    return KIT.build(**fields) if build else KIT.create(**fields)


# ---------------------------------------------------------------------- webhooks


@pytest.mark.django_db
def test_a_redelivery_with_a_new_entry_time_is_the_same_message(
    client, django_capture_on_commit_callbacks
):
    """Meta retries (docs/platforms/instagram.md, "Dedupe, ack budget,
    retries") with a new `entry.time`: still a duplicate."""
    channel = instagram_channel()
    body = fixture_bytes("instagram", "message__text")
    again = json.loads(body)
    again["entry"][0]["time"] += 60_000
    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, body)

    with django_capture_on_commit_callbacks(execute=True):
        second = KIT.deliver(client, channel, json.dumps(again).encode())

    assert second.json() == {"status": "duplicate"}
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_reply_to_one_of_our_messages_continues_its_conversation(
    client, django_capture_on_commit_callbacks
):
    channel = instagram_channel()
    ours = MessageFactory(
        conversation=ConversationFactory(
            business=channel.business, channel=channel, thread_key="ig:other-thread"
        ),
        direction="outbound",
        status="sent",
        platform_message_id=mid("OTAwMQ"),
    )

    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, fixture_bytes("instagram", "message__reply_to"))

    reply = Message.objects.get(direction="inbound")
    assert reply.conversation == ours.conversation
    assert reply.reply_to_platform_message_id == OUR_MID


@pytest.mark.django_db
def test_read_receipt_marks_our_message_read(
    client, django_capture_on_commit_callbacks
):
    channel = instagram_channel()
    ours = MessageFactory(
        conversation=ConversationFactory(business=channel.business, channel=channel),
        direction="outbound",
        status="sent",
        platform_message_id=OUR_MID,
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = KIT.deliver(
            client, channel, fixture_bytes("instagram", "read__seen")
        )

    assert response.status_code == 200
    ours.refresh_from_db()
    assert ours.status == "read"
    assert InboundEvent.objects.get().event_key == f"read:{OUR_MID}:1763712400104"


# ----------------------------------------------------------------- parsing, pure


def test_the_account_own_message_is_an_echo_even_without_the_flag():
    """docs/platforms/README.md, "Rules for every channel", rule 4: a message
    whose sender is the business account is ours."""
    body = json.loads(fixture_bytes("instagram", "message__echo"))
    del body["entry"][0]["messaging"][0]["message"]["is_echo"]

    parsed = get_platform("instagram").parse(
        instagram_channel(build=True), json.dumps(body).encode()
    )

    assert parsed.items == ()
    assert parsed.ignored == (f"echo of the account's own message {OUR_MID}",)


def test_several_messages_make_one_stable_hashed_event_key():
    channel = instagram_channel(build=True)
    body = fixture_bytes("instagram", "messages__batch")
    keys = f"mid:{mid('ODAwNQ')},mid:{mid('ODAwNg')}"
    redelivered = json.loads(body)
    redelivered["entry"][0]["time"] += 1

    parsed = get_platform("instagram").parse(channel, body)
    again = get_platform("instagram").parse(channel, json.dumps(redelivered).encode())

    assert parsed.event_key == "sha256:" + hashlib.sha256(keys.encode()).hexdigest()
    assert again.event_key == parsed.event_key


def test_events_for_another_account_are_ignored():
    channel = instagram_channel(
        build=True,
        config={"page_id": "999", "instagram_account_id": "17841499999999999"},
    )

    parsed = get_platform("instagram").parse(
        channel, fixture_bytes("instagram", "message__text")
    )

    assert parsed.items == ()
    assert parsed.ignored == (f"event for another account ({ACCOUNT_ID})",)


def test_before_setup_learned_the_account_messages_are_still_read():
    channel = instagram_channel(build=True, config={"page_id": DEMO_ACCOUNT.page_id})

    parsed = get_platform("instagram").parse(
        channel, fixture_bytes("instagram", "message__text")
    )

    assert [item.text for item in parsed.items] == [
        "Hi! Is the blue kettle back in stock?"
    ]


def test_other_meta_objects_are_ignored_as_a_whole():
    body = b'{"object":"page","entry":[{"id":"1","time":1,"messaging":[]}]}'

    parsed = get_platform("instagram").parse(instagram_channel(build=True), body)

    assert parsed.items == ()
    assert parsed.ignored == ("object page is not Instagram messaging",)
    assert parsed.event_key == "sha256:" + hashlib.sha256(body).hexdigest()


# ------------------------------------------------------------- setup through API


def create(api, config):
    return api.post(
        "/api/v1/channels/", {"type": "instagram", "config": config}, format="json"
    )


@pytest.mark.django_db
def test_creating_a_channel_gives_the_meta_setup_instructions_once_in_clear(
    admin_api, sandbox
):
    response = create(admin_api, DEMO_ACCOUNT.as_config())

    assert response.status_code == 201, response.json()
    body = response.json()
    channel = Channel.objects.get()
    verify_token = channel.secrets["verify_token"]
    assert len(verify_token) >= 32
    assert body["config"]["_meta_setup_instructions"] == {
        "callback_url": body["webhook_url"],
        "verify_token": verify_token,
    }
    assert body["webhook_url"].endswith(f"/api/v1/webhooks/instagram/{channel.id}")
    assert body["config"]["instagram_account_id"] == ACCOUNT_ID
    assert body["config"]["instagram_username"] == DEMO_ACCOUNT.username
    assert body["setup"]["state"] == "action_required"
    assert body["webhook_url"] in body["setup"]["message"]
    assert "messages and messaging_seen" in body["setup"]["message"]
    assert "app_secret" not in body["setup"]["message"]
    assert sandbox.instagram.snapshot()["page_subscriptions"] == {
        DEMO_ACCOUNT.page_id: ["messages"]
    }

    shown = admin_api.get(f"/api/v1/channels/{channel.id}").json()

    masked = "****" + verify_token[-4:]
    assert shown["config"]["_meta_setup_instructions"]["verify_token"] == masked
    assert verify_token not in json.dumps(shown)
    assert DEMO_ACCOUNT.access_token not in json.dumps(shown)
    assert DEMO_ACCOUNT.app_secret not in json.dumps(body)


@pytest.mark.django_db
def test_setup_again_keeps_the_verify_token_the_admin_pasted(admin_api, sandbox):
    created = create(admin_api, DEMO_ACCOUNT.as_config()).json()
    channel = Channel.objects.get()
    verify_token = channel.secrets["verify_token"]

    response = admin_api.post(f"/api/v1/channels/{created['id']}/setup")

    assert response.status_code == 200
    channel.refresh_from_db()
    assert channel.secrets["verify_token"] == verify_token


@pytest.mark.django_db
def test_a_config_update_keeps_the_verify_token_the_admin_pasted(admin_api, sandbox):
    """The config shown by GET, sent back with a new app secret, keeps the
    token setup generated."""
    created = create(admin_api, DEMO_ACCOUNT.as_config()).json()
    verify_token = Channel.objects.get().secrets["verify_token"]
    shown = admin_api.get(f"/api/v1/channels/{created['id']}").json()["config"]

    response = admin_api.patch(
        f"/api/v1/channels/{created['id']}",
        {"config": {**shown, "app_secret": "a-new-app-secret-0001"}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    channel = Channel.objects.get()
    assert channel.secrets["app_secret"] == "a-new-app-secret-0001"
    assert channel.secrets["verify_token"] == verify_token


@pytest.mark.django_db
def test_the_verify_token_is_generated_even_when_meta_cannot_be_reached(
    admin_api, settings
):
    settings.GRAPH_API_BASE_URL = closed_port_url()

    create(admin_api, DEMO_ACCOUNT.as_config())

    assert len(Channel.objects.get().secrets["verify_token"]) >= 32


# ----------------------------------------------------------------------- sending


def conversation_with_the_customer(channel):
    return customer_conversation(channel, DEMO_CUSTOMER_ID, f"ig:{DEMO_CUSTOMER_ID}")


def outbound(text="", attachments=(), recipient=DEMO_CUSTOMER_ID):
    return OutboundMessage(
        message_id=1,
        text=text,
        recipient_external_id=recipient,
        thread_key=f"ig:{recipient}",
        attachments=attachments,
    )


@pytest.mark.django_db
def test_send_posts_the_text_then_each_image_and_returns_the_last_id(sandbox):
    channel = instagram_channel()
    png = demo_png()
    url = sandbox.instagram.media_url(png, "image/png")

    result = get_platform("instagram").send(
        channel, outbound("Here it is:", (image(public_url=url),))
    )

    sends = sandbox.instagram.sends
    assert [(s["recipient_id"], s["text"]) for s in sends] == [
        (DEMO_CUSTOMER_ID, "Here it is:"),
        (DEMO_CUSTOMER_ID, None),
    ]
    assert sends[1]["attachment"] == {
        "type": "image",
        "url": url,
        "content_type": "image/png",
        "size": len(png),
        "sha256": hashlib.sha256(png).hexdigest(),
    }
    assert result.platform_message_id == sends[1]["message_id"]
    posted = [r for r in sandbox.requests() if r["path"].startswith("/v")]
    assert [(r["method"], r["path"]) for r in posted] == [
        ("POST", f"/v23.0/{DEMO_ACCOUNT.page_id}/messages"),
        ("POST", f"/v23.0/{DEMO_ACCOUNT.page_id}/messages"),
    ]
    assert posted[-1]["headers"]["authorization"] == "Bearer"


@pytest.mark.django_db
def test_after_24_hours_the_reply_goes_out_with_the_human_agent_tag(sandbox):
    sandbox.instagram.set_modes({"window": "human_agent"})

    get_platform("instagram").send(instagram_channel(), outbound("Sorry for the wait"))

    assert [(s["messaging_type"], s["tag"]) for s in sandbox.instagram.sends] == [
        ("MESSAGE_TAG", "HUMAN_AGENT")
    ]


@pytest.mark.django_db
def test_an_image_meta_cannot_fetch_fails_after_the_text_without_resending_it(
    sandbox,
):
    gone = f"{sandbox.url}/_media/instagram/expired"

    with pytest.raises(PermanentDeliveryError) as raised:
        get_platform("instagram").send(
            instagram_channel(), outbound("Photo:", (image(public_url=gone),))
        )

    assert raised.value.reason == (
        "Sent the text, but not kettle.png: (#100) Failed to fetch the file from "
        "the url. Send the rest again."
    )
    assert [s["text"] for s in sandbox.instagram.sends] == ["Photo:"]


@pytest.mark.django_db
def test_a_refused_token_fails_the_reply_and_alerts_the_admins(sandbox):
    channel = instagram_channel(
        secrets={"access_token": "EAAG-revoked", "app_secret": "s", "verify_token": "v"}
    )
    reply = ReplyFactory(
        conversation=conversation_with_the_customer(channel), text="Hello"
    )

    outcome = message_deliver(message_id=reply.pk)

    assert outcome.status == "failed"
    reply.refresh_from_db()
    assert reply.error == "Invalid OAuth access token - Cannot parse access token"
    channel.refresh_from_db()
    assert channel.alert == (
        "Meta refused the access token: Invalid OAuth access token - Cannot parse "
        "access token"
    )


@pytest.mark.django_db
def test_a_closed_window_fails_the_reply_without_a_channel_alert(sandbox):
    sandbox.instagram.set_modes({"window": "closed"})
    channel = instagram_channel()
    reply = ReplyFactory(
        conversation=conversation_with_the_customer(channel), text="Hello again"
    )

    message_deliver(message_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == "failed"
    assert reply.error.startswith("Instagram accepts replies only within 24 hours")
    channel.refresh_from_db()
    assert channel.alert == ""


# ------------------------------------------------------------------------- media


@pytest.mark.django_db
def test_customer_photo_is_fetched_and_stored(
    client, sandbox, django_capture_on_commit_callbacks
):
    channel = instagram_channel()
    png = demo_png()
    body = json.loads(fixture_bytes("instagram", "message__image"))
    attachment = body["entry"][0]["messaging"][0]["message"]["attachments"][0]
    attachment["payload"]["url"] = sandbox.instagram.media_url(png, "image/png")

    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, json.dumps(body).encode())

    stored = Message.objects.get().attachments[0]
    assert stored["kind"] == "image"
    assert stored["content_type"] == "image/png"
    assert stored["size"] == len(png)
    with default_storage.open(stored["stored"], "rb") as file:
        assert file.read() == png


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "url", "error"),
    [
        (
            "expired link",
            "{sandbox}/_media/instagram/expired",
            "Instagram's link to the file was refused (404); it may have expired.",
        ),
        (
            "not Meta's host",
            "http://169.254.169.254/latest/meta-data",
            "PingBack fetches Instagram media only from Meta's servers; this link "
            "points to 169.254.169.254.",
        ),
    ],
)
def test_media_that_cannot_be_fetched_is_marked_with_the_reason(
    client, sandbox, django_capture_on_commit_callbacks, _case, url, error
):
    channel = instagram_channel()
    body = json.loads(fixture_bytes("instagram", "message__image"))
    attachment = body["entry"][0]["messaging"][0]["message"]["attachments"][0]
    attachment["payload"]["url"] = url.format(sandbox=sandbox.url)

    with django_capture_on_commit_callbacks(execute=True):
        KIT.deliver(client, channel, json.dumps(body).encode())

    stored = Message.objects.get().attachments[0]
    assert stored["fetch_error"] == error
    assert "stored" not in stored


# ------------------------------------------------- inbound media: outbound policy

PNG = b"\x89PNG\r\n\x1a\nmeta-cdn"


@pytest.mark.django_db
def test_a_media_link_redirecting_away_from_metas_hosts_is_not_followed(settings):
    """The link is on Meta's host (here the Graph API host, where the sandbox
    serves media), but it redirects to another host: that host, although its
    address is allowed, is not one of Meta's, and receives nothing."""
    with (
        RecordingServer().running() as meta,
        RecordingServer().running() as elsewhere,
    ):
        settings.GRAPH_API_BASE_URL = meta.url
        settings.EGRESS_ALLOWED_HOSTS = [meta.netloc, elsewhere.netloc]
        meta.answer("/m/1", Answer(302, headers={"Location": f"{elsewhere.url}/x"}))
        elsewhere.answer("/x", Answer(200, PNG, {"Content-Type": "image/png"}))

        with pytest.raises(PermanentDeliveryError) as refused:
            get_platform("instagram").fetch_media(
                instagram_channel(), {"kind": "image", "url": f"{meta.url}/m/1"}
            )

        assert elsewhere.received == []
    assert refused.value.reason == (
        "The file was not downloaded: 127.0.0.1 is not one of the hosts this "
        "file may come from."
    )


@pytest.mark.django_db
def test_a_media_link_redirecting_within_metas_hosts_is_followed(settings):
    with RecordingServer().running() as meta:
        settings.GRAPH_API_BASE_URL = meta.url
        settings.EGRESS_ALLOWED_HOSTS = [meta.netloc]
        meta.answer("/m/1", Answer(302, headers={"Location": "/cdn/1"}))
        meta.answer("/cdn/1", Answer(200, PNG, {"Content-Type": "image/png"}))

        fetched = get_platform("instagram").fetch_media(
            instagram_channel(), {"kind": "image", "url": f"{meta.url}/m/1"}
        )

    assert fetched == FetchedMedia(content=PNG, content_type="image/png")


@pytest.mark.django_db
def test_metas_host_at_a_private_address_is_refused(settings):
    """Being on Meta's list of hosts does not exempt a link from the address
    check: here the Graph API host resolves to loopback, which is not
    allowed."""
    with RecordingServer().running() as meta:
        settings.GRAPH_API_BASE_URL = meta.url
        settings.EGRESS_ALLOWED_HOSTS = []
        meta.answer("/m/1", Answer(200, PNG, {"Content-Type": "image/png"}))

        with pytest.raises(PermanentDeliveryError) as refused:
            get_platform("instagram").fetch_media(
                instagram_channel(), {"kind": "image", "url": f"{meta.url}/m/1"}
            )

        assert meta.received == []
    assert refused.value.reason == (
        "The file was not downloaded: 127.0.0.1 is not a public address."
    )

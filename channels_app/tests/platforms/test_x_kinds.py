"""X message kinds: posts without `timestamp_ms`, the subscription revoke,
photos/videos/GIFs in mentions, quote tweets, replies down a thread, post
deletions, DM media downloaded with the account's OAuth 1.0a credentials, and
an agent's photo or video sent in a DM (X API v2 "Media upload").

Fixture sources (X's documentation):
- `mention__without_timestamp_ms`: the tweet object sample of "Tweet object"
  (v1.1 data dictionary): `created_at` "Wed Oct 10 20:19:24 +0000 2018", no
  `timestamp_ms`.
- `user_event__revoke`, `tweet_delete__customer`: "Account Activity data
  objects" (enterprise AAA guide), `user_event` and `tweet_delete_events`.
- `xaa__oauth_revoke`: "X Activity API event payload examples", `oauth.revoke`.
- `xaa__post_mention_quote_photo`: that page's `post.mention.create`, with
  the X API v2 Post object's `attachments.media_keys` and `referenced_tweets`
  (quoted) expanded in `includes.media` and `includes.tweets` (v2 data
  dictionary, Media object and expansions).
- `mention__photos`, `mention__video`, `mention__extended_gif`: "Extended
  entities object" (media `type` photo/video/animated_gif, `video_info.
  variants[]` with `bitrate`, `content_type`, `url`) and "Extended Tweets"
  (`extended_tweet.full_text`, `display_text_range`, `extended_entities`).
- `mention__quote`: "Tweet object" `quoted_status`, `quoted_status_permalink`.
- `dm__media` (existing): `direct_message_events[].message_create.message_data.
  attachment.media.media_url_https` on `ton.twitter.com`.

What each fixture parses to is in its expectation file, checked by the contract
suite (`contract/`); here, what is particular to a kind and what agents see.
"""

import hashlib
import json
import re
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.platforms.base import (
    MalformedPayload,
    ParsedWebhook,
    PermanentDeliveryError,
)
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.contract.kits.x import KIT
from channels_app.tests.platforms.fixtures import fixture_bytes
from conversations.models import Conversation, Message
from conversations.tests.factories import ConversationFactory

ACCOUNT = "1500000000000000001"
REVOKED = (
    "Access revoked on X: the account removed PingBack's access; reconnect the channel"
)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
DM_PHOTO_PATH = "/1.1/ton/data/dm/1861000000000000102/1861000000000009999/box.jpg"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def receive(client, business, django_capture_on_commit_callbacks):
    """Deliver a fixture (by name) signed to the business's X channel and run
    its ingest; returns the channel."""
    channel = ChannelFactory(business=business)

    def run(name: str):
        deliver(client, django_capture_on_commit_callbacks, channel, name)
        return channel

    return run


def parse(name: str, channel=None) -> ParsedWebhook:
    return get_platform("x").parse(channel or KIT.build(), fixture_bytes("x", name))


def post(client, channel, body: bytes):
    return KIT.deliver(client, channel, body)


def deliver(client, capture, channel, body: bytes | str):
    """POST `body` (or the fixture of that name) signed, and run its ingest."""
    if isinstance(body, str):
        body = fixture_bytes("x", body)
    with capture(execute=True):
        response = post(client, channel, body)
    assert response.status_code == 200, response.content
    return response


def thread_page(client, member, conversation) -> str:
    client.force_login(member.user)
    response = client.get(f"/conversations/{conversation.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def shown_image(client, page: str, name: str) -> bytes:
    """The bytes of the image the thread page shows inline as `name`."""
    (src,) = re.findall(rf'<img src="([^"]+)" alt="{re.escape(name)}"', page)
    response = client.get(src)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


# ----------------------------------------------------------------- parse, pure


def test_a_post_with_an_unreadable_created_at_is_malformed():
    body = json.loads(fixture_bytes("x", "mention__without_timestamp_ms"))
    body["tweet_create_events"][0]["created_at"] = "2018-10-10 20:19:24"

    with pytest.raises(MalformedPayload, match=r"tweet_create_events\[0\]\.created"):
        get_platform("x").parse(ChannelFactory.build(), json.dumps(body).encode())


def test_text_shows_the_ampersands_and_brackets_the_customer_typed():
    # X sends `&`, `<` and `>` in post and DM text as HTML entities.
    mention = json.loads(fixture_bytes("x", "mention__text"))
    mention["tweet_create_events"][0]["text"] = (
        "@pingback_demo M&amp;S order &lt;#123&gt; &amp;amp; more"
    )
    dm = json.loads(fixture_bytes("x", "dm__text"))
    event = dm["direct_message_events"][0]["message_create"]["message_data"]
    event["text"] = "Fish &amp; chips &lt;3"
    channel = KIT.build()

    [posted] = get_platform("x").parse(channel, json.dumps(mention).encode()).items
    [direct] = get_platform("x").parse(channel, json.dumps(dm).encode()).items

    assert posted.text == "@pingback_demo M&S order <#123> &amp; more"
    assert direct.text == "Fish & chips <3"


def test_a_revoke_by_another_account_is_ignored_with_the_reason():
    channel = ChannelFactory.build(config={"account_id": "999"})

    parsed = parse("user_event__revoke", channel)

    assert parsed.items == ()
    assert parsed.ignored == (f"access revoked by another account ({ACCOUNT})",)


def test_a_revoke_before_the_channel_knows_its_account_is_ignored():
    parsed = parse("user_event__revoke", ChannelFactory.build(config={}))

    assert parsed.items == ()
    assert parsed.ignored == (
        f"access revoked by X user {ACCOUNT}, but the channel does not know its "
        "X account yet",
    )


def test_an_x_activity_api_video_is_its_highest_bit_rate_mp4():
    body = json.loads(fixture_bytes("x", "xaa__post_mention_quote_photo"))
    body["data"]["includes"]["media"] = [
        {
            "media_key": "3_1861000000000009005",
            "type": "video",
            "preview_image_url": "https://pbs.twimg.com/amplify_video_thumb/1/img/a.jpg",
            "variants": [
                {
                    "bit_rate": 632000,
                    "content_type": "video/mp4",
                    "url": "https://video.twimg.com/amplify_video/1/vid/480x270/low.mp4",
                },
                {
                    "content_type": "application/x-mpegURL",
                    "url": "https://video.twimg.com/amplify_video/1/pl/list.m3u8",
                },
                {
                    "bit_rate": 2176000,
                    "content_type": "video/mp4",
                    "url": "https://video.twimg.com/amplify_video/1/vid/1280x720/hi.mp4",
                },
            ],
        }
    ]

    (message,) = (
        get_platform("x").parse(ChannelFactory.build(), json.dumps(body).encode()).items
    )

    assert message.attachments == (
        {
            "kind": "video",
            "url": "https://video.twimg.com/amplify_video/1/vid/1280x720/hi.mp4",
            "content_type": "video/mp4",
        },
    )


def test_the_account_deleting_its_own_post_is_ignored():
    body = json.loads(fixture_bytes("x", "tweet_delete__customer"))
    body["tweet_delete_events"][0]["status"]["user_id"] = ACCOUNT

    parsed = get_platform("x").parse(ChannelFactory.build(), json.dumps(body).encode())

    assert parsed.items == ()
    assert parsed.ignored == ("the account deleted its own post 1861000000000000201",)


# ------------------------------------------------------- end to end, webhooks


@pytest.mark.django_db
def test_a_post_without_timestamp_ms_reaches_the_thread(receive, client, admin_member):
    """Refused 400 ("timestamp_ms: missing") before."""
    receive("mention__without_timestamp_ms")

    conversation = Conversation.objects.get()
    page = thread_page(client, admin_member, conversation)
    assert "can I return the blue kettle?" in page
    assert conversation.messages.get().sent_at == at(2018, 10, 10, 20, 19, 24)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "user_event__revoke",  # refused 400 ("for_user_id: missing") before
        "xaa__oauth_revoke",  # refused 400 ("data.filter.user_id: missing") before
    ],
)
def test_a_revoke_alerts_the_admins_and_is_not_refused(receive, admin_api, name):
    channel = receive(name)

    assert InboundEvent.objects.get().status == "processed"
    shown = admin_api.get(f"/api/v1/channels/{channel.id}")
    assert shown.json()["alert"] == REVOKED
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_a_revoke_by_another_account_leaves_the_channel_alone(
    client, business, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(business=business, config={"account_id": "999"})

    deliver(client, django_capture_on_commit_callbacks, channel, "user_event__revoke")

    assert InboundEvent.objects.get().status == "ignored"
    assert Channel.objects.get(pk=channel.pk).alert == ""


@pytest.mark.django_db
def test_the_photos_of_a_mention_are_downloaded_and_shown(
    receive, client, admin_member, sandbox
):
    sandbox.x.put_media("/media/FdEnTkettle1.jpg", PNG, "image/png")
    sandbox.x.put_media("/media/FdEnTkettle2.jpg", PNG + b"2", "image/png")

    receive("mention__photos")

    message = Message.objects.get()
    assert [a.get("fetch_error") for a in message.attachments] == [None, None]
    assert [a["size"] for a in message.attachments] == [len(PNG), len(PNG) + 1]
    assert [a["filename"] for a in message.attachments] == [
        "FdEnTkettle1.jpg",
        "FdEnTkettle2.jpg",
    ]
    page = thread_page(client, admin_member, message.conversation)
    assert shown_image(client, page, "FdEnTkettle1.jpg") == PNG
    assert shown_image(client, page, "FdEnTkettle2.jpg") == PNG + b"2"
    assert "see photos" in page
    assert "t.co/9r69akA484" not in page


@pytest.mark.django_db
def test_an_x_activity_api_mention_shows_its_photo_and_quote(
    receive, client, admin_member, sandbox
):
    sandbox.x.put_media("/media/SaMsHoPpEr.jpg", PNG, "image/png")

    receive("xaa__post_mention_quote_photo")

    page = thread_page(client, admin_member, Conversation.objects.get())
    assert shown_image(client, page, "SaMsHoPpEr.jpg") == PNG
    assert '<span class="context-label">Quoting @pingback_demo</span>' in page
    assert "this is what arrived instead" in page
    assert "t.co/XaAmEdIa01" not in page


@pytest.mark.django_db
def test_a_mention_video_is_downloaded_from_its_best_variant(
    receive, admin_member, sandbox
):
    sandbox.x.put_media(
        "/ext_tw_video/1861000000000009003/pu/vid/720x1280/lidHigh.mp4",
        b"\x00\x00\x00\x18ftypmp42 high",
        "video/mp4",
    )

    receive("mention__video")

    (attachment,) = Message.objects.get().attachments
    assert attachment["kind"] == "video"
    assert attachment["content_type"] == "video/mp4"
    assert attachment["size"] == len(b"\x00\x00\x00\x18ftypmp42 high")


@pytest.mark.django_db
def test_a_quote_tweet_shows_the_quoted_post_above_the_text(
    receive, client, admin_member
):
    receive("mention__quote")

    page = thread_page(client, admin_member, Conversation.objects.get())
    assert '<span class="context-label">Quoting @pingback_demo</span>' in page
    assert "Free next-day delivery on every kettle this week!" in page
    assert 'href="https://twitter.com/pingback_demo/status/1861000000000000302"' in (
        page
    )
    assert "Mine took three weeks and never came." in page


def reply_tweet(tweet_id: str, in_reply_to: str, text: str) -> bytes:
    body = json.loads(fixture_bytes("x", "mention__reply"))
    tweet = body["tweet_create_events"][0]
    tweet.update(
        id=int(tweet_id),
        id_str=tweet_id,
        text=text,
        in_reply_to_status_id=int(in_reply_to),
        in_reply_to_status_id_str=in_reply_to,
    )
    return json.dumps(body).encode()


@pytest.mark.django_db
def test_replies_down_a_thread_stay_in_one_conversation(
    receive,
    client,
    admin_member,
    api_client_for,
    sandbox,
    django_capture_on_commit_callbacks,
):
    """The customer's mention, the agent's reply (posted to the sandbox through
    tweepy), the customer's reply to it, and their reply to their own reply."""
    channel = receive("mention__text")
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        answer = api_client_for(admin_member).post(
            f"/api/v1/conversations/{conversation.pk}/messages",
            {"text": "Sorry! Which order is it?"},
            format="json",
        )
    assert answer.status_code == 202, answer.content
    ours = Message.objects.get(direction="outbound")
    assert ours.status == "sent"
    assert ours.platform_message_id == sandbox.x.tweets[0]["id"]

    deliver(
        client,
        django_capture_on_commit_callbacks,
        channel,
        reply_tweet(
            "1861000000000000210", ours.platform_message_id, "@pingback_demo #4411"
        ),
    )
    deliver(
        client,
        django_capture_on_commit_callbacks,
        channel,
        reply_tweet(
            "1861000000000000211", "1861000000000000210", "@pingback_demo and #4412"
        ),
    )

    assert Conversation.objects.count() == 1
    assert list(
        conversation.messages.order_by("id").values_list("text", flat=True)
    ) == [
        "@pingback_demo my parcel has been stuck in Leeds for a week",
        "Sorry! Which order is it?",
        "@pingback_demo #4411",
        "@pingback_demo and #4412",
    ]


@pytest.mark.django_db
def test_a_deleted_post_is_shown_deleted_with_its_text_kept(
    receive, client, admin_member
):
    receive("mention__text")

    receive("tweet_delete__customer")

    message = Message.objects.get()
    assert message.deleted_at == datetime.fromtimestamp(1763716800, tz=UTC)
    page = thread_page(client, admin_member, message.conversation)
    assert "Deleted by the customer" in page
    assert "stuck in Leeds for a week" in page


# ------------------------------------------------------------------- DM media


@pytest.mark.django_db
def test_dm_media_is_downloaded_with_the_accounts_oauth1_signature(
    receive, client, admin_member, sandbox
):
    sandbox.x.put_media(DM_PHOTO_PATH, PNG, "image/png")

    receive("dm__media")

    (attachment,) = Message.objects.get().attachments
    assert attachment.get("fetch_error") is None
    assert attachment["size"] == len(PNG)
    assert attachment["content_type"] == "image/png"
    (request,) = [r for r in sandbox.requests() if r["path"] == DM_PHOTO_PATH]
    assert request["auth"]["kind"] == "oauth1"
    assert request["auth"]["valid"] is True
    assert request["status"] == 200
    message = Message.objects.get()
    page = thread_page(client, admin_member, message.conversation)
    assert shown_image(client, page, "box.jpg") == PNG


@pytest.mark.django_db
def test_dm_media_with_credentials_x_refuses_shows_why(
    client, business, admin_member, sandbox, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(
        business=business,
        secrets={**ChannelFactory.build().secrets, "access_token_secret": "wrong"},
    )
    sandbox.x.put_media(DM_PHOTO_PATH, PNG, "image/png")

    deliver(client, django_capture_on_commit_callbacks, channel, "dm__media")

    (attachment,) = Message.objects.get().attachments
    assert attachment["fetch_error"] == "X refused the file download (HTTP 401)"
    assert "stored" not in attachment
    page = thread_page(client, admin_member, Message.objects.get().conversation)
    assert "<img src=" not in page


def test_media_outside_x_is_not_fetched():
    with pytest.raises(PermanentDeliveryError, match="only from X's servers"):
        get_platform("x").fetch_media(
            ChannelFactory.build(),
            {"kind": "image", "url": "https://attacker.example/ton/box.jpg"},
        )


# --------------------------------------------------------- outbound DM media


def reply_with_file(api, conversation, text: str, upload):
    return api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        {"text": text, "files": [upload]},
        format="multipart",
    )


def upload_requests(sandbox) -> list[str]:
    return [
        f"{r['method']} {r['path']}"
        for r in sandbox.requests()
        if r["path"].startswith("/2/media/upload")
    ]


@pytest.mark.django_db
def test_an_agents_photo_goes_out_in_the_dm(
    business, admin_member, api_client_for, sandbox, django_capture_on_commit_callbacks
):
    """X API v2 "Media upload" (initialize, append, finalize) then the DM with
    `attachments[0].media_id`, all signed with the account's OAuth 1.0a tokens."""
    conversation = ConversationFactory(business=business)
    photo = SimpleUploadedFile("parcel.png", PNG, content_type="image/png")

    with django_capture_on_commit_callbacks(execute=True):
        response = reply_with_file(
            api_client_for(admin_member), conversation, "Here is the label", photo
        )

    assert response.status_code == 202, response.content
    message = Message.objects.get(direction="outbound")
    assert message.status == "sent", message.error
    (dm,) = sandbox.x.sent_dms
    assert dm["text"] == "Here is the label"
    assert dm["participant_id"] == conversation.contact_identity.external_id
    assert dm["attachments"] == [
        {
            "media_id": dm["attachments"][0]["media_id"],
            "media_type": "image/png",
            "media_category": "dm_image",
            "size": len(PNG),
            "sha256": hashlib.sha256(PNG).hexdigest(),
        }
    ]
    assert message.platform_message_id == dm["dm_event_id"]
    media_id = dm["attachments"][0]["media_id"]
    assert upload_requests(sandbox) == [
        "POST /2/media/upload/initialize",
        f"POST /2/media/upload/{media_id}/append",
        f"POST /2/media/upload/{media_id}/finalize",
    ]
    assert {
        r["auth"]["kind"]
        for r in sandbox.requests()
        if r["path"].startswith(("/2/media", "/2/dm_conversations"))
    } == {"oauth1"}


@pytest.mark.django_db
def test_a_video_is_uploaded_in_chunks_and_sent_without_text(
    business, admin_member, api_client_for, sandbox, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(business=business)
    video = bytes(range(256)) * (10 * 1024 + 7)  # 2.5 MB: three 1 MB segments

    with django_capture_on_commit_callbacks(execute=True):
        reply_with_file(
            api_client_for(admin_member),
            conversation,
            "",
            SimpleUploadedFile("unboxing.mp4", video, content_type="video/mp4"),
        )

    assert Message.objects.get(direction="outbound").status == "sent"
    (dm,) = sandbox.x.sent_dms
    assert dm["text"] == ""
    (attachment,) = dm["attachments"]
    assert attachment["media_category"] == "dm_video"
    assert attachment["sha256"] == hashlib.sha256(video).hexdigest()
    appends = [r for r in upload_requests(sandbox) if r.endswith("/append")]
    assert len(appends) == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("file", "reason"),
    [
        (
            ("invoice.pdf", b"%PDF-1.4 invoice", "application/pdf"),
            "X DMs carry photos, GIFs and videos only; invoice.pdf is application/pdf.",
        ),
        (
            ("huge.png", PNG + b"\0" * (5 * 2**20), "image/png"),
            "X takes photos up to 5 MB; huge.png is 5.0 MB.",
        ),
    ],
)
def test_a_file_x_does_not_take_fails_with_the_reason_and_nothing_is_sent(
    business, admin_api, sandbox, django_capture_on_commit_callbacks, file, reason
):
    name, content, content_type = file
    upload = SimpleUploadedFile(name, content, content_type=content_type)
    conversation = ConversationFactory(business=business)

    with django_capture_on_commit_callbacks(execute=True):
        reply_with_file(admin_api, conversation, "See attached", upload)

    message = Message.objects.get(direction="outbound")
    assert message.status == "failed"
    assert message.error == reason
    assert sandbox.x.sent_dms == []
    assert upload_requests(sandbox) == []

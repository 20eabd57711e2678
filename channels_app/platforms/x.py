"""X (Twitter): direct messages and mentions of the business's account.

Inbound: Account Activity API webhooks (v1.1-style payloads, AAA v2) and the X
Activity API envelope (`dm.received`, `post.mention.create`).
    https://docs.x.com/x-api/account-activity/introduction
    https://docs.x.com/x-api/activity/introduction
    CRC and signatures: https://docs.x.com/x-api/webhooks/introduction
Profiles: `GET /2/users/:id?user.fields=name,username,profile_image_url`
through tweepy, for a user whose events came without a user object.
    https://docs.x.com/x-api/users/lookup/introduction
Polling (a channel with `delivery: polling`, for apps without the Account
Activity API): `GET /2/users/:id/mentions` and `GET /2/dm_events`.
    https://docs.x.com/x-api/posts/timelines/introduction
    https://docs.x.com/x-api/direct-messages/lookup/introduction
Outbound: `POST /2/dm_conversations/with/:participant_id/messages` and
`POST /2/tweets` with `reply.in_reply_to_tweet_id`, through tweepy.
    https://docs.x.com/x-api/direct-messages/manage/introduction
    https://docs.x.com/x-api/posts/manage-tweets/introduction
Details and quirks: docs/platforms/x.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import tweepy
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from oauthlib import oauth1
from requests.adapters import HTTPAdapter
from rest_framework import serializers

from channels_app.platforms.base import (
    ChannelAlert,
    DeliveryError,
    FetchedMedia,
    InboundContact,
    InboundItem,
    InboundMessage,
    MalformedPayload,
    MessageDeletion,
    OutboundAttachment,
    OutboundMessage,
    ParsedWebhook,
    PermanentDeliveryError,
    Platform,
    PlatformProfile,
    SecretMissing,
    SendResult,
    SetupResult,
    SignatureInvalid,
    TransientDeliveryError,
)
from channels_app.platforms.capabilities import X_DM, X_POST, x_capabilities
from channels_app.platforms.clients import ThreadClients
from channels_app.platforms.media_fetch import media_download
from channels_app.platforms.payload import JsonValue
from pingback.egress import bearer_credentials

if TYPE_CHECKING:
    from channels_app.models import Channel

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------- constants

SIGNATURE_HEADER = "HTTP_X_TWITTER_WEBHOOKS_SIGNATURE"  # x-twitter-webhooks-signature
# tweepy 4.17 sends every request to this literal host (docs/platforms/x.md,
# "Hosts").
TWEEPY_HOST = "https://api.twitter.com"
DM_EVENTS = "direct_message_events"
TWEET_EVENTS = "tweet_create_events"
TWEET_DELETE_EVENTS = "tweet_delete_events"
USER_EVENT = "user_event"
XAA_DM_RECEIVED = "dm.received"
XAA_DM_SENT = "dm.sent"
XAA_MENTION = "post.mention.create"
XAA_REVOKE = "oauth.revoke"
# Top-level AAA keys that describe the delivery rather than carry events.
AAA_ENVELOPE_KEYS = frozenset({"for_user_id", "users", "apps", "user_has_blocked"})
DM_THREAD = "dm"
TWEET_THREAD = "tweet"
MAX_POST_LENGTH = X_POST.max_text_length  # the capabilities table
MAX_DM_LENGTH = X_DM.max_text_length
ACCESS_REVOKED = (
    "Access revoked on X: the account removed PingBack's access; reconnect the channel"
)
# v1.1 `created_at`, e.g. "Wed Oct 10 20:19:24 +0000 2018".
V1_TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"
# Where X serves media: DM media (OAuth 1.0a user context, X "Retrieving
# media") and public post media.
X_DM_MEDIA_HOST = "ton.twitter.com"
X_MEDIA_HOSTS = (X_DM_MEDIA_HOST, "pbs.twimg.com", "video.twimg.com")
# Outbound DM media. Source: X "Media best practices" (JPEG, PNG, WEBP, GIF;
# MP4, MOV) and its size limits: images 5 MB, GIFs 15 MB, videos 512 MB.
DM_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
DM_VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime"})
DM_MEDIA_LIMITS = {
    "dm_image": ("photos", 5 * 2**20),
    "dm_gif": ("GIFs", 15 * 2**20),
    "dm_video": ("videos", 512 * 2**20),
}
MEDIA_CHUNK_BYTES = 2**20  # one APPEND segment (X allows up to 5 MB)
MEDIA_PROCESSING_WAIT = 60.0  # seconds a send waits for X to process a video
CREDITS_EXHAUSTED = (
    "X API credits exhausted: the X account has no API credits, so replies cannot "
    "be sent until it is topped up in the X Developer Console. Incoming messages "
    "keep arriving."
)

# How an X channel receives: `webhook` (Account Activity API, the default) or
# `polling` (docs/platforms/x.md, "Polling").
DELIVERY_WEBHOOK = "webhook"
DELIVERY_POLLING = "polling"
# The streams a polling channel reads, and the key of the body PingBack
# stores for each item read (`poll`).
POLL_MENTIONS = "mentions"
POLL_DM_EVENTS = "dm_events"
POLL_STREAMS = (POLL_MENTIONS, POLL_DM_EVENTS)
POLLED = "pingback_polled"
GROUP_DM = "a message in a group DM (PingBack answers one-to-one DMs only)"
# Pages one poll reads from a stream at most; the rest waits for the next
# poll (the cursor does not move past what was not read).
POLL_MAX_PAGES = 3
POLL_USER_FIELDS = "name,username,profile_image_url"
POLL_MEDIA_FIELDS = "media_key,type,url,preview_image_url,variants"
POLL_TWEET_FIELDS = (
    "author_id,created_at,conversation_id,referenced_tweets,attachments,"
    "entities,display_text_range"
)
POLL_DM_FIELDS = (
    "id,event_type,text,sender_id,dm_conversation_id,created_at,attachments,"
    "referenced_tweets,participant_ids"
)

# ------------------------------------------------------------------------- config


class XConfigSerializer(serializers.Serializer):
    """Config of an X channel. Source: X Developer Portal, "Keys and tokens".

    `api_key`/`api_secret` are the app's consumer key and secret (the secret is
    also the key X signs webhooks with); `access_token`/`access_token_secret` are
    the business account's OAuth 1.0a user tokens (without `access_token_secret`,
    `access_token` is used as an OAuth 2.0 user token); `bearer_token` is the
    app-only token used to register the webhook.

    `delivery` is how PingBack receives: `webhook` (the default, also when
    absent: Account Activity webhooks) or `polling` (PingBack reads mentions
    and DMs every `X_POLL_INTERVAL` seconds; for apps whose X tier has no
    Account Activity API). docs/platforms/x.md, "Polling".
    """

    delivery = serializers.ChoiceField(
        choices=[DELIVERY_WEBHOOK, DELIVERY_POLLING],
        required=False,
        help_text="webhook (the Account Activity API, X posts to PingBack) or "
        "polling (PingBack reads mentions and DMs every few minutes: for apps "
        "without the Account Activity API).",
    )

    api_key = serializers.CharField(
        max_length=200,
        help_text="The app's consumer key (Developer Portal, Keys and tokens).",
    )
    api_secret = serializers.CharField(
        max_length=200,
        required=False,
        help_text="The app's consumer secret; X signs webhooks with it.",
    )
    access_token = serializers.CharField(
        max_length=400,
        help_text="The business account's OAuth 1.0a access token (or an "
        "OAuth 2.0 user token, without an access token secret).",
    )
    access_token_secret = serializers.CharField(
        max_length=200,
        required=False,
        help_text="The business account's OAuth 1.0a access token secret.",
    )
    bearer_token = serializers.CharField(
        max_length=400,
        required=False,
        help_text="The app-only bearer token, used to register the webhook.",
    )


# ------------------------------------------------------------------ parse helpers


def _signature(secret: str, message: bytes) -> str:
    """`sha256=` + base64 HMAC-SHA256: X's CRC response token and webhook
    signature (docs/platforms/x.md, "CRC challenge" and "Signature")."""
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


# X DM media `type` → PingBack attachment kind.
X_MEDIA_KINDS = {"photo": "image", "video": "video", "animated_gif": "video"}


def _from_epoch_ms(value: JsonValue) -> datetime:
    """X's `created_timestamp`/`timestamp_ms`: epoch milliseconds as a string."""
    text = value.digits()
    return datetime.fromtimestamp(int(text) / 1000, tz=UTC)


def _from_iso(value: JsonValue) -> datetime:
    try:
        return datetime.fromisoformat(value.str().replace("Z", "+00:00"))
    except ValueError as error:
        raise MalformedPayload(f"{value.path}: not an ISO 8601 time") from error


def _v1_contact(user_id: str, user: JsonValue | None) -> InboundContact:
    """A contact from a v1.1 user object (the AAA `users` map, a tweet's `user`)."""
    if user is None:
        return InboundContact(external_id=user_id)
    return InboundContact(
        external_id=user_id,
        handle=user.get("screen_name").str() if user.get("screen_name") else "",
        name=user.get("name").str() if user.get("name") else "",
        avatar_url=(user.get("profile_image_url_https") or JsonValue("")).str_or(),
    )


def _v2_contact(user_id: str, user: JsonValue | None) -> InboundContact:
    """A contact from a v2 user object (XAA `includes.users`, `users[id].data`)."""
    if user is None:
        return InboundContact(external_id=user_id)
    return InboundContact(
        external_id=user_id,
        handle=(user.get("username") or JsonValue("")).str_or(),
        name=(user.get("name") or JsonValue("")).str_or(),
        avatar_url=(user.get("profile_image_url") or JsonValue("")).str_or(),
    )


def _parse_dm_events(
    events: JsonValue, users: JsonValue | None, account_id: str, *, v2_users: bool
) -> tuple[list[InboundItem], list[str], list[str]]:
    """Parse `direct_message_events`; return (messages, dedupe ids, ignored).

    An event whose sender is the account is our own DM echoed back
    (docs/platforms/x.md, "Echoes and dedupe") and is ignored. Source: AAA
    `direct_message_events[].message_create`.
    """
    items: list[InboundItem] = []
    keys: list[str] = []
    ignored: list[str] = []
    for event in events.list():
        if event["type"].str() != "message_create":
            ignored.append(f"DM event type {event['type'].str()}")
            continue
        event_id = event["id"].digits()
        create = event["message_create"]
        sender_id = create["sender_id"].digits()
        keys.append(f"dm:{event_id}")
        if sender_id == account_id:
            ignored.append(f"echo of the account's own DM {event_id}")
            continue
        data = create["message_data"]
        user = users.get(sender_id) if users is not None else None
        if v2_users and user is not None:
            contact = _v2_contact(sender_id, user.get("data"))
        else:
            contact = _v1_contact(sender_id, user)
        attachments: tuple[dict[str, str], ...] = ()
        attachment = data.get("attachment")
        if attachment is not None and attachment.get("media") is not None:
            attachments = (_media_attachment(attachment["media"]),)
        items.append(
            InboundMessage(
                platform_message_id=event_id,
                contact=contact,
                text=_unescaped(data["text"].str()),
                sent_at=_from_epoch_ms(event["created_timestamp"]),
                thread_key=f"{DM_THREAD}:{sender_id}",
                kind="dm",
                attachments=attachments,
            )
        )
    return items, keys, ignored


def _mentions_account(tweet: JsonValue, account_id: str) -> bool:
    """A v1.1 tweet mentions the account, replies to it or quotes one of its
    posts (docs/platforms/x.md, "Payloads PingBack reads")."""
    in_reply_to = tweet.get("in_reply_to_user_id_str")
    if in_reply_to is not None and in_reply_to.str() == account_id:
        return True
    for holder in (tweet, tweet.get("extended_tweet")):
        entities = holder.get("entities") if holder is not None else None
        mentions = entities.get("user_mentions") if entities is not None else None
        for mention in mentions.list() if mentions is not None else ():
            if mention["id_str"].str() == account_id:
                return True
    quoted = tweet.get("quoted_status")
    quoted_user = quoted.get("user") if quoted is not None else None
    quoted_author = quoted_user.get("id_str") if quoted_user is not None else None
    return quoted_author is not None and quoted_author.str() == account_id


def _tweet_time(tweet: JsonValue) -> datetime:
    """When a v1.1 tweet was posted: `timestamp_ms` (epoch milliseconds, set by
    the streaming and webhook products) when given, else `created_at` ("Wed Oct
    10 20:19:24 +0000 2018", always there). Source: X tweet object, `created_at`;
    X's own Account Activity samples carry no `timestamp_ms`."""
    stamp = tweet.get("timestamp_ms")
    if stamp is not None:
        return _from_epoch_ms(stamp)
    created = tweet["created_at"]
    try:
        return datetime.strptime(created.str(), V1_TIME_FORMAT)
    except ValueError as error:
        raise MalformedPayload(
            f"{created.path}: not a time like 'Wed Oct 10 20:19:24 +0000 2018'"
        ) from error


def _full_tweet(tweet: JsonValue) -> JsonValue:
    """The part of a v1.1 tweet holding its whole text and entities: the
    `extended_tweet` of a `truncated` tweet (compatibility mode, over 140
    characters), else the tweet itself. Source: X tweet object, "Extended
    Tweets" (`extended_tweet.full_text`, `display_text_range`,
    `extended_entities`)."""
    extended = tweet.get("extended_tweet")
    truncated = tweet.get("truncated")
    if extended is not None and truncated is not None and truncated.value is True:
        return extended
    return tweet


def _tweet_media(tweet: JsonValue) -> list[JsonValue]:
    """The native media of a v1.1 tweet: `extended_entities.media` (all photos,
    the real type), from the `extended_tweet` of a long tweet. Source: X
    "Extended entities object"."""
    for holder in (_full_tweet(tweet), tweet):
        extended = holder.get("extended_entities")
        media = extended.get("media") if extended is not None else None
        if media is not None:
            return media.list()
    return []


def _best_mp4(variants: JsonValue | None, rate_key: str) -> str:
    """The URL of the `video/mp4` variant with the highest bitrate (`rate_key`:
    v1.1 `bitrate`, v2 `bit_rate`) among a video's or animated GIF's
    `variants` (HLS playlists have no bitrate and are skipped); "" when there
    is none."""
    best_url, best_rate = "", -1
    for variant in variants.list() if variants is not None else ():
        kind = (variant.get("content_type") or JsonValue("")).str_or()
        if kind != "video/mp4":
            continue
        rate = variant.get(rate_key)
        bitrate = rate.value if rate is not None and isinstance(rate.value, int) else 0
        if bitrate > best_rate:
            best_url, best_rate = variant["url"].str(), bitrate
    return best_url


def _media_attachment(media: JsonValue) -> dict[str, str]:
    """One attachment from an X media object (a tweet's `extended_entities.
    media[]`, a DM's `attachment.media`): a photo's `media_url_https`; a video's
    or animated GIF's best mp4 variant (its `media_url_https` is only a still).
    `fetch_media` downloads the `url` after ingest."""
    media_type = (media.get("type") or JsonValue("")).str_or("")
    still = (media.get("media_url_https") or JsonValue("")).str_or()
    if media_type in ("video", "animated_gif"):
        info = media.get("video_info")
        video = _best_mp4(info.get("variants") if info is not None else None, "bitrate")
        if video:
            return {"kind": "video", "url": video, "content_type": "video/mp4"}
        return {"kind": "image", "url": still}
    return {"kind": X_MEDIA_KINDS.get(media_type, "file"), "url": still}


def _unescaped(text: str) -> str:
    """A post's or direct message's text as its author typed it: X escapes
    `&`, `<` and `>` (and only those three) as `&amp;`, `&lt;` and `&gt;`;
    the offsets of `display_text_range` count each as one character. Source:
    X tweet object (v1.1) and Post object (v2), `text`; DM events'
    `message_data.text`."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _tweet_text(tweet: JsonValue, media: list[JsonValue]) -> str:
    """A v1.1 tweet's text as X clients show it: the whole text of a long
    tweet, without the trailing t.co link X appends for attached media: what
    lies past the end of `display_text_range` when that is only such a link,
    else a trailing media `url`. The leading @mentions of a reply are kept, so
    agents see who was addressed. Source: X tweet object, "Extended Tweets"
    (`display_text_range`: the displayable part, code point offsets)."""
    holder = _full_tweet(tweet)
    full = holder.get("full_text")
    text = _unescaped(full.str() if full is not None else tweet["text"].str())
    links = {(item.get("url") or JsonValue("")).str_or() for item in media} - {""}
    shown = holder.get("display_text_range")
    bounds = shown.list() if shown is not None else []
    if len(bounds) == 2 and isinstance(bounds[1].value, int):
        tail = text[bounds[1].value :].strip()
        if tail in links or (tail.startswith("https://t.co/") and " " not in tail):
            return text[: bounds[1].value].rstrip()
    for link in links:
        if text.endswith(link):
            return text[: -len(link)].rstrip()
    return text


def _quoted_context(tweet: JsonValue) -> list[dict[str, str]]:
    """`details.context` for a quote tweet: the quoted post's author, text and
    link. Source: X tweet object, `quoted_status` (a tweet object) and
    `quoted_status_permalink.expanded`."""
    quoted = tweet.get("quoted_status")
    if quoted is None:
        return []
    user = quoted.get("user")
    handle_value = user.get("screen_name") if user is not None else None
    handle = handle_value.str_or() if handle_value is not None else ""
    quoted_id = quoted["id_str"].digits()
    permalink = tweet.get("quoted_status_permalink")
    expanded = permalink.get("expanded") if permalink is not None else None
    url = expanded.str_or() if expanded is not None else ""
    if not url:
        url = f"https://x.com/{handle or 'i/web'}/status/{quoted_id}"
    return [
        {
            "label": f"Quoting @{handle}" if handle else "Quoting a post",
            "text": _tweet_text(quoted, _tweet_media(quoted)),
            "url": url,
        }
    ]


def _parse_tweet_events(
    events: JsonValue, account_id: str
) -> tuple[list[InboundItem], list[str], list[str]]:
    """Parse v1.1 `tweet_create_events`: mentions of, replies to and quotes of
    the account's posts, with their photos, videos and GIFs as attachments and
    a quoted post as `details.context`.

    The account's own posts (our replies echoed back) and retweets are ignored.
    A reply's `in_reply_to_status_id_str` lets ingest continue the conversation
    of the post it answers. Source: AAA `tweet_create_events[]` (v1.1 tweet).
    """
    items: list[InboundItem] = []
    keys: list[str] = []
    ignored: list[str] = []
    for tweet in events.list():
        tweet_id = tweet["id_str"].digits()
        keys.append(f"tweet:{tweet_id}")
        author_id = tweet["user"]["id_str"].digits()
        if author_id == account_id:
            ignored.append(f"the account's own post {tweet_id}")
            continue
        if "retweeted_status" in tweet:
            ignored.append(f"retweet {tweet_id}")
            continue
        if not _mentions_account(tweet, account_id):
            ignored.append(f"post {tweet_id} does not mention the account")
            continue
        media = _tweet_media(tweet)
        reply_to = tweet.get("in_reply_to_status_id_str")
        context = _quoted_context(tweet)
        items.append(
            InboundMessage(
                platform_message_id=tweet_id,
                contact=_v1_contact(author_id, tweet["user"]),
                text=_tweet_text(tweet, media),
                sent_at=_tweet_time(tweet),
                thread_key=f"{TWEET_THREAD}:{tweet_id}",
                reply_to_platform_message_id=reply_to.digits() if reply_to else None,
                kind="mention",
                attachments=tuple(_media_attachment(item) for item in media),
                details={"context": context} if context else {},
            )
        )
    return items, keys, ignored


def _parse_tweet_deletes(
    events: JsonValue, account_id: str
) -> tuple[list[InboundItem], list[str], list[str]]:
    """Parse `tweet_delete_events`: a customer deleted a post of theirs, which
    is marked deleted in its conversation. The account's own deletions are
    ignored. Source: AAA "Account Activity data objects", `tweet_delete_events[]`
    = {status: {id, user_id}, timestamp_ms}."""
    items: list[InboundItem] = []
    keys: list[str] = []
    ignored: list[str] = []
    for event in events.list():
        status = event["status"]
        tweet_id = status["id"].digits()
        keys.append(f"delete:{tweet_id}")
        if status["user_id"].digits() == account_id:
            ignored.append(f"the account deleted its own post {tweet_id}")
            continue
        items.append(
            MessageDeletion(
                platform_message_id=tweet_id,
                deleted_at=_from_epoch_ms(event["timestamp_ms"]),
            )
        )
    return items, keys, ignored


def _parse_revoke(channel: Channel, root: JsonValue, body: bytes) -> ParsedWebhook:
    """Parse an AAA subscription revoke (`user_event.revoke`, sent without
    `for_user_id` when a user removes the app's access; X deletes the
    subscription): see `_revoke`. Source: AAA "Account Activity data objects",
    `user_event` = {revoke: {date_time, target: {app_id}, source: {user_id}}}.
    """
    revoke = root[USER_EVENT]["revoke"]
    return _revoke(channel, revoke["source"]["user_id"], revoke["date_time"], body)


def _revoke(
    channel: Channel, user: JsonValue, date_time: JsonValue, body: bytes
) -> ParsedWebhook:
    """A user removed the app's access (`user` revoked at `date_time`, ISO
    8601). About the channel's account, it becomes a `ChannelAlert`; about
    another account, or a channel that does not know its account yet, it is
    ignored with the reason."""
    user_id = user.digits()
    occurred_at = _from_iso(date_time)
    key = _event_key(user_id, [f"revoke:{date_time.str()}"], body)
    known = channel.config.get("account_id")
    if not known:
        return ParsedWebhook(
            event_key=key,
            ignored=(
                f"access revoked by X user {user_id}, but the channel does not "
                "know its X account yet",
            ),
        )
    if known != user_id:
        return ParsedWebhook(
            event_key=key,
            ignored=(f"access revoked by another account ({user_id})",),
        )
    return ParsedWebhook(
        event_key=key,
        items=(ChannelAlert(alert=ACCESS_REVOKED, occurred_at=occurred_at),),
    )


def _v2_media_attachment(media: JsonValue) -> dict[str, str]:
    """One attachment from a v2 media object (`includes.media[]`): a photo's
    `url`; a video's or animated GIF's `video/mp4` variant with the highest
    `bit_rate` (its `preview_image_url` when there is none). Source: X API v2
    data dictionary, Media object (`type`, `url`, `preview_image_url`,
    `variants[]` {bit_rate, content_type, url})."""
    media_type = (media.get("type") or JsonValue("")).str_or("")
    if media_type in ("video", "animated_gif"):
        best_url = _best_mp4(media.get("variants"), "bit_rate")
        if best_url:
            return {"kind": "video", "url": best_url, "content_type": "video/mp4"}
        preview = (media.get("preview_image_url") or JsonValue("")).str_or()
        return {"kind": "image", "url": preview}
    url = (media.get("url") or JsonValue("")).str_or()
    return {"kind": X_MEDIA_KINDS.get(media_type, "file"), "url": url}


def _includes(includes: JsonValue | None, name: str, key: str) -> dict[str, JsonValue]:
    """The expanded objects `includes[name]` by their `key` (`id`, `media_key`)."""
    found = includes.get(name) if includes is not None else None
    return {item[key].str(): item for item in (found.list() if found else ())}


def _v2_text(post: JsonValue) -> str:
    """A v2 post's text without the trailing t.co link X adds for its media or
    quoted post: what lies past the end of `display_text_range` when that is
    only such a link. Source: X API v2 Post object, `display_text_range`."""
    text = _unescaped(post["text"].str())
    shown = post.get("display_text_range")
    bounds = shown.list() if shown is not None else []
    if len(bounds) == 2 and isinstance(bounds[1].value, int):
        tail = text[bounds[1].value :].strip()
        if tail.startswith("https://t.co/") and " " not in tail:
            return text[: bounds[1].value].rstrip()
    return text


def _parse_xaa_mention(
    post: JsonValue, includes: JsonValue | None, account_id: str
) -> tuple[list[InboundItem], list[str], list[str]]:
    """Parse an XAA `post.mention.create` payload (a v2 post object).

    The thread is the post's `conversation_id` (its root post); a
    `referenced_tweets` entry of type `replied_to` names the post it answers;
    one of type `quoted`, found in `includes.tweets`, becomes
    `details.context`; `attachments.media_keys` found in `includes.media`
    become attachments. Source: X Activity API event payloads,
    `post.mention.create`; X API v2 Post object (`referenced_tweets`,
    `attachments.media_keys`) and expansions (`includes.tweets`,
    `includes.media`, `includes.users`).
    """
    post_id = post["id"].digits()
    author_id = post["author_id"].digits()
    keys = [f"tweet:{post_id}"]
    if author_id == account_id:
        return [], keys, [f"the account's own post {post_id}"]
    users = _includes(includes, "users", "id")
    reply_to = None
    context: list[dict[str, str]] = []
    referenced = post.get("referenced_tweets")
    for reference in referenced.list() if referenced is not None else ():
        kind = reference["type"].str()
        if kind == "replied_to":
            reply_to = reference["id"].digits()
        elif kind == "quoted":
            quoted = _includes(includes, "tweets", "id").get(reference["id"].str())
            if quoted is not None:
                context.append(_v2_quoted_context(quoted, users))
    media_objects = _includes(includes, "media", "media_key")
    attachments_value = post.get("attachments")
    media_keys = attachments_value.get("media_keys") if attachments_value else None
    attachments = tuple(
        _v2_media_attachment(media_objects[key.str()])
        for key in (media_keys.list() if media_keys is not None else ())
        if key.str() in media_objects
    )
    root = post.get("conversation_id")
    message = InboundMessage(
        platform_message_id=post_id,
        contact=_v2_contact(author_id, users.get(author_id)),
        text=_v2_text(post),
        sent_at=_from_iso(post["created_at"]),
        thread_key=f"{TWEET_THREAD}:{root.digits() if root else post_id}",
        reply_to_platform_message_id=reply_to,
        kind="mention",
        attachments=attachments,
        details={"context": context} if context else {},
    )
    return [message], keys, []


def _v2_quoted_context(
    quoted: JsonValue, users: dict[str, JsonValue]
) -> dict[str, str]:
    """`details.context` for the post a v2 post quotes: "Quoting @username",
    its text and its link."""
    author = quoted.get("author_id")
    user = users.get(author.str()) if author is not None else None
    name = user.get("username") if user is not None else None
    handle = name.str_or() if name is not None else ""
    quoted_id = quoted["id"].digits()
    return {
        "label": f"Quoting @{handle}" if handle else "Quoting a post",
        "text": _v2_text(quoted),
        "url": f"https://x.com/{handle or 'i/web'}/status/{quoted_id}",
    }


def _parse_v2_dm_event(
    event: JsonValue, includes: JsonValue | None, account_id: str
) -> tuple[list[InboundItem], list[str], list[str]]:
    """Parse one v2 DM event as `GET /2/dm_events` lists it: the same
    message, thread and contact as the webhook's `message_create` event of
    the same id (`_parse_dm_events`). The account's own DMs (our replies)
    are ignored, as are `ParticipantsJoin`/`ParticipantsLeave` events. A
    message in a group conversation (`dm_conversation_id` not of the
    one-to-one form `<id>-<id>`) is kept as `unsupported` in the sender's
    thread, with the event in `details.raw`: PingBack answers one-to-one
    DMs only.
    Source: X API v2 DM event object (`id`, `event_type`, `text`,
    `sender_id`, `created_at`, `attachments.media_keys`) and expansions
    (`includes.users`, `includes.media`)."""
    event_id = event["id"].digits()
    keys = [f"dm:{event_id}"]
    event_type = event["event_type"].str()
    if event_type != "MessageCreate":
        return [], keys, [f"DM event type {event_type}"]
    sender_id = event["sender_id"].digits()
    if sender_id == account_id:
        return [], keys, [f"echo of the account's own DM {event_id}"]
    users = _includes(includes, "users", "id")
    media_objects = _includes(includes, "media", "media_key")
    attachments_value = event.get("attachments")
    media_keys = attachments_value.get("media_keys") if attachments_value else None
    attachments = tuple(
        _v2_media_attachment(media_objects[key.str()])
        for key in (media_keys.list() if media_keys is not None else ())
        if key.str() in media_objects
    )
    text = event.get("text")
    contact = _v2_contact(sender_id, users.get(sender_id))
    conversation = event.get("dm_conversation_id")
    if conversation is not None and "-" not in conversation.str():
        # A group conversation (one-to-one ids are "<id>-<id>"): kept in the
        # sender's thread, shown as unsupported with the event as received.
        return (
            [
                InboundMessage(
                    platform_message_id=event_id,
                    contact=contact,
                    text=f"Unsupported message: {GROUP_DM}",
                    sent_at=_from_iso(event["created_at"]),
                    thread_key=f"{DM_THREAD}:{sender_id}",
                    kind="unsupported",
                    details={"raw": event.value},
                )
            ],
            keys,
            [],
        )
    message = InboundMessage(
        platform_message_id=event_id,
        contact=contact,
        text=_unescaped(text.str()) if text is not None else "",
        sent_at=_from_iso(event["created_at"]),
        thread_key=f"{DM_THREAD}:{sender_id}",
        kind="dm",
        attachments=attachments,
    )
    return [message], keys, []


def _parse_polled_mention(
    post: JsonValue, includes: JsonValue | None, account_id: str
) -> tuple[list[InboundItem], list[str], list[str]]:
    """Parse one post of `GET /2/users/:id/mentions` as the webhook gives
    the same post: `_parse_xaa_mention`, with the thread keyed by the post
    itself (`tweet:<id>`, as `_parse_tweet_events` keys an Account Activity
    mention; a reply still joins the conversation of the post it answers)
    and retweets ignored. Source: X API v2 Post object, `referenced_tweets`
    (`retweeted`, `replied_to`, `quoted`)."""
    referenced = post.get("referenced_tweets")
    for reference in referenced.list() if referenced is not None else ():
        if reference["type"].str() == "retweeted":
            post_id = post["id"].digits()
            return [], [f"tweet:{post_id}"], [f"retweet {post_id}"]
    items, keys, ignored = _parse_xaa_mention(post, includes, account_id)
    items = [
        replace(item, thread_key=f"{TWEET_THREAD}:{item.platform_message_id}")
        if isinstance(item, InboundMessage)
        else item
        for item in items
    ]
    return items, keys, ignored


def _parse_polled(channel: Channel, root: JsonValue, body: bytes) -> ParsedWebhook:
    """Parse the body PingBack stores for one item it read while polling
    (`PolledBatch.bodies`): `{"pingback_polled": "mentions" | "dm_events",
    "account_id", "data": <the post or DM event as X listed it>,
    "includes": <X's expanded objects it names>}`. The dedupe key is the
    one the webhook delivery of the same post or DM has (`<account>:tweet:
    <id>`, `<account>:dm:<id>`), so whichever comes second is a duplicate."""
    stream = root[POLLED].str()
    account_id = root["account_id"].digits()
    if _is_other_account(channel, account_id):
        return ParsedWebhook(
            event_key=_event_key(account_id, [], body),
            ignored=(f"event for another account ({account_id})",),
        )
    if stream == POLL_MENTIONS:
        parse_item = _parse_polled_mention
    elif stream == POLL_DM_EVENTS:
        parse_item = _parse_v2_dm_event
    else:
        raise MalformedPayload(f"{root[POLLED].path}: unknown stream {stream!r}")
    items, keys, ignored = parse_item(root["data"], root.get("includes"), account_id)
    return ParsedWebhook(
        event_key=_event_key(account_id, keys, body),
        items=tuple(items),
        ignored=tuple(ignored),
    )


def _includes_for(item: dict[str, Any], includes: dict[str, Any]) -> dict[str, Any]:
    """The expanded objects of a page (`includes`) that one listed post or
    DM event names: its author or sender (and the authors of the posts it
    references), its media, the posts it references."""
    posts = {ref.get("id") for ref in item.get("referenced_tweets") or ()}
    referenced = [p for p in includes.get("tweets") or () if p.get("id") in posts]
    user_ids = {item.get("author_id"), item.get("sender_id")}
    user_ids |= {post.get("author_id") for post in referenced}
    keys = set((item.get("attachments") or {}).get("media_keys") or ())
    kept = {
        "users": [u for u in includes.get("users") or () if u.get("id") in user_ids],
        "media": [m for m in includes.get("media") or () if m.get("media_key") in keys],
        "tweets": referenced,
    }
    return {name: found for name, found in kept.items() if found}


def _polled_body(stream: str, account_id: str, item: dict, includes: dict) -> bytes:
    """The body stored for one listed item (see `_parse_polled`)."""
    envelope = {
        POLLED: stream,
        "account_id": account_id,
        "data": item,
        "includes": _includes_for(item, includes),
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _event_key(account_id: str, keys: list[str], body: bytes) -> str:
    """Dedupe key: the account and the inner event ids (stable across AAA and XAA
    and across redeliveries, docs/platforms/x.md, "Echoes and dedupe"); a body
    hash when the body has no ids (typing indicators, read receipts)."""
    key = f"{account_id}:{','.join(keys)}"
    if not keys or len(key) > 255:
        return "sha256:" + hashlib.sha256(body).hexdigest()
    return key


# ----------------------------------------------------------------------- platform


class XPlatform(Platform):
    """X direct messages and mentions (Account Activity API / X Activity API)."""

    channel_type = "x"
    config_serializer = XConfigSerializer
    secret_fields = frozenset(
        {"api_key", "api_secret", "access_token", "access_token_secret", "bearer_token"}
    )
    # `polling`: where a polling channel is ({"started_at": ISO 8601,
    # "mentions" | "dm_events": {"since_id", "paused_until"}}), written by
    # `channels_app.services.x_polling`.
    learned_fields = frozenset({"account_id", "handle", "webhook_id", "polling"})
    receives_webhooks = True
    fetches_profiles = True

    def polled_streams(self, channel: Channel) -> tuple[str, ...]:
        """The streams PingBack reads for the channel: both
        (`POLL_STREAMS`) when its `delivery` is `polling` and setup learned
        its account, else none (webhook channels are never polled)."""
        if channel.config.get("delivery") != DELIVERY_POLLING:
            return ()
        return POLL_STREAMS if channel.config.get("account_id") else ()

    def poll(
        self,
        channel: Channel,
        stream: str,
        *,
        since_id: str | None,
        started_at: datetime,
        resume: dict[str, str] | None = None,
    ) -> PolledBatch:
        """Read what is new in one stream (`mentions` or `dm_events`) since
        the newest id seen (`since_id`), or, before the first item, since
        `started_at`. Reads at most `POLL_MAX_PAGES` pages; stops when X
        says no request is left in the window (`x-rate-limit-remaining:
        0`) or answers 429, and says until when (`x-rate-limit-reset`).
        A poll that stopped before the cursor returns `resume`; given back
        as `resume`, the next poll goes on from there (mentions with
        `until_id`, DM events with the next page's `pagination_token`), so
        a burst larger than one poll is read over several.

        Mentions: `GET /2/users/:id/mentions` with `since_id` (or
        `start_time`), `max_results=100`, expansions `author_id`,
        `attachments.media_keys`, `referenced_tweets.id`,
        `referenced_tweets.id.author_id`, paged with `pagination_token`
        (newest first, down to `since_id`).
        DM events: `GET /2/dm_events` with `dm_event.fields`, expansions
        `sender_id`, `attachments.media_keys`, `referenced_tweets.id`,
        newest first, paged with `pagination_token` until an event at or
        below `since_id` (or older than `started_at`) or the last page.

        Raises the errors of `XApi` other than a 429. Source: X API v2,
        "User mention timeline" and "Direct Messages lookup" (GET
        /2/dm_events), "Rate limits" (the `x-rate-limit-*` headers)."""
        account_id = channel.config["account_id"]
        if stream == POLL_MENTIONS:
            path = f"/2/users/{account_id}/mentions"
            params: dict[str, Any] = {
                "max_results": 100,
                "expansions": "author_id,attachments.media_keys,"
                "referenced_tweets.id,referenced_tweets.id.author_id",
                "tweet.fields": POLL_TWEET_FIELDS,
            }
            if since_id:
                params["since_id"] = since_id
            else:
                params["start_time"] = started_at.astimezone(UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
        elif stream == POLL_DM_EVENTS:
            path = "/2/dm_events"
            params = {
                "max_results": 100,
                "dm_event.fields": POLL_DM_FIELDS,
                "expansions": "sender_id,attachments.media_keys,referenced_tweets.id",
                "tweet.fields": POLL_TWEET_FIELDS,
            }
        else:
            raise ValueError(f"unknown X stream {stream!r}")
        params["user.fields"] = POLL_USER_FIELDS
        params["media.fields"] = POLL_MEDIA_FIELDS
        position = _PollPosition(since_id, started_at, resume)
        return _poll_pages(XApi(channel), stream, account_id, path, params, position)

    def fetch_profile(self, channel: Channel, external_id: str) -> PlatformProfile:
        """A user's profile: `GET /2/users/:id` with `user.fields=name,
        username,profile_image_url` (user context) →
        `{"data": {"id", "name", "username", "profile_image_url"}}`. Raises
        `PermanentDeliveryError` for a user X does not know (a 200 answer
        with `errors` and no `data`) and the errors of `XApi`."""
        return XApi(channel).user_profile(external_id)

    def handshake(self, channel: Channel, request: HttpRequest) -> JsonResponse | None:
        """Answer X's CRC: `GET ?crc_token=T` → `{"response_token": "sha256=…"}`,
        HMAC-SHA256 of T keyed by the consumer secret (docs/platforms/x.md,
        "CRC challenge").
        Raises `SecretMissing` when the channel has no `api_secret`."""
        crc_token = request.GET.get("crc_token")
        if crc_token is None:
            return None
        secret = _consumer_secret(channel)
        return JsonResponse({"response_token": _signature(secret, crc_token.encode())})

    def verify(self, channel: Channel, request: HttpRequest) -> None:
        """Check `x-twitter-webhooks-signature` over the raw body
        (docs/platforms/x.md, "Signature")."""
        secret = _consumer_secret(channel)
        received = request.META.get(SIGNATURE_HEADER, "")
        if not received:
            raise SignatureInvalid("x-twitter-webhooks-signature header missing")
        expected = _signature(secret, request.body)
        if not hmac.compare_digest(received.encode(), expected.encode()):
            raise SignatureInvalid("x-twitter-webhooks-signature does not match")

    def parse(self, channel: Channel, body: bytes) -> ParsedWebhook:
        """Parse an AAA body (`for_user_id` + event arrays; or a `user_event`
        revoke, which has no `for_user_id`), an XAA envelope
        (`data.event_type`) or the body stored for an item read by polling
        (`pingback_polled`, see `_parse_polled`) into messages, deletions and
        alerts. Raises `MalformedPayload`."""
        root = JsonValue.parse(body)
        if POLLED in root:
            return _parse_polled(channel, root, body)
        if "data" in root and "for_user_id" not in root:
            return self._parse_xaa(channel, root, body)
        if USER_EVENT in root and "for_user_id" not in root:
            return _parse_revoke(channel, root, body)
        account_id = root["for_user_id"].digits()
        if _is_other_account(channel, account_id):
            return ParsedWebhook(
                event_key=_event_key(account_id, [], body),
                ignored=(f"event for another account ({account_id})",),
            )
        event_kinds = [key for key in root.keys() if key not in AAA_ENVELOPE_KEYS]
        if not event_kinds:
            raise MalformedPayload("body: no events")
        items: list[InboundItem] = []
        keys: list[str] = []
        ignored: list[str] = []
        for kind in event_kinds:
            if kind == DM_EVENTS:
                found = _parse_dm_events(
                    root[DM_EVENTS], root.get("users"), account_id, v2_users=False
                )
            elif kind == TWEET_EVENTS:
                found = _parse_tweet_events(root[TWEET_EVENTS], account_id)
            elif kind == TWEET_DELETE_EVENTS:
                found = _parse_tweet_deletes(root[TWEET_DELETE_EVENTS], account_id)
            else:
                found = ([], [], [f"{kind} not handled"])
            items += found[0]
            keys += found[1]
            ignored += found[2]
        return ParsedWebhook(
            event_key=_event_key(account_id, keys, body),
            items=tuple(items),
            ignored=tuple(ignored),
        )

    def _parse_xaa(
        self, channel: Channel, root: JsonValue, body: bytes
    ) -> ParsedWebhook:
        data = root["data"]
        event_type = data["event_type"].str()
        if event_type == XAA_REVOKE:
            # `filter` may be empty. Source: X Activity API event payloads,
            # `oauth.revoke` = payload {date_time, user_id, app_id}.
            payload = data["payload"]
            return _revoke(channel, payload["user_id"], payload["date_time"], body)
        account_id = data["filter"]["user_id"].digits()
        if _is_other_account(channel, account_id):
            return ParsedWebhook(
                event_key=_event_key(account_id, [], body),
                ignored=(f"event for another account ({account_id})",),
            )
        payload = data["payload"]
        if event_type in (XAA_DM_RECEIVED, XAA_DM_SENT):
            items, keys, ignored = _parse_dm_events(
                payload[DM_EVENTS], payload.get("users"), account_id, v2_users=True
            )
        elif event_type == XAA_MENTION:
            items, keys, ignored = _parse_xaa_mention(
                payload, data.get("includes"), account_id
            )
        else:
            items, keys, ignored = [], [], [f"event type {event_type} not handled"]
        return ParsedWebhook(
            event_key=_event_key(account_id, keys, body),
            items=tuple(items),
            ignored=tuple(ignored),
        )

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """Send a DM (`dm:` threads) or reply to the customer's newest post
        (`tweet:` threads). Returns the DM event id or the new post's id.

        A DM may carry one photo, GIF or video (`X_DM.max_files`): it is
        uploaded first (`XApi.upload_media`, category `dm_image`, `dm_gif` or
        `dm_video`), then sent as the DM's `attachments[0].media_id`, with the
        text if any. Replies to posts carry no files. Raises
        `PermanentDeliveryError` for a file X does not take (not a photo, GIF
        or video, or over X's size for its kind)."""
        kind, _, _ = message.thread_key.partition(":")
        if message.attachments and kind != DM_THREAD:
            raise PermanentDeliveryError(
                "PingBack cannot send files in replies to posts on X; send the "
                "text alone, or the file by DM."
            )
        if len(message.attachments) > 1:
            raise PermanentDeliveryError(
                "A DM on X carries one file; send the others one by one."
            )
        api = XApi(channel)
        if kind == DM_THREAD:
            _check_length(message.text, message.thread_key)
            media_id = None
            if message.attachments:
                media_id = api.upload_media(message.attachments[0])
            return SendResult(
                api.send_dm(message.recipient_external_id, message.text, media_id)
            )
        if kind == TWEET_THREAD:
            _check_length(message.text, message.thread_key)
            if not message.reply_to_platform_message_id:
                raise PermanentDeliveryError("There is no customer post to reply to.")
            return SendResult(
                api.reply(message.reply_to_platform_message_id, message.text)
            )
        raise PermanentDeliveryError(f"Unknown X thread {message.thread_key!r}.")

    def fetch_media(
        self, channel: Channel, attachment: dict[str, Any]
    ) -> FetchedMedia | None:
        """Download an inbound attachment's `url` under the outbound HTTP policy
        (`pingback.egress`). DM media (`https://ton.twitter.com/1.1/ton/data/
        dm/...`) needs the account's user context: the GET is signed with
        OAuth 1.0a (HMAC-SHA1 over the real URL, the consumer key/secret and
        the access token/secret, as tweepy signs API calls), or carries
        `access_token` as an OAuth 2.0 bearer token when the channel has no
        OAuth 1.0a secrets; the signature goes to `ton.twitter.com` only.
        Post media (`pbs.twimg.com`, `video.twimg.com`) is public and fetched
        without credentials. Against a stand-in (`X_API_BASE_URL` is not
        `https://api.twitter.com`), the request goes to `X_API_BASE_URL` with
        the same path, signed for the real URL, as API calls are
        (docs/platforms/x.md, "tweepy 4.17.0").

        Returns None when the attachment has no url. Raises
        `PermanentDeliveryError` for a link outside X's media hosts, a
        redirect leaving them, a refused download (401/403/404) or a file over
        `MEDIA_MAX_BYTES`; `TransientDeliveryError` for network errors,
        timeouts, 429 and 5xx.
        Source: X "Direct Messages > Message attachments > Retrieving media"
        (`media_url_https` must be fetched signed with the user's access token,
        OAuth 1.0a), X "Extended entities object"."""
        url = attachment.get("url")
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname not in X_MEDIA_HOSTS:
            raise PermanentDeliveryError(
                f"PingBack fetches X media only from X's servers; this link "
                f"points to {parts.hostname or 'an unknown host'}."
            )
        target = url
        base = settings.X_API_BASE_URL
        if base != TWEEPY_HOST:
            target = base + url[len(f"https://{parts.hostname}") :]
        credentials = None
        if parts.hostname == X_DM_MEDIA_HOST:
            credentials = _media_credentials(channel, url)
        fetched = media_download(
            target,
            source="X",
            credentials=credentials,
            credential_hosts=(X_DM_MEDIA_HOST, base),
            only_hosts=(X_DM_MEDIA_HOST, "*.twimg.com", base),
        )
        return FetchedMedia(
            content=fetched.content,
            content_type=fetched.content_type
            or attachment.get("content_type", "application/octet-stream"),
            filename=parts.path.rsplit("/", 1)[-1],
        )

    def setup_name(self, config: dict[str, Any]) -> str:
        """The account's "@<handle>"."""
        handle = config.get("handle")
        return f"@{handle}" if handle else ""

    def on_create(self, channel: Channel) -> SetupResult:
        """Verify the credentials (`GET /2/users/me`), then register the webhook
        (`POST /2/webhooks`) and subscribe the account to Account Activity
        (`POST /2/account_activity/webhooks/:id/subscriptions/all`); for a
        `polling` channel, see `_polling_setup` instead. Name: "@<handle>"
        (`username` of `/2/users/me`)."""
        api = XApi(channel)
        try:
            account_id, handle = api.me()
        except DeliveryError as error:
            return SetupResult(
                state="failed",
                message=f"X did not accept the credentials: {error.detail}",
            )
        learned = {"account_id": account_id, "handle": handle}
        name = self.setup_name(learned)
        done = f"Connected as @{handle} (X user id {account_id})."
        url = self.webhook_url(channel)
        if channel.config.get("delivery") == DELIVERY_POLLING:
            return self._polling_setup(channel, learned, done, url)
        by_hand = (
            f"register the webhook URL {url} in the X Developer Console and "
            "subscribe the account to it"
        )
        if not channel.secrets.get("api_secret"):
            return SetupResult(
                state="action_required",
                message=f"{done} Add api_secret (the API Key Secret): X signs its "
                "webhooks with it, and PingBack refuses unsigned ones.",
                config=learned,
                name=name,
            )
        if not channel.secrets.get("bearer_token"):
            return SetupResult(
                state="action_required",
                message=f"{done} Add bearer_token so PingBack can register the "
                f"webhook, or {by_hand}.",
                config=learned,
                name=name,
            )
        try:
            learned["webhook_id"] = api.ensure_webhook(url)
            api.subscribe(learned["webhook_id"])
        except DeliveryError as error:
            return SetupResult(
                state="action_required",
                message=f"{done} X refused the webhook setup: {error.detail}. "
                f"Fix the app's settings and save the channel again, or {by_hand}.",
                config=learned,
                name=name,
            )
        return SetupResult(
            state="ready",
            message=f"{done} Webhook {learned['webhook_id']} registered at {url} "
            "and the account subscribed: DMs and mentions will arrive.",
            config=learned,
            name=name,
        )

    def _polling_setup(
        self, channel: Channel, learned: dict[str, Any], done: str, url: str | None
    ) -> SetupResult:
        """Setup of a polling channel: no webhook is registered; the
        account's subscription to a webhook at this channel's URL (one
        registered by hand, or left from webhook mode) is removed, best
        effort, so X stops posting there. Polling starts from now, less
        `X_POLL_LOOKBACK` seconds (what arrived meanwhile, say while the
        channel switched from webhook mode, is read; dedupe drops what is
        already stored); a channel that was polling keeps its cursors."""
        polling = channel.config.get("polling")
        if not isinstance(polling, dict) or not polling.get("started_at"):
            since = datetime.now(UTC) - timedelta(seconds=settings.X_POLL_LOOKBACK)
            polling = {"started_at": since.isoformat()}
        learned = {**learned, "polling": polling}
        if url and channel.secrets.get("bearer_token"):
            try:
                XApi(channel).unsubscribe_url(url, learned["account_id"])
            except DeliveryError as error:
                logger.warning(
                    "x.unsubscribe_failed",
                    extra={"channel_id": str(channel.id), "reason": error.reason},
                )
        every = int(settings.X_POLL_INTERVAL)
        return SetupResult(
            state="ready",
            message=f"{done} Polling: PingBack reads the account's mentions and "
            f"DMs every {every} seconds; no webhook is registered.",
            config=learned,
            name=self.setup_name(learned),
        )

    def on_delete(self, channel: Channel) -> None:
        """Remove the webhook registered by `on_create` (best effort)."""
        webhook_id = channel.config.get("webhook_id")
        if not webhook_id or not channel.secrets.get("bearer_token"):
            return
        try:
            XApi(channel).delete_webhook(webhook_id)
        except DeliveryError as error:
            logger.warning(
                "x.webhook_delete_failed",
                extra={"channel_id": str(channel.id), "reason": error.reason},
            )


def _consumer_secret(channel: Channel) -> str:
    secret = channel.secrets.get("api_secret")
    if not secret:
        logger.error(
            "webhook.secret_missing",
            extra={"channel_id": str(channel.id), "platform": "x"},
        )
        raise SecretMissing("the channel has no api_secret to verify X webhooks")
    return secret


def _media_credentials(channel: Channel, url: str) -> dict[str, str]:
    """The `Authorization` header for a GET of X DM media at `url`: OAuth 1.0a
    (RFC 5849, HMAC-SHA1, the signature over `url` and its query) when the
    channel has `api_secret` and `access_token_secret`, else `access_token`
    as an OAuth 2.0 user bearer token."""
    secrets = channel.secrets
    if not (secrets.get("api_secret") and secrets.get("access_token_secret")):
        return bearer_credentials(secrets["access_token"])
    client = oauth1.Client(
        secrets["api_key"],
        client_secret=secrets["api_secret"],
        resource_owner_key=secrets["access_token"],
        resource_owner_secret=secrets["access_token_secret"],
    )
    _, headers, _ = client.sign(url, http_method="GET")
    return {"Authorization": headers["Authorization"]}


def _media_category(attachment: OutboundAttachment) -> str:
    """X's `media_category` for a DM file: `dm_gif` (image/gif), `dm_image`
    (other images), `dm_video`. Raises `PermanentDeliveryError` for another
    kind or a file over X's limit for its kind (`DM_MEDIA_LIMITS`)."""
    if attachment.content_type == "image/gif":
        category = "dm_gif"
    elif attachment.content_type in DM_IMAGE_TYPES:
        category = "dm_image"
    elif attachment.content_type in DM_VIDEO_TYPES:
        category = "dm_video"
    else:
        raise PermanentDeliveryError(
            f"X DMs carry photos, GIFs and videos only; {attachment.filename} is "
            f"{attachment.content_type or 'of an unknown type'}."
        )
    noun, limit = DM_MEDIA_LIMITS[category]
    if attachment.size > limit:
        raise PermanentDeliveryError(
            f"X takes {noun} up to {limit // 2**20} MB; {attachment.filename} is "
            f"{attachment.size / 2**20:.1f} MB."
        )
    return category


def _is_other_account(channel: Channel, account_id: str) -> bool:
    known = channel.config.get("account_id")
    return bool(known) and known != account_id


def _check_length(text: str, thread_key: str) -> None:
    refusal = x_capabilities(thread_key).text_refusal(len(text), subject="one")
    if refusal:
        raise PermanentDeliveryError(refusal)


# --------------------------------------------------------------------- SDK client


class _XHostAdapter(HTTPAdapter):
    """Send tweepy's requests for `https://api.twitter.com` to `X_API_BASE_URL`
    (tweepy 4.17 hard-codes the host, docs/platforms/x.md, "tweepy 4.17.0") with
    a timeout. The OAuth 1.0a signature stays computed over the real URL."""

    def __init__(self, target: str, timeout: float) -> None:
        super().__init__()
        self.target = target
        self.timeout = timeout

    def send(self, request, **kwargs):
        if self.target != TWEEPY_HOST and request.url.startswith(TWEEPY_HOST):
            request.url = self.target + request.url[len(TWEEPY_HOST) :]
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return super().send(request, **kwargs)


def _client_build(
    key: tuple[str, float, tuple[tuple[str, str | None], ...]],
) -> tweepy.Client:
    """A tweepy client for `(X_API_BASE_URL, X_API_TIMEOUT, credentials)`,
    its session's requests for `TWEEPY_HOST` sent through `_XHostAdapter`."""
    base_url, timeout, credentials = key
    client = tweepy.Client(wait_on_rate_limit=False, **dict(credentials))
    client.session.mount(TWEEPY_HOST, _XHostAdapter(base_url, timeout))
    return client


# Per thread and per (X_API_BASE_URL, X_API_TIMEOUT, credentials).
_clients: ThreadClients[tuple, tweepy.Client] = ThreadClients(
    _client_build, lambda client: client.session.close()
)


def _client(**credentials: str | None) -> tweepy.Client:
    """A tweepy client signing with `credentials`, reaching `X_API_BASE_URL`.

    Kept per thread and per credentials and settings (`ThreadClients`, the
    last `CLIENTS_PER_THREAD` of them), so a delivery thread's sends through
    one channel reuse its HTTP connection (keep-alive) instead of opening a
    connection, and in production a TLS session, for every call. A requests
    session (its connections and cookies) is not shared between threads or
    credentials."""
    return _clients.get(
        (
            settings.X_API_BASE_URL,
            settings.X_API_TIMEOUT,
            tuple(sorted(credentials.items())),
        )
    )


def _reason(error: tweepy.HTTPException) -> str:
    messages = [m for m in error.api_messages if m]
    status = error.response.status_code
    return f"{'; '.join(messages) or error.response.reason} (HTTP {status})"


def _delivery_error(error: Exception) -> DeliveryError:
    """Classify a tweepy/requests failure (docs/platforms/x.md, "Errors PingBack
    maps", "Credits exhausted (Pay Per Use)", "Rate limits")."""
    if isinstance(error, requests.RequestException):
        return TransientDeliveryError(f"Could not reach the X API: {error}")
    if not isinstance(error, tweepy.HTTPException):
        return PermanentDeliveryError(f"X client error: {error}")
    status = error.response.status_code
    detail = _reason(error)
    if isinstance(error, tweepy.TooManyRequests):
        reset = error.reset_time
        wait = max(1.0, reset - time.time()) if reset else None
        return TransientDeliveryError(
            "X rate limit reached",
            status_code=429,
            retry_after=wait,
            rate_limited=True,
            detail=detail,
        )
    if isinstance(error, tweepy.TwitterServerError):
        return TransientDeliveryError(
            f"X API error: {detail}", status_code=status, detail=detail
        )
    if status == 402 or "credits" in error.response.text.lower():
        return PermanentDeliveryError(
            CREDITS_EXHAUSTED,
            status_code=status,
            channel_alert=CREDITS_EXHAUSTED,
            detail=detail,
        )
    if status == 401:
        reason = f"X rejected the channel's credentials: {detail}"
        return PermanentDeliveryError(
            reason, status_code=status, channel_alert=reason, detail=detail
        )
    return PermanentDeliveryError(
        f"X refused the message: {detail}", status_code=status, detail=detail
    )


class XApi:
    """The X API calls PingBack makes, for one channel, through tweepy.

    User-context calls sign with OAuth 1.0a when the channel has `api_secret` and
    `access_token_secret`, else send `access_token` as an OAuth 2.0 user token;
    webhook management uses the app-only `bearer_token`. Every method raises
    `TransientDeliveryError` or `PermanentDeliveryError`.
    """

    def __init__(self, channel: Channel) -> None:
        secrets = channel.secrets
        self.oauth1 = bool(
            secrets.get("api_secret") and secrets.get("access_token_secret")
        )
        if self.oauth1:
            self.user = _client(
                consumer_key=secrets["api_key"],
                consumer_secret=secrets["api_secret"],
                access_token=secrets["access_token"],
                access_token_secret=secrets["access_token_secret"],
            )
        else:
            self.user = _client(bearer_token=secrets["access_token"])
        self.app = _client(bearer_token=secrets.get("bearer_token"))

    def _call(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (tweepy.TweepyException, requests.RequestException) as error:
            raise _delivery_error(error) from error

    def me(self) -> tuple[str, str]:
        """`GET /2/users/me` → (user id, username)."""
        response = self._call(self.user.get_me, user_auth=self.oauth1)
        return str(response.data.id), response.data.username

    def user_profile(self, user_id: str) -> PlatformProfile:
        """`GET /2/users/:id?user.fields=name,username,profile_image_url`."""
        response = self._call(
            self.user.get_user,
            id=user_id,
            user_fields=["name", "username", "profile_image_url"],
            user_auth=self.oauth1,
        )
        user = response.data
        if user is None:
            details = "; ".join(
                str(error.get("detail") or error.get("title") or error)
                for error in (response.errors or [])
            )
            raise PermanentDeliveryError(
                f"X has no user {user_id}: {details or 'no data in the answer'}"
            )
        return PlatformProfile(
            name=user.name or "",
            handle=user.username or "",
            avatar_url=getattr(user, "profile_image_url", None) or "",
        )

    def send_dm(
        self, participant_id: str, text: str, media_id: str | None = None
    ) -> str:
        """`POST /2/dm_conversations/with/:participant_id/messages` with
        `{"text", "attachments": [{"media_id"}]}` (either may be absent) →
        dm_event_id."""
        response = self._call(
            self.user.create_direct_message,
            participant_id=participant_id,
            text=text or None,
            media_id=media_id,
            user_auth=self.oauth1,
        )
        return str(response.data["dm_event_id"])

    def upload_media(self, attachment: OutboundAttachment) -> str:
        """Upload a file for a DM and return its media id, in X's chunked
        upload (user context):
            `POST /2/media/upload/initialize` {media_type, total_bytes,
                media_category: dm_image | dm_gif | dm_video} → data.id;
            `POST /2/media/upload/:id/append` {media: base64 chunk of at most
                `MEDIA_CHUNK_BYTES`, segment_index}, for each chunk;
            `POST /2/media/upload/:id/finalize` → data.processing_info;
            while a video is `pending`/`in_progress`: wait `check_after_secs`
                and ask `GET /2/media/upload?command=STATUS&media_id=:id`,
                at most `MEDIA_PROCESSING_WAIT` seconds in all.
        Raises `PermanentDeliveryError` for a kind X does not take, a file over
        X's size for its kind, or processing X reports `failed`;
        `TransientDeliveryError` when processing outlasts the wait; the errors
        of `_call`. Source: X API v2 "Media upload" (initialize, append,
        finalize, STATUS) and "Media best practices" (sizes)."""
        category = _media_category(attachment)
        with attachment.open() as file:
            content = file.read()
        path = "/2/media/upload"
        started = self._call(
            self.user.request,
            "POST",
            f"{path}/initialize",
            json={
                "media_type": attachment.content_type,
                "total_bytes": len(content),
                "media_category": category,
            },
            user_auth=self.oauth1,
        )
        media_id = str(started.json()["data"]["id"])
        for index, start in enumerate(range(0, len(content), MEDIA_CHUNK_BYTES)):
            chunk = content[start : start + MEDIA_CHUNK_BYTES]
            self._call(
                self.user.request,
                "POST",
                f"{path}/{media_id}/append",
                json={
                    "media": base64.b64encode(chunk).decode(),
                    "segment_index": index,
                },
                user_auth=self.oauth1,
            )
        finished = self._call(
            self.user.request,
            "POST",
            f"{path}/{media_id}/finalize",
            user_auth=self.oauth1,
        )
        info = finished.json()["data"].get("processing_info")
        deadline = time.monotonic() + MEDIA_PROCESSING_WAIT
        while info and info.get("state") in ("pending", "in_progress"):
            wait = float(info.get("check_after_secs") or 1)
            if time.monotonic() + wait > deadline:
                raise TransientDeliveryError(
                    f"X is still processing {attachment.filename}; trying again."
                )
            time.sleep(wait)
            status = self._call(
                self.user.request,
                "GET",
                path,
                params={"command": "STATUS", "media_id": media_id},
                user_auth=self.oauth1,
            )
            info = status.json()["data"].get("processing_info")
        if info and info.get("state") == "failed":
            error = info.get("error") or {}
            raise PermanentDeliveryError(
                f"X could not process {attachment.filename}: "
                f"{error.get('message') or error.get('name') or 'no reason given'}."
            )
        return media_id

    def reply(self, tweet_id: str, text: str) -> str:
        """`POST /2/tweets` in reply to `tweet_id` → the new post's id."""
        response = self._call(
            self.user.create_tweet,
            text=text,
            in_reply_to_tweet_id=tweet_id,
            user_auth=self.oauth1,
        )
        return str(response.data["id"])

    def ensure_webhook(self, url: str) -> str:
        """Register `url` (`POST /2/webhooks`; X runs a CRC against it) and return
        its webhook id; an existing registration of the same URL is reused."""
        try:
            response = self._call(
                self.app.request, "POST", "/2/webhooks", json={"url": url}
            )
        except PermanentDeliveryError as error:
            if "DuplicateUrlFailed" not in error.detail:
                raise
            listed = self._call(self.app.request, "GET", "/2/webhooks").json()
            for webhook in listed.get("data", []):
                if webhook.get("url") == url:
                    return str(webhook["id"])
            raise
        return str(response.json()["data"]["id"])

    def subscribe(self, webhook_id: str) -> None:
        """Subscribe the account to the webhook's Account Activity events."""
        path = f"/2/account_activity/webhooks/{webhook_id}/subscriptions/all"
        try:
            self._call(self.user.request, "POST", path, user_auth=self.oauth1)
        except PermanentDeliveryError as error:
            if "DuplicateSubscriptionFailed" not in error.detail:
                raise

    def delete_webhook(self, webhook_id: str) -> None:
        """`DELETE /2/webhooks/:id`."""
        self._call(self.app.request, "DELETE", f"/2/webhooks/{webhook_id}")

    def read(self, path: str, params: dict[str, Any]) -> tuple[dict, dict[str, str]]:
        """`GET path` (user context) → (the JSON answer, the response
        headers, lower-cased). Raises the errors of `_call`; a 429 is a
        `TransientDeliveryError` with `rate_limited` and `retry_after`
        (seconds until `x-rate-limit-reset`)."""
        response = self._call(
            self.user.request, "GET", path, params=params, user_auth=self.oauth1
        )
        headers = {name.lower(): value for name, value in response.headers.items()}
        return response.json(), headers

    def unsubscribe_url(self, url: str, account_id: str) -> int:
        """Remove the account's Account Activity subscription from every
        webhook of the app registered at `url` (`GET /2/webhooks`, then
        `DELETE /2/account_activity/webhooks/:id/subscriptions/:user_id/all`,
        app-only); return how many webhooks that was."""
        listed = self._call(self.app.request, "GET", "/2/webhooks").json()
        found = [w for w in listed.get("data") or () if w.get("url") == url]
        for webhook in found:
            path = (
                f"/2/account_activity/webhooks/{webhook['id']}/subscriptions/"
                f"{account_id}/all"
            )
            self._call(self.app.request, "DELETE", path)
        return len(found)


# ------------------------------------------------------------------------ polling


@dataclass(frozen=True)
class PolledBatch:
    """What one poll of a stream read (`XPlatform.poll`).

    `bodies`: one body per new item, oldest first, for
    `inbound_event_record` (see `_parse_polled`). `newest_id`: the stream's
    new cursor, or None to keep the old one (nothing new, or not everything
    down to the cursor was read yet). `resume`: where the next poll goes on
    when this one stopped before the cursor (more pages than
    `POLL_MAX_PAGES`, or the rate limit): `{"newest_id": the newest id read
    so far, "until_id": the oldest (mentions) | "pagination_token": the next
    page (DM events)}`; None when the stream was read down to the cursor.
    `paused_until`: when X's rate-limit window for the stream resets (epoch
    seconds), if no request is left in it; the stream is not read before
    then."""

    bodies: tuple[bytes, ...] = ()
    newest_id: str | None = None
    resume: dict[str, str] | None = None
    paused_until: float | None = None


def _rate_reset(headers: dict[str, str]) -> float | None:
    """`x-rate-limit-reset` (epoch seconds) when `x-rate-limit-remaining`
    is 0, else None."""
    if headers.get("x-rate-limit-remaining", "").strip() != "0":
        return None
    try:
        return float(headers["x-rate-limit-reset"])
    except (KeyError, ValueError):
        return time.time() + 60.0


@dataclass(frozen=True)
class _PollPosition:
    """Where a stream's poll starts: the newest id read (`since_id`), or,
    before the first item, `started_at`; and `resume`
    (`PolledBatch.resume`) when the last poll stopped early."""

    since_id: str | None
    started_at: datetime
    resume: dict[str, str] | None = None


def _is_older(item: dict, position: _PollPosition) -> bool:
    """A listed DM event PingBack already read: at or below `since_id`, or,
    before the first item, sent before `started_at`."""
    if position.since_id:
        return int(item["id"]) <= int(position.since_id)
    created = item.get("created_at")
    if not created:
        return False
    sent = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return sent < position.started_at


def _poll_pages(
    api: XApi,
    stream: str,
    account_id: str,
    path: str,
    params: dict[str, Any],
    position: _PollPosition,
) -> PolledBatch:
    """Read the pages of a stream for `XPlatform.poll`, from where the last
    poll stopped (`position.resume`) when it stopped early."""
    resume = position.resume or {}
    token = resume.get("pagination_token") if stream == POLL_DM_EVENTS else None
    if stream == POLL_MENTIONS and resume.get("until_id"):
        params = {**params, "until_id": resume["until_id"]}
    found: list[bytes] = []
    ids: list[int] = []
    complete = False
    paused_until = None
    for _ in range(POLL_MAX_PAGES):
        page_params = {**params, "pagination_token": token} if token else params
        try:
            answer, headers = api.read(path, page_params)
        except TransientDeliveryError as error:
            if not error.rate_limited:
                raise
            paused_until = time.time() + (error.retry_after or 60.0)
            break
        paused_until = _rate_reset(headers)
        includes = answer.get("includes") or {}
        for item in answer.get("data") or ():
            if stream == POLL_DM_EVENTS and _is_older(item, position):
                complete = True
                break
            found.append(_polled_body(stream, account_id, item, includes))
            ids.append(int(item["id"]))
        token = (answer.get("meta") or {}).get("next_token")
        if complete or not token:
            complete = True
            break
        if paused_until is not None:
            break
    found.reverse()  # X lists newest first; ingest oldest first
    newest = max([int(resume.get("newest_id") or 0), *ids])
    if complete:
        return PolledBatch(
            bodies=tuple(found),
            newest_id=str(newest) if newest else None,
            paused_until=paused_until,
        )
    if ids:
        where = {"until_id": str(min(ids))} if stream == POLL_MENTIONS else {}
        if stream == POLL_DM_EVENTS and token:
            where = {"pagination_token": token}
        resume = {"newest_id": str(newest), **where}
    return PolledBatch(
        bodies=tuple(found), resume=resume or None, paused_until=paused_until
    )

"""The fake X API v2 endpoints (docs/platforms/x.md, "Webhook registration and
subscriptions", "Sending", "Notes for the X fake"), and the user lookup
``GET /2/users/:id``.

:func:`handle_x_request` serves one authenticated request: it finds the route
in :data:`X_ROUTES`, enforces the kind of authentication the endpoint needs,
applies the forced failure modes (503, 429, 402) and calls the handler.
Handlers take ``(x, request)`` where ``x`` is the
:class:`~sandbox.platforms.x.standin.XStandIn`: ``x.state`` is its
:class:`~sandbox.platforms.x.state.XState`, ``x.crc`` a ``(url,
consumer_secret) -> bool`` callable.

Error bodies copy X: problem JSON ``{"title", "detail", "type", "status"}``,
and ``{"errors": [{"message"}], "title": "Invalid Request", …}`` for refused
webhook and subscription operations.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import TYPE_CHECKING, Any

from sandbox.core.http import (
    BadRequestBody,
    Request,
    Response,
    json_response,
    match_route,
    no_content,
    route,
)
from sandbox.core.modes import RATE_LIMITED, SERVER_ERROR
from sandbox.platforms.x.auth import AuthResult
from sandbox.platforms.x.payloads import (
    DEMO_CUSTOMER,
    XApp,
    XUser,
    iso_timestamp,
    v2_post,
)
from sandbox.platforms.x.state import CREDITS_DEPLETED, XApiError

if TYPE_CHECKING:
    from sandbox.platforms.x.standin import XStandIn

DM_TEXT_LIMIT = 10_000
RATE_LIMIT_CEILING = 15
PROBLEMS = "https://api.twitter.com/2/problems"

UNAUTHORIZED_BODY = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
CREDITS_DEPLETED_BODY = {
    "account_id": 1243608864848629761,
    "title": "CreditsDepleted",
    "detail": "Your enrolled account [1243608864848629761] does not have any "
    "credits to fulfill this request.",
    "type": f"{PROBLEMS}/credits",
}
"""The 402 body of docs/platforms/x.md, "Credits exhausted (Pay Per Use)",
verbatim."""

USER = "user"
APP = "app"
EITHER = "either"
"""Endpoint authentication kinds: user context, app-only, or both."""


# --------------------------------------------------------------------------
# Error responses
# --------------------------------------------------------------------------


def problem(
    status: int, title: str, detail: str, type_: str = "about:blank"
) -> Response:
    """A problem-JSON response ``{"title", "detail", "type", "status"}``."""
    body = {"title": title, "detail": detail, "type": type_, "status": status}
    return json_response(status, body)


def unauthorized() -> Response:
    """401 for missing or invalid credentials."""
    return json_response(401, UNAUTHORIZED_BODY)


def unsupported_authentication(auth: AuthResult, needed: str) -> Response:
    """403 when the endpoint needs user context (or app-only) and got the other."""
    supported = (
        "[OAuth 1.0a User Context, OAuth 2.0 User Context]"
        if needed == USER
        else "[OAuth 2.0 Application-Only]"
    )
    detail = (
        f"Authenticating with {auth.description} is forbidden for this endpoint.  "
        f"Supported authentication types are {supported}."
    )
    return problem(
        403,
        "Unsupported Authentication",
        detail,
        f"{PROBLEMS}/unsupported-authentication",
    )


def invalid_request(message: str, parameter: str | None = None) -> Response:
    """400 ``Invalid Request`` with one ``errors[].message`` (X's shape)."""
    error: dict[str, Any] = {"message": message}
    if parameter is not None:
        error["parameters"] = {parameter: []}
    body = {
        "errors": [error],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": f"{PROBLEMS}/invalid-request",
    }
    return json_response(400, body)


def not_found(detail: str = "Sorry, that page does not exist.") -> Response:
    """404 problem JSON."""
    return problem(404, "Not Found Error", detail, f"{PROBLEMS}/resource-not-found")


def rate_limited(reset_in: int = 1) -> Response:
    """429 with the ``x-rate-limit-*`` headers; the window resets ``reset_in``
    seconds from now (docs/platforms/x.md, "Rate limits")."""
    headers = {
        "x-rate-limit-limit": str(RATE_LIMIT_CEILING),
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": str(int(time.time()) + reset_in),
    }
    body = {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
    return json_response(429, body, headers)


def forced_failure(kind: str | None, reset_in: int = 1) -> Response | None:
    """The response for a failure mode taken from the state, if any."""
    if kind == SERVER_ERROR:
        return problem(503, "Service Unavailable", "Service Unavailable")
    if kind == RATE_LIMITED:
        return rate_limited(reset_in)
    if kind == CREDITS_DEPLETED:
        return json_response(402, CREDITS_DEPLETED_BODY)
    return None


def auth_refusal(needed: str, auth: AuthResult | None) -> Response | None:
    """401/403 when ``auth`` does not fit an endpoint needing ``needed``."""
    if auth is None or not auth.valid:
        return unauthorized()
    if needed != EITHER and (needed == USER) != auth.user_context:
        return unsupported_authentication(auth, needed)
    return None


# --------------------------------------------------------------------------
# Request helpers
# --------------------------------------------------------------------------


def _app(req: Request) -> XApp:
    """The authenticated app (handlers only run after :func:`auth_refusal`)."""
    assert req.auth is not None and req.auth.app is not None
    return req.auth.app


def _user_id(req: Request) -> str:
    """The authenticated account id of a user-context request."""
    assert req.auth is not None and req.auth.user_id is not None
    return req.auth.user_id


def _text_field(body: dict[str, Any], limit: int | None = None) -> str:
    """``body["text"]`` as a non-empty string within ``limit`` characters."""
    text = body.get("text")
    if not isinstance(text, str) or not text:
        raise BadRequestBody("$.text: is missing but it is required")
    if limit is not None and len(text) > limit:
        raise BadRequestBody(f"$.text: must be at most {limit} characters")
    return text


def conversation_id_for(user_a: str, user_b: str) -> str:
    """A one-to-one ``dm_conversation_id``: ``"<smaller>-<larger>"``
    (docs/platforms/x.md, "Sending")."""
    low, high = sorted((user_a, user_b), key=int)
    return f"{low}-{high}"


def _other_participant(dm_conversation_id: str, sender_id: str) -> str | None:
    """The other user of a one-to-one conversation id, else ``None``."""
    parts = dm_conversation_id.split("-")
    if len(parts) == 2 and sender_id in parts:
        return parts[1] if parts[0] == sender_id else parts[0]
    return None


# --------------------------------------------------------------------------
# Users and DMs (docs/platforms/x.md, "Sending", "Profiles")
# --------------------------------------------------------------------------


def get_me(x: XStandIn, req: Request) -> Response:
    """``GET /2/users/me`` → ``{"data": {"id", "name", "username"}}``."""
    account = _app(req).account
    data = {"id": account.id, "name": account.name, "username": account.screen_name}
    return json_response(200, {"data": data})


def _known_user(x: XStandIn, user_id: str) -> XUser | None:
    """An X user the sandbox knows: a registered app's account, the demo
    customer, or a customer who wrote through the sandbox."""
    for app in x.state.app_list():
        if app.account.id == user_id:
            return app.account
    if user_id == DEMO_CUSTOMER.id:
        return DEMO_CUSTOMER
    for event in reversed(x.state.snapshot()["inbound"]):
        customer = event.get("customer") or {}
        if customer.get("id") == user_id:
            return XUser.from_dict(customer)
    return None


def get_user(x: XStandIn, req: Request) -> Response:
    """``GET /2/users/:id?user.fields=…`` → ``{"data": {"id", "name",
    "username", …}}``; the fields beyond those three only when named in
    ``user.fields`` (``profile_image_url``). A user X does not know answers
    200 with ``errors`` and no ``data``, as X does."""
    user_id = req.params["user_id"]
    user = _known_user(x, user_id)
    if user is None:
        error = {
            "value": user_id,
            "detail": f"Could not find user with id: [{user_id}].",
            "title": "Not Found Error",
            "resource_type": "user",
            "parameter": "id",
            "resource_id": user_id,
            "type": f"{PROBLEMS}/resource-not-found",
        }
        return json_response(200, {"errors": [error]})
    asked = set((req.query.get("user.fields") or "").split(","))
    data = {"id": user.id, "name": user.name, "username": user.screen_name}
    if "profile_image_url" in asked:
        data["profile_image_url"] = user.avatar_url
    return json_response(200, {"data": data})


def _send_dm(
    x: XStandIn, req: Request, participant_id: str | None, conversation_id: str
) -> Response:
    """Store a DM and answer 201 ``{"data": {"dm_conversation_id", "dm_event_id"}}``."""
    body = req.json_object()
    attachments = _dm_attachments(x, req, body.get("attachments"))
    text = (
        _text_field(body, DM_TEXT_LIMIT) if body.get("text") or not attachments else ""
    )
    record = x.state.record_dm(
        sender_id=_user_id(req),
        participant_id=participant_id,
        dm_conversation_id=conversation_id,
        text=text,
        attachments=attachments,
    )
    data = {"dm_conversation_id": conversation_id, "dm_event_id": record["dm_event_id"]}
    time.sleep(x.state.get_modes()["dm_answer_delay"])
    return json_response(201, {"data": data})


def _dm_attachments(x: XStandIn, req: Request, given: Any) -> list[dict[str, Any]]:
    """A DM's ``attachments`` (``[{"media_id"}]``, at most one): each a
    finalized ``dm_*`` upload of the sender, described for ``sent_dms``."""
    if not given:
        return []
    if not isinstance(given, list) or len(given) != 1 or not isinstance(given[0], dict):
        raise BadRequestBody("$.attachments: must hold exactly one {media_id}")
    media_id = str(given[0].get("media_id") or "")
    upload = x.state.uploaded(media_id, _user_id(req))
    if upload is None or not upload["media_category"].startswith("dm_"):
        raise BadRequestBody(f"$.attachments[0].media_id: {media_id} is not usable")
    return [
        {
            "media_id": media_id,
            "media_type": upload["media_type"],
            "media_category": upload["media_category"],
            "size": len(upload["content"]),
            "sha256": hashlib.sha256(upload["content"]).hexdigest(),
        }
    ]


def dm_with_participant(x: XStandIn, req: Request) -> Response:
    """``POST /2/dm_conversations/with/:participant_id/messages``, body ``{"text"}``."""
    participant_id = req.params["participant_id"]
    conversation = conversation_id_for(_user_id(req), participant_id)
    return _send_dm(x, req, participant_id, conversation)


def dm_in_conversation(x: XStandIn, req: Request) -> Response:
    """``POST /2/dm_conversations/:dm_conversation_id/messages``, body ``{"text"}``."""
    conversation = req.params["dm_conversation_id"]
    participant_id = _other_participant(conversation, _user_id(req))
    return _send_dm(x, req, participant_id, conversation)


# --------------------------------------------------------------------------
# Reading mentions and DM events (docs/platforms/x.md, "Polling")
# --------------------------------------------------------------------------


def _read_quota(x: XStandIn, req: Request, endpoint: str) -> Response | dict:
    """Count the read against its window: the ``x-rate-limit-*`` headers to
    answer with, or a 429 when the window is used up."""
    time.sleep(x.state.get_modes()["read_delay"])
    limit, remaining, reset = x.state.take_read(endpoint, _user_id(req))
    if remaining < 0:
        return rate_limited(max(1, reset - int(time.time())))
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(reset),
    }


def _page(
    items: list[dict[str, Any]], req: Request, default: int, low: int
) -> tuple[list[dict[str, Any]], str | None] | Response:
    """One page of ``items`` (newest first, each with an ``id`` or
    ``event_id``) for ``max_results`` and ``pagination_token``, and the next
    page's token. The token is opaque to clients; here it names the last
    item of the page, so later items do not shift the pages."""
    query = req.query
    token = query.get("pagination_token") or ""
    try:
        size = int(query.get("max_results") or default)
        after = int(token.removeprefix("t")) if token else None
    except ValueError:
        return invalid_request(
            "The `pagination_token` query parameter value is not valid",
            "pagination_token",
        )
    if not low <= size <= 100:
        return invalid_request(
            f"The `max_results` query parameter value [{size}] is not between "
            f"{low} and 100",
            "max_results",
        )
    if after is not None:
        items = [item for item in items if _item_id(item) < after]
    page = items[:size]
    more = len(items) > size
    return page, (f"t{_item_id(page[-1])}" if more else None)


def _item_id(item: dict[str, Any]) -> int:
    return int(item.get("event_id") or item["id"])


def _customer(record: dict[str, Any]) -> XUser:
    return XUser.from_dict(record["customer"])


def user_mentions(x: XStandIn, req: Request) -> Response:
    """``GET /2/users/:id/mentions`` (``since_id``, ``until_id``, ``start_time``,
    ``max_results`` 5-100, ``pagination_token``, ``expansions=author_id``):
    the posts the fake customer wrote mentioning the account, newest first,
    as v2 post objects, with ``includes.users`` and ``meta {result_count,
    newest_id, oldest_id, next_token}``; ``x-rate-limit-*`` headers on
    every answer."""
    user_id = req.params["user_id"]
    quota = _read_quota(x, req, "mentions")
    if isinstance(quota, Response):
        return quota
    account = _known_user(x, user_id)
    since_id = int(req.query.get("since_id") or 0)
    until_id = int(req.query.get("until_id") or 0) or None
    start = req.query.get("start_time") or ""
    mentions = [
        event
        for event in x.state.snapshot()["inbound"]
        if event["kind"] == "mention"
        and event["account_id"] == user_id
        and int(event["event_id"]) > since_id
        and (until_id is None or int(event["event_id"]) < until_id)
        and iso_timestamp(event["created_ms"]) >= start
    ]
    mentions.sort(key=lambda event: int(event["event_id"]), reverse=True)
    paged = _page(mentions, req, 10, 5)
    if isinstance(paged, Response):
        return paged
    page, next_token = paged
    posts = [
        v2_post(
            account=account or XUser(user_id, "account", "account"),
            author=_customer(event),
            text=event["text"],
            post_id=event["event_id"],
            conversation_id=(
                x.state.conversation_root(event["in_reply_to_tweet_id"])
                if event["in_reply_to_tweet_id"]
                else None
            ),
            in_reply_to_post_id=event["in_reply_to_tweet_id"],
            created_at=iso_timestamp(event["created_ms"]),
        )
        for event in page
    ]
    return json_response(200, _listing(posts, page, next_token, req), quota)


def _listing(
    data: list[dict[str, Any]],
    page: list[dict[str, Any]],
    next_token: str | None,
    req: Request,
) -> dict[str, Any]:
    """``{"data", "includes": {"users"}, "meta"}`` as X lists posts and DM
    events; no ``data`` when the page is empty."""
    meta: dict[str, Any] = {"result_count": len(data)}
    if not data:
        return {"meta": meta}
    meta.update(newest_id=data[0]["id"], oldest_id=data[-1]["id"])
    if next_token:
        meta["next_token"] = next_token
    answer: dict[str, Any] = {"data": data}
    expansions = set((req.query.get("expansions") or "").split(","))
    if expansions & {"author_id", "sender_id"}:
        users = {}
        for record in page:
            if "customer" in record:
                users[record["customer"]["id"]] = _customer(record).as_v2()
        answer["includes"] = {"users": list(users.values())}
    answer["meta"] = meta
    return answer


DM_EVENT_DEFAULT_FIELDS = ("id", "event_type", "text")


def dm_events(x: XStandIn, req: Request) -> Response:
    """``GET /2/dm_events`` (``dm_event.fields``, ``expansions=sender_id``,
    ``max_results`` 1-100, ``pagination_token``): the account's DM events,
    received and sent, newest first, as v2 ``MessageCreate`` events with
    the fields asked for (``id``, ``event_type`` and ``text`` always);
    ``x-rate-limit-*`` headers on every answer."""
    quota = _read_quota(x, req, "dm_events")
    if isinstance(quota, Response):
        return quota
    account_id = _user_id(req)
    snapshot = x.state.snapshot()
    records: list[dict[str, Any]] = []
    for event in snapshot["inbound"]:
        if event["kind"] != "dm" or event["account_id"] != account_id:
            continue
        customer = event["customer"]["id"]
        sender = account_id if event["outbound"] else customer
        records.append(
            {
                "id": event["event_id"],
                "text": event["text"],
                "sender_id": sender,
                "dm_conversation_id": conversation_id_for(account_id, customer),
                "created_ms": event["created_ms"],
                "customer": event["customer"],
            }
        )
    for sent in snapshot["sent_dms"]:
        if sent["sender_id"] == account_id:
            records.append(
                {
                    "id": sent["dm_event_id"],
                    "text": sent["text"],
                    "sender_id": account_id,
                    "dm_conversation_id": sent["dm_conversation_id"],
                    "created_ms": int(sent["received_at"] * 1000),
                }
            )
    records.sort(key=lambda record: int(record["id"]), reverse=True)
    paged = _page(records, req, 100, 1)
    if isinstance(paged, Response):
        return paged
    page, next_token = paged
    fields = set((req.query.get("dm_event.fields") or "").split(","))
    fields.update(DM_EVENT_DEFAULT_FIELDS)
    events = []
    for record in page:
        full = {
            "id": record["id"],
            "event_type": "MessageCreate",
            "text": record["text"],
            "sender_id": record["sender_id"],
            "dm_conversation_id": record["dm_conversation_id"],
            "created_at": iso_timestamp(record["created_ms"]),
        }
        events.append({key: value for key, value in full.items() if key in fields})
    answer = _listing(events, page, next_token, req)
    answer["meta"].pop("newest_id", None)
    answer["meta"].pop("oldest_id", None)
    return json_response(200, answer, quota)


# --------------------------------------------------------------------------
# Posts (docs/platforms/x.md, "Sending")
# --------------------------------------------------------------------------


def create_tweet(x: XStandIn, req: Request) -> Response:
    """``POST /2/tweets``, body ``{"text", "reply": {"in_reply_to_tweet_id"}}``.

    Answers 201 ``{"data": {"id", "text", "edit_history_tweet_ids": [id]}}``.
    """
    body = req.json_object()
    text = _text_field(body)
    reply = body.get("reply") or {}
    if not isinstance(reply, dict):
        raise BadRequestBody("$.reply: must be an object")
    parent = reply.get("in_reply_to_tweet_id")
    record = x.state.record_tweet(
        author_id=_user_id(req),
        text=text,
        in_reply_to_tweet_id=str(parent) if parent else None,
    )
    data = {"id": record["id"], "text": text, "edit_history_tweet_ids": [record["id"]]}
    return json_response(201, {"data": data})


# --------------------------------------------------------------------------
# V2 Webhooks API (docs/platforms/x.md, "Webhook registration and subscriptions",
# "CRC challenge")
# --------------------------------------------------------------------------


def create_webhook(x: XStandIn, req: Request) -> Response:
    """``POST /2/webhooks`` ``{"url"}``: checks limits, runs a CRC, registers.

    200 ``{"data": {"id", "url", "valid": true, "created_at"}}``, or 400 with
    ``DuplicateUrlFailed``, ``WebhookLimitExceeded``, ``UrlValidationFailed``
    or ``CrcValidationFailed``.
    """
    app = _app(req)
    url = req.json_object().get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return invalid_request("UrlValidationFailed", "url")
    x.state.check_new_webhook(app.consumer_key, url)
    if x.state.get_modes()["crc_check"] and not x.crc(url, app.consumer_secret):
        return invalid_request("CrcValidationFailed")
    webhook = x.state.add_webhook(app.consumer_key, url)
    webhook.pop("consumer_key")
    return json_response(200, {"data": webhook})


def list_webhooks(x: XStandIn, req: Request) -> Response:
    """``GET /2/webhooks`` → ``{"data": [...], "meta": {"result_count"}}``."""
    webhooks = x.state.webhooks_for(_app(req).consumer_key)
    return json_response(
        200, {"data": webhooks, "meta": {"result_count": len(webhooks)}}
    )


def revalidate_webhook(x: XStandIn, req: Request) -> Response:
    """``PUT /2/webhooks/:id``: re-run the CRC → ``{"data": {"valid": true}}``."""
    app = _app(req)
    webhook = x.state.find_webhook(req.params["webhook_id"], app.consumer_key)
    if webhook is None:
        return _unknown_webhook(req.params["webhook_id"])
    valid = not x.state.get_modes()["crc_check"] or x.crc(
        webhook["url"], app.consumer_secret
    )
    x.state.mark_webhook_valid(webhook["id"], valid)
    if not valid:
        return invalid_request("CrcValidationFailed")
    return json_response(200, {"data": {"valid": True}})


def delete_webhook(x: XStandIn, req: Request) -> Response:
    """``DELETE /2/webhooks/:id`` → ``{"data": {"deleted": true}}`` or 404."""
    webhook_id = req.params["webhook_id"]
    if not x.state.delete_webhook(webhook_id, _app(req).consumer_key):
        return _unknown_webhook(webhook_id)
    return json_response(200, {"data": {"deleted": True}})


def _unknown_webhook(webhook_id: str) -> Response:
    """404 for a webhook id the app does not own."""
    return not_found(f"Could not find webhook with id: [{webhook_id}].")


# --------------------------------------------------------------------------
# Account Activity API v2 subscriptions (docs/platforms/x.md, "Webhook
# registration and subscriptions")
# --------------------------------------------------------------------------


def subscribe_all(x: XStandIn, req: Request) -> Response:
    """``POST /2/account_activity/webhooks/:id/subscriptions/all`` (user context)."""
    app = _app(req)
    x.state.subscribe(req.params["webhook_id"], app.consumer_key, _user_id(req))
    return json_response(200, {"data": {"subscribed": True}})


def check_subscription(x: XStandIn, req: Request) -> Response:
    """``GET …/subscriptions/all`` (user context) → ``{"data": {"subscribed"}}``."""
    webhook_id = req.params["webhook_id"]
    if x.state.find_webhook(webhook_id, _app(req).consumer_key) is None:
        raise XApiError("WebhookIdInvalid")
    subscribed = x.state.is_subscribed(webhook_id, _user_id(req))
    return json_response(200, {"data": {"subscribed": subscribed}})


def list_subscriptions(x: XStandIn, req: Request) -> Response:
    """``GET …/subscriptions/all/list`` (app-only).

    ``{"data": {"application_id", "webhook_id", "webhook_url",
    "subscriptions": [{"user_id"}]}}``.
    """
    app = _app(req)
    webhook = x.state.find_webhook(req.params["webhook_id"], app.consumer_key)
    if webhook is None:
        raise XApiError("WebhookIdInvalid")
    data = {
        "application_id": app.application_id,
        "webhook_id": webhook["id"],
        "webhook_url": webhook["url"],
        "subscriptions": [
            {"user_id": user_id} for user_id in x.state.subscribers(webhook["id"])
        ],
    }
    return json_response(200, {"data": data})


def delete_subscription(x: XStandIn, req: Request) -> Response:
    """``DELETE …/webhooks/:id/subscriptions/:user_id/all`` (app-only) → 204.

    Deleting a subscription that does not exist also answers 204.
    """
    webhook_id = req.params["webhook_id"]
    if x.state.find_webhook(webhook_id, _app(req).consumer_key) is None:
        raise XApiError("WebhookIdInvalid")
    x.state.unsubscribe(webhook_id, req.params["user_id"])
    return no_content()


# --------------------------------------------------------------------------
# Media upload (X API v2 "Media upload": initialize, append, finalize, STATUS)
# --------------------------------------------------------------------------

MEDIA_CATEGORIES = frozenset(
    {"tweet_image", "tweet_gif", "tweet_video", "dm_image", "dm_gif", "dm_video"}
)


def _upload_data(record: dict[str, Any]) -> dict[str, Any]:
    data = {
        "id": record["id"],
        "media_key": record["media_key"],
        "expires_after_secs": 86400,
    }
    if record.get("finalized"):
        data["size"] = len(record["content"])
        if record["media_category"].endswith(("video", "gif")):
            data["processing_info"] = {"state": "succeeded", "progress_percent": 100}
    return data


def upload_initialize(x: XStandIn, req: Request) -> Response:
    """``POST /2/media/upload/initialize`` ``{"media_type", "total_bytes",
    "media_category"}`` → ``{"data": {"id", "media_key",
    "expires_after_secs"}}``."""
    body = req.json_object()
    category = body.get("media_category")
    if category not in MEDIA_CATEGORIES:
        raise BadRequestBody(
            f"$.media_category: must be one of {sorted(MEDIA_CATEGORIES)}"
        )
    total = body.get("total_bytes")
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise BadRequestBody("$.total_bytes: must be a positive integer")
    media_type = body.get("media_type")
    if not isinstance(media_type, str) or "/" not in media_type:
        raise BadRequestBody("$.media_type: is missing but it is required")
    record = x.state.start_upload(
        owner_id=_user_id(req),
        media_type=media_type,
        total_bytes=total,
        category=category,
    )
    return json_response(200, {"data": _upload_data(record)})


def upload_append(x: XStandIn, req: Request) -> Response:
    """``POST /2/media/upload/:id/append`` ``{"media": base64, "segment_index"}``
    → ``{"data": {"expires_at"}}``."""
    body = req.json_object()
    index = body.get("segment_index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 999:
        raise BadRequestBody("$.segment_index: must be an integer from 0 to 999")
    try:
        chunk = base64.b64decode(str(body.get("media") or ""), validate=True)
    except ValueError as error:
        raise BadRequestBody("$.media: must be base64") from error
    if not x.state.append_upload(req.params["media_id"], _user_id(req), index, chunk):
        return not_found(f"Media id {req.params['media_id']} not found.")
    return json_response(200, {"data": {"expires_at": int(time.time()) + 86400}})


def upload_finalize(x: XStandIn, req: Request) -> Response:
    """``POST /2/media/upload/:id/finalize`` → ``{"data": {"id", "media_key",
    "size", "expires_after_secs", "processing_info"?}}`` (videos and GIFs are
    processed at once: ``succeeded``)."""
    record = x.state.finalize_upload(req.params["media_id"], _user_id(req))
    if isinstance(record, str):
        raise BadRequestBody(record)
    return json_response(200, {"data": _upload_data(record)})


def upload_status(x: XStandIn, req: Request) -> Response:
    """``GET /2/media/upload?command=STATUS&media_id=:id``."""
    media_id = req.query.get("media_id") or ""
    record = x.state.uploaded(media_id, _user_id(req))
    if req.query.get("command") != "STATUS" or record is None:
        return not_found(f"Media id {media_id} not found.")
    return json_response(200, {"data": _upload_data(record)})


# --------------------------------------------------------------------------
# Media files
# --------------------------------------------------------------------------

TON_REAL_HOST = "https://ton.twitter.com"
"""The origin of DM media URLs, which clients sign OAuth 1.0a requests for."""
PUBLIC_MEDIA_PREFIXES = ("/media/", "/ext_tw_video/", "/tweet_video/")
"""Paths of post media (``pbs.twimg.com``, ``video.twimg.com``), served
without authentication."""


def _media_file(x: XStandIn, path: str) -> Response:
    found = x.state.media_file(path)
    if found is None:
        return not_found()
    content, content_type = found
    return Response(200, content, content_type)


def dm_media(x: XStandIn, req: Request) -> Response:
    """``GET https://ton.twitter.com/1.1/ton/data/dm/…``: a DM's media file,
    for user-context requests only (X: OAuth 1.0a); 404 for a file nobody
    put (:meth:`~sandbox.platforms.x.state.XState.put_media`)."""
    return _media_file(x, req.path)


def is_public_media_path(path: str) -> bool:
    """True for the paths of post media files."""
    return path.startswith(PUBLIC_MEDIA_PREFIXES)


def serve_public_media(x: XStandIn, req: Request) -> Response:
    """``GET`` a post's photo or video file, without authentication."""
    if req.method != "GET":
        return not_found()
    return _media_file(x, req.path)


# --------------------------------------------------------------------------
# Route table and dispatch
# --------------------------------------------------------------------------

_AAA = r"/2/account_activity/webhooks/(?P<webhook_id>[^/]+)/subscriptions"

X_ROUTES = (
    route("GET", r"/2/users/me", get_me, USER),
    route("GET", r"/2/users/(?P<user_id>\d+)", get_user, EITHER),
    route("GET", r"/2/users/(?P<user_id>\d+)/mentions", user_mentions, USER),
    route("GET", r"/2/dm_events", dm_events, USER),
    route(
        "POST",
        r"/2/dm_conversations/with/(?P<participant_id>\d+)/messages",
        dm_with_participant,
        USER,
    ),
    route(
        "POST",
        r"/2/dm_conversations/(?P<dm_conversation_id>[\d-]+)/messages",
        dm_in_conversation,
        USER,
    ),
    route("POST", r"/2/tweets", create_tweet, USER),
    route("POST", r"/2/webhooks", create_webhook, APP),
    route("GET", r"/2/webhooks", list_webhooks, APP),
    route("PUT", r"/2/webhooks/(?P<webhook_id>[^/]+)", revalidate_webhook, APP),
    route("DELETE", r"/2/webhooks/(?P<webhook_id>[^/]+)", delete_webhook, APP),
    route("POST", _AAA + r"/all", subscribe_all, USER),
    route("GET", _AAA + r"/all", check_subscription, USER),
    route("GET", _AAA + r"/all/list", list_subscriptions, APP),
    route("DELETE", _AAA + r"/(?P<user_id>\d+)/all", delete_subscription, APP),
    route("POST", r"/2/media/upload/initialize", upload_initialize, USER),
    route("POST", r"/2/media/upload/(?P<media_id>\d+)/append", upload_append, USER),
    route("POST", r"/2/media/upload/(?P<media_id>\d+)/finalize", upload_finalize, USER),
    route("GET", r"/2/media/upload", upload_status, USER),
    route("GET", r"/1\.1/ton/data/dm/[\w./-]+", dm_media, USER),
)
"""Every X endpoint the sandbox serves: method, path regex, handler, auth."""


def is_x_api_path(path: str) -> bool:
    """True for paths X would serve (``/2/…``, ``/1.1/…``)."""
    return path.startswith(("/2/", "/1.1/"))


def handle_x_request(x: XStandIn, req: Request) -> Response:
    """Route, authorize, apply failure modes, then run the endpoint handler.

    Order: unknown path → 404; bad credentials → 401; wrong kind of
    credentials → 403; forced failures (503, 429, 402); the handler. Only
    calls that pass authentication consume ``rate_limit_next`` and
    ``server_error_next``.
    """
    found = match_route(X_ROUTES, req.method, req.path)
    if found is None:
        return not_found()
    endpoint, params = found
    refusal = auth_refusal(endpoint.auth, req.auth)
    if refusal is not None:
        return refusal
    failure = forced_failure(
        x.state.take_failure(), x.state.get_modes()["rate_limit_reset_in"]
    )
    if failure is not None:
        return failure
    try:
        return endpoint.handler(x, req.with_match(params))
    except BadRequestBody as exc:
        return invalid_request(str(exc))
    except XApiError as exc:
        return invalid_request(exc.message)

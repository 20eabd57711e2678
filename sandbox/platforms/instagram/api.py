"""The Graph API paths the Instagram stand-in serves, as Meta answers them.

- ``GET /v<N>/{page_id or me}?fields=…`` → ``{id, name,
  instagram_business_account: {id, username}}``;
- ``POST /v<N>/{page_id or me}/messages`` → ``{recipient_id, message_id}``;
- ``POST``/``DELETE /v<N>/{page_id}/subscribed_apps`` → ``{"success": true}``;
- ``GET /v<N>/{IGSID}?fields=name,username,profile_pic`` → the profile of a
  customer who wrote to the account (User Profile API); any other IGSID is
  error 100;
- ``GET /_media/instagram/<asset id>``: a customer's file (the CDN link in
  webhooks).

Every Graph call needs ``Authorization: Bearer <Page access token>`` (or
``?access_token=``): a missing one is Graph error 104, a wrong one 190. A
Graph id the stand-in does not know, asked with one of its tokens, is error
100 ("does not exist"). Sends check the recipient (a customer who wrote to
the account), the text length and the messaging window, and fetch media URLs
as Meta does (a failed fetch is error 100 "Failed to fetch the file from the
url"). Sources: docs/platforms/instagram.md, "Sending", and
docs/platforms/whatsapp.md, "Errors PingBack maps" (error envelope).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import requests

from sandbox.core.http import Request, Response, json_response
from sandbox.core.modes import RATE_LIMITED, SERVER_ERROR
from sandbox.platforms.instagram.payloads import InstagramAccount, new_mid, now_ms
from sandbox.platforms.instagram.state import InstagramState
from sandbox.platforms.meta import graph_error

GRAPH_PATH = re.compile(r"/v\d+(?:\.\d+)?/(?P<node>[^/]+)(?:/(?P<edge>[^/]+))?")
MEDIA_PREFIX = "/_media/instagram/"
FETCH_TIMEOUT_S = 10.0
MAX_TEXT_LENGTH = 1000
MEDIA_TYPES = ("image", "video", "audio", "file")
WINDOW_SUBCODE = 2018278
NO_MATCHING_USER_SUBCODE = 2018001
FETCH_FAILED_SUBCODE = 2018008


def graph_node(req: Request) -> tuple[str, str | None] | None:
    """``(node, edge)`` of a Graph path such as ``/v23.0/123/messages``."""
    found = GRAPH_PATH.fullmatch(req.path)
    return (found["node"], found["edge"]) if found else None


def bearer_token(req: Request) -> str:
    """The access token of a Graph call: Bearer header or ``access_token``."""
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return req.query.get("access_token", "")


def handle_graph(
    state: InstagramState,
    req: Request,
    *,
    on_sent: Callable[[dict[str, Any]], None],
) -> Response:
    """Answer a Graph call claimed by the stand-in (see the module table);
    `on_sent` gets the record of each message sent."""
    node, edge = graph_node(req) or ("", None)
    token = bearer_token(req)
    if not token:
        return graph_error(
            400, 104, "An access token is required to request this resource."
        )
    caller = state.account_for_token(token)
    if caller is None:
        return graph_error(
            400, 190, "Invalid OAuth access token - Cannot parse access token"
        )
    account = caller if node == "me" else state.account(node)
    if account is None and edge is None and req.method == "GET":
        if state.knows_customer(caller.page_id, node):
            return _user_profile(state, node, req.query.get("fields", ""))
    if account is None:
        return graph_error(
            400,
            100,
            f"Unsupported {req.method.lower()} request. Object with ID '{node}' "
            "does not exist, cannot be loaded due to missing permissions, or does "
            "not support this operation.",
            subcode=33,
        )
    if account.page_id != caller.page_id:
        return graph_error(
            400, 190, "Invalid OAuth access token - the token is for another Page"
        )
    if edge is None and req.method == "GET":
        return _page(account, req.query.get("fields", ""))
    if edge == "messages" and req.method == "POST":
        return _send(state, account, req, on_sent)
    if edge == "subscribed_apps" and req.method in ("POST", "DELETE"):
        return _subscribed_apps(state, account, req)
    return graph_error(400, 2500, f"Unknown path components: {req.path}")


def serve_media(state: InstagramState, req: Request) -> Response:
    """A customer's file at its CDN-style link, or 404 once it is gone."""
    stored = state.get_media(req.path[len(MEDIA_PREFIX) :])
    if stored is None or req.method != "GET":
        return Response(404, b"URL signature expired", "text/plain")
    content, content_type = stored
    return Response(200, content, content_type)


def _page(account: InstagramAccount, fields: str) -> Response:
    """``GET /{page_id}``: the Page and, when asked, its Instagram account."""
    page: dict[str, Any] = {"id": account.page_id}
    if "name" in fields:
        page["name"] = account.page_name
    if "instagram_business_account" in fields:
        page["instagram_business_account"] = {
            "id": account.instagram_id,
            "username": account.username,
        }
    return json_response(200, page)


def user_profile(igsid: str) -> dict[str, str]:
    """The profile the stand-in gives a customer: ``{id, name, username,
    profile_pic}``, made up from the IGSID (the same every time)."""
    return {
        "id": igsid,
        "name": f"Insta Customer {igsid[-4:]}",
        "username": f"insta_customer_{igsid[-4:]}",
        "profile_pic": f"https://scontent.cdninstagram.com/v/t51/{igsid}.jpg",
    }


def _forced_failure(state: InstagramState) -> Response | None:
    """The Graph error of a forced failure, if one is due (500 code 2, or
    Instagram's rate limit: 400 code 613)."""
    failure = state.modes.take_failure()
    if failure == SERVER_ERROR:
        return graph_error(
            500,
            2,
            "An unexpected error has occurred. Please retry your request later.",
        )
    if failure == RATE_LIMITED:
        return graph_error(
            400, 613, "(#613) Calls to this api have exceeded the rate limit."
        )
    return None


def _user_profile(state: InstagramState, igsid: str, fields: str) -> Response:
    """``GET /{IGSID}?fields=name,username,profile_pic`` (the User Profile
    API): the fields asked for, for a customer who wrote to the Page's
    account. The send failure modes apply (500 code 2, 613)."""
    failure = _forced_failure(state)
    if failure is not None:
        return failure
    asked = {field.strip() for field in fields.split(",") if field.strip()}
    profile = user_profile(igsid)
    return json_response(
        200, {key: value for key, value in profile.items() if key in asked | {"id"}}
    )


def _subscribed_apps(
    state: InstagramState, account: InstagramAccount, req: Request
) -> Response:
    """Subscribe the app to the Page's webhooks, or unsubscribe it."""
    if req.method == "DELETE":
        state.unsubscribe_page(account.page_id)
        return json_response(200, {"success": True})
    fields = req.query.get("subscribed_fields") or req.form().get("subscribed_fields")
    if not fields:
        return graph_error(
            400, 100, "(#100) The parameter subscribed_fields is required."
        )
    state.subscribe_page(account.page_id, fields.split(","))
    return json_response(200, {"success": True})


def _send(
    state: InstagramState,
    account: InstagramAccount,
    req: Request,
    on_sent: Callable[[dict[str, Any]], None],
) -> Response:
    """``POST /{page_id}/messages``: check, fetch media, record, answer."""
    failure = _forced_failure(state)
    if failure is not None:
        return failure
    body = req.json_or_none()
    recipient = body.get("recipient") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    recipient_id = recipient.get("id") if isinstance(recipient, dict) else None
    if not isinstance(recipient_id, str) or not isinstance(message, dict):
        return graph_error(
            400, 100, "(#100) Param recipient[id] and message must be given."
        )
    if not state.knows_customer(account.page_id, recipient_id):
        return graph_error(
            400, 100, "(#100) No matching user found", subcode=NO_MATCHING_USER_SUBCODE
        )
    window = state.modes["window"]
    tagged = (
        body.get("messaging_type") == "MESSAGE_TAG" and body.get("tag") == "HUMAN_AGENT"
    )
    if window == "closed" or (window == "human_agent" and not tagged):
        return graph_error(
            400,
            10,
            "(#10) This message is sent outside of allowed window.",
            subcode=WINDOW_SUBCODE,
        )
    record: dict[str, Any] = {
        "page_id": account.page_id,
        "recipient_id": recipient_id,
        "messaging_type": body.get("messaging_type"),
        "tag": body.get("tag"),
    }
    checked = _checked_message(message)
    if isinstance(checked, Response):
        return checked
    record.update(checked)
    message_id = new_mid(account.instagram_id)
    record.update({"message_id": message_id, "at": now_ms()})
    state.record_send(record)
    on_sent(record)
    return json_response(200, {"recipient_id": recipient_id, "message_id": message_id})


def _checked_message(message: dict[str, Any]) -> dict[str, Any] | Response:
    """``{text}`` or ``{attachment: {type, url, fetched}}`` for the record, or
    the Graph error Meta would answer."""
    text = message.get("text")
    attachment = message.get("attachment")
    if isinstance(text, str) and attachment is None:
        if not text:
            return graph_error(
                400,
                100,
                "(#100) Param message[text] must be a non-empty UTF-8 encoded string",
            )
        if len(text) > MAX_TEXT_LENGTH:
            return graph_error(
                400,
                100,
                f"(#100) Length of param message[text] must be less than or equal "
                f"to {MAX_TEXT_LENGTH}",
            )
        return {"text": text, "attachment": None}
    if text is not None or not isinstance(attachment, dict):
        return graph_error(
            400, 100, "(#100) Give message[text] or message[attachment]."
        )
    kind = attachment.get("type")
    payload = attachment.get("payload")
    url = payload.get("url") if isinstance(payload, dict) else None
    if kind not in MEDIA_TYPES or not isinstance(url, str):
        return graph_error(
            400, 100, "(#100) Param message[attachment] must have a type and a url."
        )
    fetched = _fetch(url)
    if fetched is None:
        return graph_error(
            400,
            100,
            "(#100) Failed to fetch the file from the url",
            subcode=FETCH_FAILED_SUBCODE,
        )
    return {"text": None, "attachment": {"type": kind, "url": url, **fetched}}


def _fetch(url: str) -> dict[str, Any] | None:
    """GET a media URL as Meta does; ``{content_type, size, sha256}`` or None
    when it cannot be fetched."""
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(url, timeout=FETCH_TIMEOUT_S)
    except requests.RequestException:
        return None
    if response.status_code != 200 or not response.content:
        return None
    return {
        "content_type": response.headers.get("Content-Type", ""),
        "size": len(response.content),
        "sha256": hashlib.sha256(response.content).hexdigest(),
    }

"""The skeleton the end-to-end tests share: the running stack (live server,
Celery worker, sandbox) with an admin's API session and a channel created
through the API, and the few calls every platform's end-to-end test makes.

The `live` fixture of each end-to-end test is a dict: `api` (a requests
session with the admin's token), `url` (the live server), `sandbox`,
`channel` (the create answer).
"""

from __future__ import annotations

from typing import Any

import requests

from billing.services import api_token_create
from conversations.models import Conversation, Message
from pingback.testing import wait_for


def live_stack(
    live_server, settings, admin_member, sandbox, channel_type: str, config: dict
) -> dict[str, Any]:
    """Point PingBack's public URL at the live server, open an API session for
    the admin and create the channel through the API (asserting 201)."""
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url
    _, token = api_token_create(member=admin_member)
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {token}"
    response = session.post(
        f"{live_server.url}/api/v1/channels/",
        json={"type": channel_type, "config": config},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return {
        "api": session,
        "url": live_server.url,
        "sandbox": sandbox,
        "channel": response.json(),
    }


def sandbox_control(live, platform: str, path: str, **body: Any) -> dict[str, Any]:
    """POST `body` to the stand-in's control `/_sandbox/<platform>/<path>`
    (a customer's action, a mode), asserting 200; its JSON answer."""
    response = requests.post(
        f"{live['sandbox'].url}/_sandbox/{platform}/{path}", json=body, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def conversations(live) -> list[dict[str, Any]]:
    """The conversation list the API shows."""
    response = live["api"].get(f"{live['url']}/api/v1/conversations/", timeout=10)
    return response.json()["results"]


def thread(live, conversation_id: int) -> list[dict[str, Any]]:
    """The conversation's messages as the API shows them, oldest first."""
    url = f"{live['url']}/api/v1/conversations/{conversation_id}/messages"
    return live["api"].get(url, timeout=10).json()["results"]


def reply(live, conversation_id: int, **request: Any) -> dict[str, Any]:
    """An agent's reply through the API (`json=`, or `data=` and `files=`),
    asserting it is queued (202); the API's answer."""
    response = live["api"].post(
        f"{live['url']}/api/v1/conversations/{conversation_id}/messages",
        timeout=30,
        **request,
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return response.json()


def inbound_thread(live, channel_type: str, text: str) -> tuple[Conversation, dict]:
    """The customer's first message arrived: the one conversation, once the
    workers made it, and its row in the API's list (asserted to be of
    `channel_type`, its thread the inbound `text` alone)."""
    conversation = wait_for(lambda: Conversation.objects.first())
    [listed] = conversations(live)
    assert (listed["id"], listed["channel_type"]) == (conversation.pk, channel_type)
    shown = [(m["direction"], m["text"]) for m in thread(live, conversation.pk)]
    assert shown == [("inbound", text)]
    return conversation, listed


def reply_reaches(live, conversation_id: int, text: str, *statuses: str) -> Message:
    """An agent's text reply through the API, once its status is one of
    `statuses` (see `message_reaches`)."""
    queued = reply(live, conversation_id, json={"text": text})
    return message_reaches(queued["id"], *statuses)


def message_reaches(message_id: int, *statuses: str) -> Message:
    """The message once its status is one of `statuses` (default: sent or
    failed), waiting for the worker."""
    wanted = statuses or ("sent", "failed")

    def reached():
        message = Message.objects.get(pk=message_id)
        return message if message.status in wanted else None

    return wait_for(reached)

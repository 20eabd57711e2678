"""The SMS stand-in acting as Twilio towards PingBack: signed form POSTs.

- :func:`deliver_form` POSTs a form to a webhook URL, signed with the
  account's auth token (docs/platforms/sms.md, "Signature") — a customer's
  message, or a status callback.
- :func:`start_send_delivery` plays out what Twilio does after accepting a
  send, in a background thread: `queued` callback, each `MediaUrl` fetched
  (Twilio downloads MMS media from the sender's server), then `sent` and
  `delivered` — or `undelivered` with 30006 when the mode says so, or `failed`
  with 11200 when a file could not be downloaded (docs/platforms/sms.md,
  "Status callbacks").

HTTP calls go through `sandbox.core.delivery`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from sandbox.core.delivery import get, post
from sandbox.platforms.sms.payloads import (
    TwilioAccount,
    status_callback_form,
    webhook_headers,
)

if TYPE_CHECKING:
    from sandbox.platforms.sms.standin import SmsStandIn

WEBHOOK_TIMEOUT_S = 15.0
"""Twilio's total webhook time budget (docs/platforms/sms.md, "Ack budget and
retries")."""
STEP_DELAY_S = 0.1
"""Pause between a send's steps: Twilio answers the create call before it
hands the message on, so callbacks never overtake that answer."""
UNDELIVERED_CODE = 30006
MEDIA_FAILED_CODE = 11200


def deliver_form(url: str, form: Mapping[str, str], auth_token: str) -> dict[str, Any]:
    """POST `form` to `url`, signed as Twilio signs it. Returns `{"url",
    "status_code", "body"}` (see :func:`sandbox.core.delivery.post`)."""
    headers = webhook_headers(auth_token, url, form)
    return post(url, form, headers, WEBHOOK_TIMEOUT_S)


def fetch_media(url: str) -> dict[str, Any]:
    """GET one `MediaUrl` as Twilio does (no credentials, redirects followed).
    Returns `{"url", "status_code", "content_type", "size"}`."""
    try:
        answer = get(url, WEBHOOK_TIMEOUT_S)
    except requests.RequestException as error:
        return {
            "url": url,
            "status_code": None,
            "content_type": "",
            "size": 0,
            "error": type(error).__name__,
        }
    return {
        "url": url,
        "status_code": answer.status_code,
        "content_type": answer.headers.get("Content-Type", ""),
        "size": len(answer.content),
    }


@dataclass(frozen=True)
class SendPlay:
    """How a send of the stand-in plays out: ``send`` (its record, updated
    under ``standin.lock``) from ``account``, with status callbacks when
    ``callbacks``, ending ``undelivered`` (or delivered)."""

    standin: SmsStandIn
    send: dict[str, Any]
    account: TwilioAccount
    callbacks: bool
    undelivered: bool


def start_send_delivery(play: SendPlay) -> None:
    """Play out the send in a daemon thread; progress lands in `play.send`."""
    name = f"sms-send-{play.send['sid']}"
    threading.Thread(target=_play_send, args=(play,), name=name, daemon=True).start()


def _play_send(play: SendPlay) -> None:
    standin, send, account = play.standin, play.send, play.account

    def step(status: str, error_code: int | None = None) -> None:
        time.sleep(STEP_DELAY_S)
        with standin.lock:
            send["status"] = status
            send["error_code"] = error_code
        if not play.callbacks or not send["status_callback"]:
            return
        form = status_callback_form(
            account_sid=account.sid,
            message_sid=send["sid"],
            from_=send["from"],
            to=send["to"],
            status=status,
            error_code=error_code,
        )
        delivery = deliver_form(send["status_callback"], form, account.auth_token)
        with standin.lock:
            send["callbacks"].append(
                {"status": status, "status_code": delivery["status_code"]}
            )

    step("queued")
    for url in send["media_urls"]:
        fetched = fetch_media(url)
        with standin.lock:
            send["media"].append(fetched)
    if any(m["status_code"] != 200 for m in send["media"]):
        step("failed", MEDIA_FAILED_CODE)
        return
    step("sent")
    if play.undelivered:
        step("undelivered", UNDELIVERED_CODE)
    else:
        step("delivered")

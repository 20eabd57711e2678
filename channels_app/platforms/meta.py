"""What WhatsApp Cloud API and Instagram messaging share: Meta's webhook
handshake and signature, the `_meta_setup_instructions` shown to admins, and a
Graph API client over httpx that turns Graph errors into delivery errors.

Sources: docs/platforms/whatsapp.md, "Verification handshake", "Signature"
(X-Hub-Signature-256) and "Errors PingBack maps" (Graph error envelope and
codes); docs/platforms/instagram.md (Instagram uses the same webhooks and Graph
API).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings
from django.http import HttpResponse

from channels_app.platforms.base import (
    DeliveryError,
    PermanentDeliveryError,
    SecretMissing,
    SetupResult,
    SignatureInvalid,
    TransientDeliveryError,
    retry_after_seconds,
)
from channels_app.platforms.clients import ThreadClients

if TYPE_CHECKING:
    from django.http import HttpRequest

    from channels_app.models import Channel

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
# What `_meta_setup_instructions` and setup say while a channel has no app
# secret: every webhook to it is refused until one is added.
APP_SECRET_MISSING = (
    "PingBack refuses every webhook for this channel (403) until you add "
    "app_secret: Meta app dashboard → App settings → Basic → App secret, then "
    'PATCH the channel with {"config": {"app_secret": "<the app secret>"}}.'
)

# How a Meta channel becomes ready: Meta offers no API to check the dashboard
# step, so the first signed event is the proof (`channel_mark_receiving`).
AWAITING_FIRST_EVENT = (
    "PingBack turns this channel ready when Meta's first signed event arrives "
    "(the dashboard's Test button sends one)."
)

# Graph error codes (docs/platforms/whatsapp.md, "Errors PingBack maps") that are
# worth retrying: throughput and pair rate limits, and Graph's own "temporary"
# codes (1, 2, 4, 17, 32, 613).
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613, 130429, 131056})
# Of those, the ones that throttle the whole app or business account (API
# call volume, spam rate limit, Cloud API throughput), so every send on the
# channel waits; 131056 is one recipient's pair rate limit and is not among
# them (docs/platforms/whatsapp.md, "Errors PingBack maps").
ACCOUNT_RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 130429})
# Codes meaning the whole channel's credentials are bad: the admins are told.
CREDENTIAL_CODES = frozenset({190, 102, 10, 200})
# Code 10 with these subcodes is Instagram's closed messaging window, a refusal
# of one message, not of the credentials: 2018278 (Messenger,
# docs/platforms/instagram.md, "Messaging window") or 2534022 (seen from
# Instagram, e.g. https://github.com/ComposioHQ/composio/issues/3604).
WINDOW_SUBCODES = frozenset({2018278, 2534022})


def meta_handshake(
    request: HttpRequest, verify_token: str | None
) -> HttpResponse | None:
    """Answer Meta's subscription handshake
    `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` with the raw
    challenge (200 text/plain) when the token matches (constant-time). Returns
    None when the GET is not a handshake; raises `SignatureInvalid` for a wrong
    or missing token (answered 403)."""
    if request.GET.get("hub.mode") != "subscribe":
        return None
    given = request.GET.get("hub.verify_token", "")
    if not verify_token or not hmac.compare_digest(
        given.encode(), verify_token.encode()
    ):
        raise SignatureInvalid("hub.verify_token does not match")
    return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")


def meta_signature(app_secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(app_secret, body)>`, as Meta signs webhooks."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def meta_verify(channel: Channel, request: HttpRequest) -> None:
    """Check `X-Hub-Signature-256` (`sha256=<hex HMAC-SHA256>` over the raw
    body, keyed by the channel's `app_secret`) in constant time. Source:
    https://developers.facebook.com/docs/graph-api/webhooks/getting-started
    ("Validate Payloads").

    A channel without an app secret cannot tell Meta's posts from anyone
    else's, so it refuses them all: raises `SecretMissing` (logged as the
    configuration error `webhook.secret_missing` with the channel id and
    platform). Raises `SignatureInvalid` for a missing or wrong signature.
    Both are answered 403 and nothing is stored.
    """
    app_secret = channel.secrets.get("app_secret")
    if not app_secret:
        logger.error(
            "webhook.secret_missing",
            extra={"channel_id": str(channel.id), "platform": channel.type},
        )
        raise SecretMissing("the channel has no app_secret to verify Meta webhooks")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not given:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} header missing")
    expected = meta_signature(app_secret, request.body)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")


def meta_receiving_message(since: datetime) -> str:
    """The setup message of a Meta channel that receives signed events."""
    return f"Receiving events from Meta since {since:%Y-%m-%d %H:%M} UTC."


def meta_setup_result(
    channel: Channel,
    *,
    connected: str,
    dashboard_step: str,
    config: dict[str, Any],
    secrets: dict[str, str] | None = None,
    name: str = "",
) -> SetupResult:
    """The outcome of a Meta channel's setup once the Graph API accepted the
    credentials (`connected` says what was found):

    - `action_required` while the channel has no app secret (every webhook is
      refused: `APP_SECRET_MISSING`, then `dashboard_step`);
    - `ready` once a signed event was stored for the channel ("Receiving
      events from Meta since <first event>"): the dashboard step was done;
    - else `action_required` with `dashboard_step` and `AWAITING_FIRST_EVENT`
      (the webhook view turns it ready on the first signed event).
    """
    from channels_app.models import InboundEvent

    secrets = secrets or {}
    if not channel.secrets.get("app_secret"):
        message = f"{APP_SECRET_MISSING} {connected} {dashboard_step}"
        return SetupResult(
            "action_required", message, config=config, secrets=secrets, name=name
        )
    first = (
        InboundEvent.objects.filter(channel=channel)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    if first is not None:
        message = f"{connected} {meta_receiving_message(first)}"
        return SetupResult("ready", message, config=config, secrets=secrets, name=name)
    message = f"{connected} {dashboard_step} {AWAITING_FIRST_EVENT}"
    return SetupResult(
        "action_required", message, config=config, secrets=secrets, name=name
    )


def meta_setup_instructions(
    channel: Channel, webhook_url: str | None, *, reveal: bool, mask
) -> dict[str, Any]:
    """`{"_meta_setup_instructions": {callback_url, verify_token,
    app_secret_missing?}}`: what the admin pastes in the Meta app dashboard
    (Webhooks → Callback URL and Verify token). The verify token is masked
    with `mask` unless `reveal`. `app_secret_missing` (the text of
    `APP_SECRET_MISSING`) is there only while the channel has no app secret,
    i.e. while it refuses every webhook."""
    verify_token = channel.secrets.get("verify_token", "")
    instructions = {
        "callback_url": webhook_url,
        "verify_token": verify_token if reveal else mask(verify_token),
    }
    if not channel.secrets.get("app_secret"):
        instructions["app_secret_missing"] = APP_SECRET_MISSING
    return {"_meta_setup_instructions": instructions}


def graph_url(path: str) -> str:
    """`{GRAPH_API_BASE_URL}/{GRAPH_API_VERSION}/{path}`."""
    return (
        f"{settings.GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}/{path.lstrip('/')}"
    )


class GraphError(Exception):
    """A Graph API error envelope: `{"error": {message, type, code,
    error_subcode?, error_data?: {details}}}`."""

    def __init__(self, status_code: int, error: Mapping[str, Any]) -> None:
        self.status_code = status_code
        self.code = error.get("code")
        self.subcode = error.get("error_subcode")
        self.message = str(error.get("message") or "Graph API error")
        details = (error.get("error_data") or {}).get("details")
        self.details = str(details) if details else ""
        super().__init__(self.describe())

    def describe(self) -> str:
        """The platform's words for agents, e.g. `(#131047) Re-engagement
        message: More than 24 hours have passed…`."""
        text = self.message
        if self.details and self.details not in text:
            text = f"{text}: {self.details}"
        return text


def _http_build(key: tuple[str, float]) -> httpx.Client:
    """An httpx client for `(GRAPH_API_BASE_URL, PLATFORM_API_TIMEOUT)` that
    keeps no cookies: the client serves every channel's access token, so
    nothing one answer sets may ride along with another channel's request
    (`httpx.request`, used before, kept none either)."""
    _, timeout = key
    return httpx.Client(
        timeout=timeout,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=())),
    )


# Per thread and per (GRAPH_API_BASE_URL, PLATFORM_API_TIMEOUT).
_http_clients: ThreadClients[tuple[str, float], httpx.Client] = ThreadClients(
    _http_build, httpx.Client.close
)


def _graph_http() -> httpx.Client:
    """The calling thread's httpx client for the Graph API.

    Kept per thread (`ThreadClients`) and per `GRAPH_API_BASE_URL` and
    `PLATFORM_API_TIMEOUT`, so a delivery thread's Graph calls reuse its open
    connection (keep-alive; httpx drops a connection idle for 5 s) instead
    of a new TCP connection, and in production a TLS handshake, per call.
    The access token is not part of the client: each request carries it in
    its own `Authorization` header."""
    return _http_clients.get(
        (settings.GRAPH_API_BASE_URL, settings.PLATFORM_API_TIMEOUT)
    )


class GraphClient:
    """A small Graph API client: `Authorization: Bearer <access_token>`, JSON
    or multipart bodies, `PLATFORM_API_TIMEOUT`, and errors as delivery errors
    (`call`) or `GraphError` (`request`). Requests go through the thread's
    kept httpx client (`_graph_http`)."""

    def __init__(self, access_token: str) -> None:
        self.access_token = access_token

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        absolute_url: str | None = None,
    ) -> httpx.Response:
        """Send one request; return the 2xx response. Raises `GraphError` for
        an error envelope, `TransientDeliveryError` for network errors and
        5xx answers without one."""
        url = absolute_url or graph_url(path)
        try:
            response = _graph_http().request(
                method,
                url,
                json=json,
                params=params,
                data=data,
                files=files,
                headers={"Authorization": f"Bearer {self.access_token}"},
            )
        except httpx.HTTPError as error:
            raise TransientDeliveryError(
                f"Could not reach the Graph API: {type(error).__name__}"
            ) from error
        if response.is_success:
            return response
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        if isinstance(envelope, dict) and isinstance(envelope.get("error"), dict):
            raise GraphError(response.status_code, envelope["error"])
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientDeliveryError(
                f"Graph API answered {response.status_code}",
                status_code=response.status_code,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                rate_limited=response.status_code == 429,
            )
        raise PermanentDeliveryError(
            f"Graph API answered {response.status_code}",
            status_code=response.status_code,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """`request`, with a `GraphError` classified into
        `TransientDeliveryError` (rate limits, temporary codes, 5xx) or
        `PermanentDeliveryError` (anything else; bad credentials also set the
        channel alert). Returns the JSON body."""
        try:
            response = self.request(method, path, **kwargs)
        except GraphError as error:
            raise graph_delivery_error(error) from error
        return response.json() if response.content else {}


def graph_delivery_error(error: GraphError) -> DeliveryError:
    """Classify a Graph error (docs/platforms/whatsapp.md, "Errors PingBack
    maps")."""
    if error.code in TRANSIENT_CODES or error.status_code >= 500:
        return TransientDeliveryError(
            error.describe(),
            status_code=error.status_code,
            rate_limited=error.code in ACCOUNT_RATE_LIMIT_CODES,
        )
    refused_token = error.code in CREDENTIAL_CODES or error.status_code == 401
    alert = ""
    if refused_token and error.subcode not in WINDOW_SUBCODES:
        alert = f"Meta refused the access token: {error.describe()}"
    return PermanentDeliveryError(
        error.describe(), status_code=error.status_code, channel_alert=alert
    )

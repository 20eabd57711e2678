"""`/api/v1/webhooks/email/<channel_id>/<provider>/inbound`: mail providers'
inbound webhooks for one e-mail channel, through django-anymail.

The same checklist as the other webhooks: channel exists and uses this
provider → the provider's authentication, checked with the channel's own
`inbound_webhook_key` (403, nothing stored) → anymail turns the provider's
fields into a MIME message (a payload it cannot read is kept and answered
400) → the raw message goes through `inbound_event_record`, exactly like a
polled one → 200.

Mailgun signs `timestamp + token` (HMAC-SHA256 keyed by the signing key), not
the message, so a signature alone would carry any body. PingBack therefore
refuses a timestamp outside `MAILGUN_TIMESTAMP_WINDOW` and takes each token
once (`_mailgun_token_claim`): a delivery replayed with the same signature,
whatever its body, is refused. Postmark sends the `user:password` of the
webhook URL as HTTP basic auth, compared in constant time by anymail
(`django.utils.crypto.constant_time_compare`).
    https://anymail.dev/en/stable/inbound/
    https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/
    https://documentation.mailgun.com/docs/mailgun/user-manual/events/webhooks/#securing-webhooks
    https://postmarkapp.com/developer/webhooks/inbound-webhook
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid

from anymail.exceptions import AnymailError, AnymailWebhookValidationFailure
from anymail.webhooks.base import AnymailCoreWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels_app.models import Channel, InboundEvent
from channels_app.platforms.email import RAW_CONTENT_TYPE
from channels_app.services.inbound import RecordOutcome, inbound_event_record
from pingback import metrics
from pingback.limits import body_limit
from pingback.untrusted import (
    JsonTooDeep,
    json_body_repair,
    json_depth_exceeds,
    json_max_depth,
    text_repair,
)

logger = logging.getLogger(__name__)

# A Mailgun signature older (or further in the future) than this, in seconds,
# is refused as a possible replay (docs/platforms/email.md,
# "Provider inbound webhooks").
MAILGUN_TIMESTAMP_WINDOW = 15 * 60
MAILGUN_TOKEN_KEY = "webhook:mailgun:token:{}"


class DeliveryReplayed(AnymailWebhookValidationFailure):
    """A Mailgun signature token PingBack has already accepted once."""


def _mailgun_view(key: str) -> AnymailCoreWebhookView:
    """Mailgun's form post, checked by its `signature` field: hex
    HMAC-SHA256 of `timestamp + token` keyed by the signing `key`."""
    return MailgunInboundWebhookView(webhook_signing_key=key, webhook_secret=[])


def _postmark_view(key: str) -> AnymailCoreWebhookView:
    """Postmark's JSON post, checked by its HTTP basic auth `user:password`
    (`key`; a missing or different one fails, compared in constant time)."""
    return PostmarkInboundWebhookView(webhook_secret=[key])


PROVIDER_VIEWS = {"mailgun": _mailgun_view, "postmark": _postmark_view}


def _channel_or_404(channel_id: uuid.UUID, provider: str) -> Channel:
    if provider not in PROVIDER_VIEWS:
        raise Http404("PingBack takes no inbound mail from this provider.")
    channel = Channel.objects.filter(pk=channel_id, type=Channel.Type.EMAIL).first()
    if channel is None or channel.config.get("inbound_provider") != provider:
        raise Http404("No e-mail channel receives mail from this provider here.")
    return channel


def _log(event: str, channel: Channel, **extra: object) -> None:
    logger.warning(
        event,
        extra={"channel_id": str(channel.id), "platform": channel.type, **extra},
    )


def _mailgun_token_claim(token: str, signed_at: int, now: float) -> str | None:
    """Remember a Mailgun signature `token` until its timestamp `signed_at`
    (epoch seconds) leaves the window, so it is accepted once. Returns the
    cache key it is remembered under, or None when it was already there (a
    replayed delivery).

    `cache.add` is atomic: on Redis (`REDIS_URL` set) it is one `SET NX EX`
    shared by every web process, so two concurrent copies cannot both pass.
    Without Redis the cache is Django's local-memory cache, private to each
    process: a replay reaching another process is not caught (run a single
    process, or set `REDIS_URL`). Mailgun signs every delivery attempt anew,
    so a retry of a refused or failed delivery carries a new token.
    """
    key = MAILGUN_TOKEN_KEY.format(hashlib.sha256(token.encode()).hexdigest())
    remaining = int(signed_at + MAILGUN_TIMESTAMP_WINDOW - now) + 1
    return key if cache.add(key, 1, timeout=max(remaining, 1)) else None


def _verify(
    provider: str, view: AnymailCoreWebhookView, request: HttpRequest
) -> str | None:
    """Run anymail's checks with the channel's key; for Mailgun also refuse a
    timestamp outside the window and a token already accepted. Returns the
    cache key of the Mailgun token now claimed (None for Postmark). Raises
    `AnymailWebhookValidationFailure` (`DeliveryReplayed` for a token seen
    before)."""
    view.run_validators(request)
    if provider != "mailgun":
        return None
    try:
        signed_at = int(request.POST["timestamp"])
        token = request.POST["token"]
    except (KeyError, ValueError) as error:
        raise AnymailWebhookValidationFailure("timestamp or token missing") from error
    now = time.time()
    if abs(now - signed_at) > MAILGUN_TIMESTAMP_WINDOW:
        raise AnymailWebhookValidationFailure("timestamp outside the window")
    claimed = _mailgun_token_claim(token, signed_at, now)
    if claimed is None:
        raise DeliveryReplayed("signature token already used")
    return claimed


def _record(
    channel: Channel,
    provider: str,
    view: AnymailCoreWebhookView,
    request: HttpRequest,
    body: bytes,
) -> RecordOutcome | HttpResponse:
    """Turn the verified post into a MIME message and record it; a payload
    anymail cannot read is kept as malformed and answered 400 (returned)."""
    try:
        (event,) = view.parse_events(request)
        raw = event.message.as_bytes()
    except (AnymailError, KeyError, TypeError, ValueError, RecursionError) as error:
        # RecursionError: JSON nested too deep inside a Mailgun form field
        # (`message-headers`), which anymail decodes itself.
        detail = text_repair(
            f"not a {provider} inbound payload: {type(error).__name__}: {error}"
        )
        _keep_malformed(channel, body, request.content_type or "", detail)
        return JsonResponse({"detail": detail}, status=400)
    return inbound_event_record(
        channel=channel, body=raw, content_type=RAW_CONTENT_TYPE
    )


def _keep_malformed(
    channel: Channel, body: bytes, content_type: str, error: str
) -> None:
    InboundEvent.objects.create(
        channel=channel,
        body=body,
        content_type=content_type,
        status=InboundEvent.Status.MALFORMED,
        error=error,
    )
    _log("webhook.malformed", channel, error=error)


@csrf_exempt
@require_POST
def email_inbound_webhook(
    request: HttpRequest, channel_id: uuid.UUID, provider: str
) -> HttpResponse:
    """Accept one inbound mail from `provider` (`mailgun`: a route's forward()
    form post, raw MIME in `body-mime` or parsed fields; `postmark`: the
    inbound JSON) for e-mail channel `channel_id`.

    Answers: 200 `{"status": "accepted"|"duplicate"|"ignored"}`, 400
    `{"detail": <error>}` (payload kept as a malformed event), 403 bad or
    missing signature or credentials, a stale Mailgun timestamp or a replayed
    Mailgun token (nothing stored), 404 unknown channel or a provider the
    channel does not use, 413 body too large.
    """
    channel = _channel_or_404(channel_id, provider)
    try:
        # Read first, so a payload anymail cannot read is kept as it came.
        # The server-side cap (`pingback.limits`) has bounded what is read.
        body = request.body
    except RequestDataTooBig:
        metrics.webhook_received(channel.type, "too_large")
        return JsonResponse({"detail": "Body too large."}, status=413)
    if len(body) > body_limit(request.path):
        metrics.webhook_received(channel.type, "too_large")
        return JsonResponse({"detail": "Body too large."}, status=413)
    key = channel.secrets.get("inbound_webhook_key", "")
    if not key:
        # A configuration error on our side, not a forged post.
        logger.error(
            "webhook.secret_missing",
            extra={"channel_id": str(channel.id), "platform": channel.type},
        )
        return JsonResponse({"detail": "Invalid signature."}, status=403)
    view = PROVIDER_VIEWS[provider](key)
    try:
        claimed = _verify(provider, view, request)
    except DeliveryReplayed:
        _log("webhook.replay_refused", channel)
        metrics.webhook_received(channel.type, "forged")
        return JsonResponse({"detail": "Invalid signature."}, status=403)
    except AnymailWebhookValidationFailure as error:
        _log("webhook.signature_invalid", channel, reason=str(error))
        metrics.webhook_received(channel.type, "forged")
        return JsonResponse({"detail": "Invalid signature."}, status=403)
    if request.content_type == "application/json":
        depth = json_max_depth()
        if json_depth_exceeds(body, depth):
            detail = f"not a {provider} inbound payload: {JsonTooDeep(depth)}"
            _keep_malformed(channel, body, request.content_type, detail)
            metrics.webhook_received(channel.type, "malformed")
            return JsonResponse({"detail": detail}, status=400)
        # Postmark's JSON: `\u0000` and lone `\ud800` escapes become U+FFFD
        # before anymail builds the message from it (it could not encode them).
        repaired = json_body_repair(body)
        if repaired is not body:
            request._body = repaired  # what anymail reads (`request.body`)
    try:
        outcome = _record(channel, provider, view, request, body)
    except Exception:
        # Answered 500: let the same delivery, if retried, in again (a copy
        # stored before the failure is then a duplicate, not a second one).
        if claimed is not None:
            cache.delete(claimed)
        raise
    if isinstance(outcome, HttpResponse):
        metrics.webhook_received(channel.type, "malformed")
        return outcome
    metrics.webhook_received(channel.type, outcome.status)
    if outcome.status == "malformed":
        return JsonResponse({"detail": outcome.error}, status=400)
    return JsonResponse({"status": outcome.status})

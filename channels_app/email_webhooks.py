"""`/api/v1/webhooks/email/<channel_id>/<provider>/inbound`: mail providers'
inbound webhooks for one e-mail channel, through django-anymail.

The same checklist as the other webhooks: channel exists and uses this
provider → the provider's signature (Mailgun: HMAC-SHA256 of timestamp + token
keyed by the channel's signing key, with a fresh timestamp; Postmark: HTTP
basic auth) checked with the channel's own `inbound_webhook_key` (403, nothing
stored) → anymail turns the provider's fields into a MIME message (a payload
it cannot read is kept and answered 400) → the raw message goes through
`inbound_event_record`, exactly like a polled one → 200.
    https://anymail.dev/en/stable/inbound/
    https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/
    https://postmarkapp.com/developer/webhooks/inbound-webhook
"""

from __future__ import annotations

import logging
import time
import uuid

from anymail.exceptions import AnymailError, AnymailWebhookValidationFailure
from anymail.webhooks.base import AnymailCoreWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels_app.models import Channel, InboundEvent
from channels_app.platforms.email import RAW_CONTENT_TYPE
from channels_app.services.inbound import inbound_event_record
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
# is refused as a possible replay (PLATFORMS.md §6.1 B).
MAILGUN_TIMESTAMP_WINDOW = 15 * 60


def _mailgun_view(key: str) -> AnymailCoreWebhookView:
    return MailgunInboundWebhookView(webhook_signing_key=key, webhook_secret=[])


def _postmark_view(key: str) -> AnymailCoreWebhookView:
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


def _verify(provider: str, view: AnymailCoreWebhookView, request: HttpRequest) -> None:
    """Run anymail's checks with the channel's key; for Mailgun also refuse a
    stale timestamp. Raises `AnymailWebhookValidationFailure`."""
    view.run_validators(request)
    if provider == "mailgun":
        try:
            signed_at = int(request.POST["timestamp"])
        except (KeyError, ValueError) as error:
            raise AnymailWebhookValidationFailure("timestamp missing") from error
        if abs(time.time() - signed_at) > MAILGUN_TIMESTAMP_WINDOW:
            raise AnymailWebhookValidationFailure("timestamp outside the window")


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
    missing signature (nothing stored), 404 unknown channel or a provider the
    channel does not use, 413 body too large.
    """
    channel = _channel_or_404(channel_id, provider)
    try:
        # Read first, so a payload anymail cannot read is kept as it came.
        # The server-side cap (`pingback.limits`) has bounded what is read.
        body = request.body
    except RequestDataTooBig:
        return JsonResponse({"detail": "Body too large."}, status=413)
    if len(body) > body_limit(request.path):
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
        _verify(provider, view, request)
    except AnymailWebhookValidationFailure as error:
        _log("webhook.signature_invalid", channel, reason=str(error))
        return JsonResponse({"detail": "Invalid signature."}, status=403)
    if request.content_type == "application/json":
        depth = json_max_depth()
        if json_depth_exceeds(body, depth):
            detail = f"not a {provider} inbound payload: {JsonTooDeep(depth)}"
            _keep_malformed(channel, body, request.content_type, detail)
            return JsonResponse({"detail": detail}, status=400)
        # Postmark's JSON: `\u0000` and lone `\ud800` escapes become U+FFFD
        # before anymail builds the message from it (it could not encode them).
        repaired = json_body_repair(body)
        if repaired is not body:
            request._body = repaired  # what anymail reads (`request.body`)
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
    outcome = inbound_event_record(
        channel=channel, body=raw, content_type=RAW_CONTENT_TYPE
    )
    if outcome.status == "malformed":
        return JsonResponse({"detail": outcome.error}, status=400)
    return JsonResponse({"status": outcome.status})

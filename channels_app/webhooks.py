"""`/api/v1/webhooks/<type>/<channel_id>`: where platforms deliver events.

A plain Django view that reads like a checklist: channel exists → GET handshake →
signature over the raw body (403, nothing stored) → a channel waiting for its
first signed event turns ready → store the raw event under its
dedupe key (a malformed body is kept and answered 400) → wake the workers that
process stored events → 200. No outside call before the answer.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from channels_app.models import Channel
from channels_app.platforms import get_platform
from channels_app.platforms.base import Platform, SignatureInvalid
from channels_app.selectors import webhook_channel, webhook_channel_forget
from channels_app.services.channels import channel_mark_receiving
from channels_app.services.inbound import inbound_event_record
from pingback import metrics

logger = logging.getLogger(__name__)


def _channel_or_404(
    channel_type: str, channel_id: str, *, fresh: bool = False
) -> tuple[Channel, Platform]:
    try:
        channel = webhook_channel(channel_type, channel_id, fresh=fresh)
    except Channel.DoesNotExist as error:
        raise Http404("No such channel.") from error
    platform = get_platform(channel.type)
    if not platform.receives_webhooks:
        raise Http404("This channel type does not receive webhooks.")
    return channel, platform


def _log(event: str, channel: Channel, **extra: object) -> None:
    logger.warning(
        event, extra={"channel_id": str(channel.id), "platform": channel.type, **extra}
    )


def _handshake(
    request: HttpRequest, channel: Channel, platform: Platform
) -> HttpResponse:
    try:
        response = platform.handshake(channel, request)
    except SignatureInvalid:
        _log("webhook.handshake_refused", channel)
        return JsonResponse({"detail": "Cannot answer the challenge."}, status=403)
    if response is None:
        return JsonResponse({"detail": "Expected a challenge."}, status=405)
    return response


def _verified(request: HttpRequest, channel: Channel, platform: Platform) -> Channel:
    """Check the signature; when it fails against a channel this process
    loaded earlier, check it again against the channel as it is now (its
    secret may have just changed). Returns the channel it passed with; raises
    `SignatureInvalid`."""
    try:
        platform.verify(channel, request)
        return channel
    except SignatureInvalid:
        current, _ = _channel_or_404(channel.type, str(channel.pk), fresh=True)
    platform.verify(current, request)
    return current


@csrf_exempt
def webhook(request: HttpRequest, channel_type: str, channel_id: str) -> HttpResponse:
    """Answer a platform's handshake (GET) or accept one event delivery (POST).

    POST answers: 200 `{"status": "accepted"|"duplicate"|"ignored"}` (or the
    platform's own acknowledgement, e.g. empty TwiML for Twilio), 400
    `{"detail": <parse error>}` (body kept), 403 bad or missing signature (nothing
    stored), 404 unknown channel, 413 body too large.
    """
    # Handshakes are rare and often follow a credentials change (setup asks
    # the platform to check the webhook): they read the channel as it is now.
    channel, platform = _channel_or_404(
        channel_type, channel_id, fresh=request.method == "GET"
    )
    if request.method == "GET":
        return _handshake(request, channel, platform)
    if request.method != "POST":
        return JsonResponse({"detail": "Method not allowed."}, status=405)
    # Before the signature check, on the bytes actually read: the server-side
    # cap (`pingback.limits`) stops reading a body past WEBHOOK_MAX_BODY_BYTES
    # as it arrives, chunked or not; this holds wherever the view is served.
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > limit or len(request.body) > limit:
        metrics.webhook_received(channel.type, "too_large")
        return JsonResponse({"detail": "Body too large."}, status=413)
    try:
        channel = _verified(request, channel, platform)
    except SignatureInvalid as error:
        _log("webhook.signature_invalid", channel, reason=str(error))
        metrics.webhook_received(channel.type, "forged")
        return JsonResponse({"detail": "Invalid signature."}, status=403)
    # Meta offers no API to check its dashboard step: a signed event is the
    # proof it was done (no query unless the channel still waits for it).
    channel_mark_receiving(channel=channel, platform=platform)
    try:
        outcome = inbound_event_record(
            channel=channel, body=request.body, content_type=request.content_type or ""
        )
    except IntegrityError as error:
        # Only the channel's foreign key can fail (a duplicate is not an
        # error): the channel was deleted since this process loaded it.
        webhook_channel_forget(channel.pk)
        raise Http404("No such channel.") from error
    metrics.webhook_received(channel.type, outcome.status)
    if outcome.status == "malformed":
        return JsonResponse({"detail": outcome.error}, status=400)
    return platform.acknowledge(channel, outcome.status)

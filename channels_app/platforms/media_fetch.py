"""Downloading an inbound file from a link a platform gave (Twilio's
`MediaUrl`, Instagram's CDN link, WhatsApp's media URL) under the outbound
HTTP policy (`pingback.egress`), with the policy's failures turned into the
delivery errors `Platform.fetch_media` raises."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from django.conf import settings

from channels_app.platforms.base import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from pingback.egress import (
    EgressError,
    EgressRefused,
    EgressResponse,
    EgressTooLarge,
    egress_fetch,
)

NOT_DOWNLOADED = "The file was not downloaded"
TOO_LARGE = "The file is too large to keep."


def _refused_status(source: str) -> Callable[[int], str]:
    return lambda status: f"{source} refused the file download (HTTP {status})"


def media_download(
    url: str,
    *,
    source: str,
    credentials: Mapping[str, str] | None = None,
    credential_hosts: Collection[str] = (),
    only_hosts: Collection[str] | None = None,
    refused: Callable[[int], str] | None = None,
) -> EgressResponse:
    """GET `url` with `egress_fetch`: at most `MEDIA_MAX_BYTES`, within
    `PLATFORM_API_TIMEOUT` seconds in all, `credentials` only to
    `credential_hosts`, every hop within `only_hosts` when given.

    `source` names the platform in messages ("Twilio"); `refused(status)`
    words a non-2xx answer that is not worth retrying (default
    "<source> refused the file download (HTTP <status>)").

    Raises `PermanentDeliveryError`: the link may not be fetched ("The file
    was not downloaded: 10.0.0.1 is not a public address."), the file is over
    `MEDIA_MAX_BYTES`, or a 4xx answer; `TransientDeliveryError`: network
    errors, timeouts, 429 and 5xx (with `status_code`, `retry_after`).
    """
    try:
        return egress_fetch(
            url,
            max_bytes=settings.MEDIA_MAX_BYTES,
            timeout=settings.PLATFORM_API_TIMEOUT,
            credentials=credentials,
            credential_hosts=credential_hosts,
            only_hosts=only_hosts,
        )
    except EgressError as error:
        raise media_error(error, source, refused) from error


def media_error(
    error: EgressError, source: str, refused: Callable[[int], str] | None = None
) -> DeliveryError:
    """The delivery error for a failed `egress_fetch` of a file (see
    `media_download`)."""
    if isinstance(error, EgressRefused):
        return PermanentDeliveryError(f"{NOT_DOWNLOADED}: {error.reason}")
    if isinstance(error, EgressTooLarge):
        return PermanentDeliveryError(TOO_LARGE)
    if error.transient:
        return TransientDeliveryError(
            f"Could not download the file from {source}: {error.reason}",
            status_code=error.status_code,
            retry_after=error.retry_after,
        )
    status = error.status_code or 0
    return PermanentDeliveryError(
        (refused or _refused_status(source))(status), status_code=error.status_code
    )

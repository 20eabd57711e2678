"""Remote images of e-mails, loaded through PingBack when an agent asks.

An e-mail's `<img src="https://...">` is not loaded by the agent's browser
(`channels_app.platforms.email_html.html_hold_remote_images`): it would tell
the sender who read the message, when, and from which address. When the agent
clicks "Load remote images", the browser asks PingBack for each image through
a signed link naming the message and the image URL (`remote_image_link`), and
PingBack fetches it under the outbound HTTP policy (`pingback.egress`): public
addresses only, at most `REMOTE_IMAGE_MAX_BYTES`, within
`REMOTE_IMAGE_TIMEOUT` seconds, raster image types only, and nothing of the
agent's request (cookies, referrer, address, user agent) is passed on. The
sender sees a request from PingBack's server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from billing.models import Business
from channels_app.platforms.email_html import html_hold_remote_images
from conversations.models import Message
from pingback.egress import EgressError, egress_fetch

logger = logging.getLogger(__name__)

_LINK_SALT = "pingback.remote-image"
# Raster types only: an SVG may carry script and links of its own.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Sent with each fetch instead of anything from the agent's browser.
REQUEST_HEADERS = {
    "User-Agent": "PingBack image proxy",
    "Accept": ", ".join(IMAGE_TYPES),
}


class RemoteImageError(Exception):
    """The image could not be fetched or is not an allowed image. `reason`
    is a short sentence safe to show to the agent (no URL path or query)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RemoteImage:
    """A fetched image: its bytes and media type (one of `IMAGE_TYPES`)."""

    content: bytes
    content_type: str


def remote_image_link(message_id: int, url: str) -> str:
    """The PingBack path that serves `url`, an image of message `message_id`,
    to agents of the message's business: a token signed with SECRET_KEY,
    valid for `settings.ATTACHMENT_LINK_MAX_AGE` seconds."""
    token = signing.dumps([message_id, url], salt=_LINK_SALT, compress=True)
    return reverse("remote-image", kwargs={"token": token})


def remote_image_resolve(token: str, *, business: Business) -> tuple[Message, str]:
    """The `(message, url)` a `remote_image_link` token names, when the token
    is genuine and unexpired, the message belongs to `business`, and its
    e-mail HTML holds that image. Raises `Message.DoesNotExist` otherwise
    (the caller answers 404 and fetches nothing)."""
    try:
        message_id, url = signing.loads(
            token, salt=_LINK_SALT, max_age=settings.ATTACHMENT_LINK_MAX_AGE
        )
    except (signing.BadSignature, ValueError, TypeError) as error:
        raise Message.DoesNotExist("No such image link.") from error
    message = Message.objects.get(
        pk=message_id, conversation__business=business, html__gt=""
    )
    _body, remote = html_hold_remote_images(message.html)
    if url not in remote:
        raise Message.DoesNotExist("The message holds no such image.")
    return message, url


def remote_image_fetch(*, message: Message, url: str) -> RemoteImage:
    """Fetch image `url` of `message` under the outbound HTTP policy.

    Raises `RemoteImageError` when the address is not allowed (not public),
    the server fails or does not answer within `REMOTE_IMAGE_TIMEOUT`
    seconds, the answer is larger than `REMOTE_IMAGE_MAX_BYTES`, or it is not
    a PNG, JPEG, GIF or WebP image."""
    extra = {"message_id": message.pk}
    try:
        fetched = egress_fetch(
            url,
            max_bytes=settings.REMOTE_IMAGE_MAX_BYTES,
            timeout=settings.REMOTE_IMAGE_TIMEOUT,
            headers=REQUEST_HEADERS,
        )
    except EgressError as error:
        logger.info("remote_image.failed", extra={**extra, "reason": error.reason})
        raise RemoteImageError(
            f"The image could not be loaded: {error.reason}"
        ) from error
    if fetched.content_type not in IMAGE_TYPES:
        logger.info(
            "remote_image.not_an_image",
            extra={**extra, "content_type": fetched.content_type[:100]},
        )
        raise RemoteImageError("The link is not a PNG, JPEG, GIF or WebP image.")
    logger.info("remote_image.fetched", extra={**extra, "size": len(fetched.content)})
    return RemoteImage(content=fetched.content, content_type=fetched.content_type)

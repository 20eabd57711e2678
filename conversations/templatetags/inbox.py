"""Template helpers for the inbox pages."""

from __future__ import annotations

from typing import Any

from django import template

from conversations.models import Message
from conversations.services.attachments import attachment_link, attachment_needs_fetch

register = template.Library()


@register.filter
def shown_attachments(message: Message) -> list[dict[str, Any]]:
    """A message's attachments as the thread shows them: each with `kind`,
    `label`, `link` (a signed PingBack link once the file is stored, else the
    platform's public link, else None), `is_image`, `pending` (still being
    fetched), `error`, and for a location `map_link`."""
    shown = []
    for index, attachment in enumerate(message.attachments or ()):
        kind = attachment.get("kind") or attachment.get("type") or "file"
        link = None
        if attachment.get("stored"):
            link = attachment_link(message.pk, index)
        elif attachment.get("url") and not attachment.get("ref"):
            link = attachment["url"]
        map_link = None
        if kind == "location" and "latitude" in attachment:
            lat, lon = attachment["latitude"], attachment["longitude"]
            map_link = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}"
        label = attachment.get("filename") or attachment.get("name") or kind
        shown.append(
            {
                "kind": kind,
                "label": label,
                "link": link,
                "is_image": kind in ("image", "sticker", "photo") and bool(link),
                "pending": attachment_needs_fetch(attachment),
                "error": attachment.get("fetch_error", ""),
                "map_link": map_link,
                "address": attachment.get("address", ""),
            }
        )
    return shown

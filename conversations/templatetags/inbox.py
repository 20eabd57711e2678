"""Template helpers for the inbox pages."""

from __future__ import annotations

import json
import re
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from channels_app.platforms.email_html import cid_key, html_hold_remote_images
from contacts.naming import ContactDisplay, contact_display_name, contact_own_name
from conversations.models import Contact, Conversation, Message
from conversations.services.attachments import attachment_link, attachment_needs_fetch
from conversations.services.remote_images import remote_image_link

register = template.Library()

# Links the inbox makes from what customers and platforms send: web pages and
# e-mail addresses, or PingBack's own paths. Anything else (`javascript:`,
# `data:`, `vbscript:`, `file:`...) is shown as text. Whitespace and control
# characters are refused anywhere, as browsers drop some of them when they read
# a URL (`java\tscript:` runs as `javascript:`), and a path may not start with
# `//` or `/\` (another host).
_LINKABLE = re.compile(
    r"(?:https?://|mailto:|/(?![/\\]))[^\x00-\x20\x7f]*\Z", re.IGNORECASE
)
_BIDI_ISOLATE = "\u2068{}\u2069"


def link_url(url: str | None) -> str | None:
    """`url` if the inbox may make it a link (`http:`, `https:`, `mailto:` or a
    path on PingBack), else None."""
    if url and _LINKABLE.match(url):
        return url
    return None


@register.filter
def phone(e164: str) -> str:
    """An E.164 number written for people: `+14155550100` → `+1 415-555-0100`
    (`contacts.phones.phone_display`)."""
    from contacts.phones import phone_display

    return phone_display(e164) if e164 else ""


@register.filter
def isolate(text: Any) -> str:
    """`text` between FIRST STRONG ISOLATE (U+2068) and POP DIRECTIONAL
    ISOLATE (U+2069), for places that take no `<bdi>` element (the page
    title): a right-to-left override inside cannot reorder what follows."""
    return _BIDI_ISOLATE.format(text)


@register.filter
def shown_html(message: Message) -> dict[str, SafeString | int]:
    """A message's e-mail HTML as the thread shows it: `html` (the body
    sanitised when the e-mail was parsed, with remote images held back, see
    `html_hold_remote_images`, each with its PingBack proxy link in
    `data-proxy-src`) and `remote_images` (how many were held). An inline
    image (`cid:`) shows the stored attachment whose `content_id` it names,
    by its PingBack link; one naming no stored attachment is left out."""
    inline = {
        cid_key(str(attachment["content_id"])): attachment_link(message.pk, index)
        for index, attachment in enumerate(message.attachments or ())
        if isinstance(attachment, dict)
        and attachment.get("content_id")
        and attachment.get("stored")
    }
    body, remote = html_hold_remote_images(
        message.html or "",
        proxy=lambda url: remote_image_link(message.pk, url),
        inline=inline.get,
    )
    # Safe: `message.html` was sanitised with nh3 when the e-mail was parsed,
    # and re-emitting it escapes text and attribute values again.
    return {"html": mark_safe(body), "remote_images": len(remote)}  # noqa: S308


@register.filter
def shown_details(message: Message) -> dict[str, Any]:
    """What the thread shows of `Message.details` (see
    `platforms.base.InboundMessage`), each part safe to render:
        sender: the group member's name (or handle), "" when none;
        context: [{label, text, link}] with `link` only for a safe URL;
        folded: [{label, text}];
        raw: the raw event as indented JSON, "" when none;
        reactions: [{emoji, by}] where `by` is "Customer" or the agent's id;
        automatic: what PingBack sent by itself (`away_message`), "" for a
        message somebody wrote.
    """
    details = message.details if isinstance(message.details, dict) else {}
    sender = details.get("sender") if isinstance(details.get("sender"), dict) else {}
    raw = details.get("raw")
    return {
        "automatic": str(details.get("automatic") or ""),
        "sender": str(sender.get("name") or sender.get("handle") or ""),
        "context": [
            {
                "label": str(item.get("label") or ""),
                "text": str(item.get("text") or ""),
                "link": link_url(str(item.get("url") or "")),
            }
            for item in _dicts(details.get("context"))
        ],
        "folded": [
            {
                "label": str(item.get("label") or gettext("Hidden part")),
                "text": str(item.get("text") or ""),
            }
            for item in _dicts(details.get("folded"))
        ],
        "raw": json.dumps(raw, indent=2, ensure_ascii=False, sort_keys=True)
        if raw is not None
        else "",
        "reactions": [
            {
                "emoji": str(item.get("emoji") or ""),
                "by": item.get("by"),
                # An agent's reaction the platform refused: its reason.
                "error": str(item.get("error") or "")
                if item.get("status") == "failed"
                else "",
            }
            for item in _dicts(message.reactions)
            if item.get("emoji")
        ],
    }


def _dicts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


@register.filter
def shown_attachments(message: Message) -> list[dict[str, Any]]:
    """A message's attachments as the thread shows them: each with `kind`,
    `label`, `link` (a signed PingBack link once the file is stored, else the
    platform's public link when it is http(s), else None), `unsafe_url` (a
    platform link of another scheme, shown as text only), `is_image` (a
    stored image, shown inline),
    `pending` (still being fetched), `error`, and for a location `map_link`."""
    shown = []
    for index, attachment in enumerate(message.attachments or ()):
        kind = attachment.get("kind") or attachment.get("type") or "file"
        link = None
        unsafe_url = ""
        if attachment.get("stored"):
            link = attachment_link(message.pk, index)
        elif attachment.get("url") and not attachment.get("ref"):
            link = link_url(str(attachment["url"]))
            if link is None:
                unsafe_url = str(attachment["url"])
        map_link = None
        if kind == "location" and "latitude" in attachment:
            try:
                lat = float(attachment["latitude"])
                lon = float(attachment["longitude"])
            except (KeyError, TypeError, ValueError):
                pass
            else:
                map_link = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}"
        label = attachment.get("filename") or attachment.get("name") or kind
        shown.append(
            {
                "kind": kind,
                "label": label,
                "link": link,
                "unsafe_url": unsafe_url,
                # Shown inline only from PingBack itself (`img-src 'self'`,
                # and the bucket's origin when links redirect to it).
                "is_image": kind in ("image", "sticker", "photo")
                and bool(attachment.get("stored")),
                "pending": attachment_needs_fetch(attachment),
                "error": attachment.get("fetch_error", ""),
                "map_link": map_link,
                "address": attachment.get("address", ""),
            }
        )
    return shown


# The workspace's interface icons (24x24 outline paths, drawn for PingBack),
# inlined so they take the text colour. Brand icons for channels are files
# under static/inbox/icons/.
_ICONS = {
    "chevron": '<path d="m6 9 6 6 6-6"/>',
    "check": '<path d="M20 6 9 17l-5-5"/>',
    "clock": '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
    "user": '<circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0"/>',
    "team": '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/>'
    '<path d="M16 4.5a3.5 3.5 0 0 1 0 7M18 14a6.5 6.5 0 0 1 3.5 6"/>',
    "label": '<path d="M3 12V4a1 1 0 0 1 1-1h8l9 9-9 9z"/>'
    '<circle cx="7.5" cy="7.5" r="1.5"/>',
    "panel": '<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M15 4v16"/>',
    "back": '<path d="M15 18 9 12l6-6"/>',
    "close": '<path d="M18 6 6 18M6 6l12 12"/>',
}


@register.simple_tag
def icon(name: str) -> SafeString:
    """An interface icon (`chevron`, `check`, `clock`, `user`, `team`,
    `label`, `panel`, `back`, `close`) as inline SVG, hidden from assistive technology
    (the control it sits in carries the words)."""
    return mark_safe(  # noqa: S308 - constant markup from _ICONS
        '<svg class="icon" viewBox="0 0 24 24" width="16" height="16" fill="none" '
        'stroke="currentColor" stroke-width="2" stroke-linecap="round" '
        'stroke-linejoin="round" aria-hidden="true" focusable="false">'
        f"{_ICONS[name]}</svg>"
    )


@register.filter
def name_initials(name: str) -> str:
    """Up to two letters for an avatar: `Ana Silva` → `AS`."""
    from conversations.workspace import initials

    return initials(str(name))


@register.filter
def agent_initials(user: Any) -> str:
    """An agent's avatar letters, from their full name or username."""
    from conversations.workspace import initials

    return initials(user.get_full_name() or user.get_username())


@register.filter
def activity_text(message: Any) -> str:
    """`{{ message|activity_text }}`: what an activity entry says, in the
    active language (`conversations.activity.activity_text`; an older entry
    is shown as stored)."""
    from conversations.activity import activity_text as text

    return text(message)


@register.filter
def snooze_time(when: Any, business: Any) -> str:
    """A snooze time as the business reads it, in its time zone and as the
    thread's activity entries write it (`snooze_label`: `Tue 9 Dec 09:00
    EST`, in the active language); empty for None."""
    from conversations.activity import snooze_label
    from conversations.services.snooze import business_zone

    if when is None:
        return ""
    return snooze_label(when, business_zone(business))


# ------------------------------------------------------------------ contacts


@register.filter
def contact_display(conversation: Conversation) -> ContactDisplay:
    """`contacts.naming.contact_display_name` of a conversation's contact,
    identity and channel type: `{% with who=conversation|contact_display %}`
    then `who.name`, `who.handle`, or `{{ who }}` for one line of text."""
    return contact_display_name(
        conversation.contact, conversation.contact_identity, conversation.channel_type
    )


@register.filter
def contact_name(contact: Contact) -> ContactDisplay:
    """`contacts.naming.contact_own_name`: how to name a contact on the
    contacts pages (no conversation at hand)."""
    return contact_own_name(contact)


# The quick reactions the thread offers agents, as WhatsApp offers them.
REACTION_CHOICES = (
    ("👍", "thumbs up"),
    ("❤️", "heart"),
    ("😂", "laughing"),
    ("😮", "surprised"),
    ("😢", "sad"),
    ("🙏", "thanks"),
)


@register.simple_tag
def reaction_choices(
    message: Message, user: Any, channel_type: str
) -> list[dict[str, Any]]:
    """The quick reactions offered on `message` of a conversation on a
    `channel_type` channel, empty when it takes none
    (a note or activity entry, a reply not sent yet, a channel whose
    platform does not take reactions). Each: `emoji`, `name`, `mine`
    (`user`'s current reaction: choosing it again removes it) and `value`
    (what choosing it sends: the emoji, or "" to remove it)."""
    from channels_app.platforms import UnknownChannelType, get_platform

    if message.kind in Message.PRIVATE_KINDS or not message.platform_message_id:
        return []
    try:
        supported = get_platform(channel_type).supports_reactions
    except UnknownChannelType:
        supported = False
    if not supported:
        return []
    user_id = getattr(user, "pk", None)
    current = next(
        (
            str(item.get("emoji") or "")
            for item in message.reactions or []
            if item.get("by") == "agent" and item.get("author_id") == user_id
        ),
        "",
    )
    return [
        {
            "emoji": emoji,
            "name": name,
            "mine": emoji == current,
            "value": "" if emoji == current else emoji,
        }
        for emoji, name in REACTION_CHOICES
    ]


@register.filter
def channel_type_label(channel_type: str) -> str:
    """A channel type as people read it (`whatsapp` → `WhatsApp`): the
    `Channel.Type` label, or the type itself when unknown."""
    from channels_app.models import Channel

    try:
        return Channel.Type(channel_type).label
    except ValueError:
        return channel_type

"""The platform registry: one line per channel type.

`get_platform(channel_type)` returns the platform object serving that type; a
system check (`channels_app.checks`) fails start-up if a `Channel.Type` has none.
"""

from channels_app.platforms.base import Platform
from channels_app.platforms.email import EmailPlatform
from channels_app.platforms.instagram import InstagramPlatform
from channels_app.platforms.sms import SmsPlatform
from channels_app.platforms.telegram import TelegramPlatform
from channels_app.platforms.web_widget import WebWidgetPlatform
from channels_app.platforms.whatsapp import WhatsAppPlatform
from channels_app.platforms.x import XPlatform

REGISTRY: dict[str, Platform] = {
    "webchat": WebWidgetPlatform(),
    "widget": WebWidgetPlatform(),
    "email": EmailPlatform(),
    "whatsapp": WhatsAppPlatform(),
    "telegram": TelegramPlatform(),
    "instagram": InstagramPlatform(),
    "x": XPlatform(),
    "sms": SmsPlatform(),
}


class UnknownChannelType(LookupError):
    """No platform is registered for the channel type."""


def get_platform(channel_type: str) -> Platform:
    """Return the platform for `channel_type`; raise `UnknownChannelType`."""
    try:
        return REGISTRY[channel_type]
    except KeyError:
        raise UnknownChannelType(
            f"no platform for channel type {channel_type!r}"
        ) from None

"""Websocket routes of the agents' inbox (mounted by `pingback.asgi`)."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from conversations.consumers import InboxConsumer

websocket_urlpatterns = [
    # Only PingBack's own pages (an Origin in ALLOWED_HOSTS) with the agent's
    # session cookie.
    path(
        "ws/inbox/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(InboxConsumer.as_asgi())),
    ),
]

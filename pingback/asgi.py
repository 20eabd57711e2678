"""ASGI entry point: `uvicorn pingback.asgi:application`.

HTTP goes to Django behind `BodyLimitMiddleware` (a body larger than its
path's cap is answered 413 as its bytes arrive, before Django reads it);
websockets to Django Channels: `/ws/widget/<channel id>/` (visitors of the web
widget, checked against the channel's allowed domains) and `/ws/inbox/`
(agents' live inbox, session-authenticated, PingBack's own origin).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pingback.settings")

# Set up Django before the routes import models.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from channels_app.widget.routing import (  # noqa: E402
    websocket_urlpatterns as widget_routes,
)
from conversations.routing import websocket_urlpatterns as inbox_routes  # noqa: E402
from pingback.limits import BodyLimitMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(django_application),
        "websocket": URLRouter([*widget_routes, *inbox_routes]),
    }
)

"""Websocket routes of the web widget (mounted by `pingback.asgi`)."""

from django.urls import path

from channels_app.widget.consumers import WidgetConsumer

websocket_urlpatterns = [
    # Any id: an unknown one is refused by the consumer like an inactive channel.
    path("ws/widget/<str:channel_id>/", WidgetConsumer.as_asgi()),
]

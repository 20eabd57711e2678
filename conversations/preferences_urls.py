"""The agent's own preferences page (`/settings/preferences/`). Included by the
project's URLs through `conversations/urls.py`."""

from django.urls import path

from conversations import preferences_views

urlpatterns = [
    path(
        "settings/preferences/",
        preferences_views.preferences,
        name="preferences",
    ),
]

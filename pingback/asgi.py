"""ASGI entry point (uvicorn pingback.asgi:application)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pingback.settings")

application = get_asgi_application()

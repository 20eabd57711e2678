"""WSGI entry point (gunicorn pingback.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pingback.settings")

application = get_wsgi_application()

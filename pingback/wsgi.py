"""WSGI entry point (gunicorn pingback.wsgi): Django behind `BodyLimitWSGI`
(a body larger than its path's cap is answered 413 without being read)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pingback.settings")

django_application = get_wsgi_application()

from pingback.limits import BodyLimitWSGI  # noqa: E402

application = BodyLimitWSGI(django_application)

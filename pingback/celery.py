"""The Celery app: configured from Django settings under the `CELERY_` namespace.

Source: https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import os

from celery import Celery

# Its signal handlers carry a web request's id into the tasks it queues.
from pingback import logs  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pingback.settings")

app = Celery("pingback")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

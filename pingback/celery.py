"""The Celery app: configured from Django settings under the `CELERY_` namespace.

Source: https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

# Its signal handlers carry a web request's id into the tasks it queues.
from pingback import logs  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pingback.settings")

app = Celery("pingback")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect(weak=False)
@task_postrun.connect(weak=False)
def _database_connections_tidy(sender=None, **kwargs) -> None:
    """Before and after each task run by a worker, close this thread's
    database connection if it is past `DATABASE_CONN_MAX_AGE` or broken, as
    Django does around each request (`close_old_connections`).

    Celery's Django fixup recycles connections by count
    (`CELERY_DB_REUSE_MAX`), which suits the prefork pool's one connection
    per process; in a thread pool (the `delivery` worker) each thread holds
    its own connection, which would otherwise never be checked for age or
    health. Eager tasks run inside a request, which does this itself."""
    request = getattr(sender, "request", None)
    if request is None or getattr(request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()

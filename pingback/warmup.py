"""Work a web process does once, before its first request, instead of during
it (called from `gunicorn.conf.py`'s `post_worker_init`)."""

from __future__ import annotations


def warm_up() -> None:
    """Import the URLconf, and with it every view and platform SDK, and build
    the keys that decrypt channel credentials (`PINGBACK_ENCRYPTION_KEYS`,
    cached per process by `pingback.encryption.fernet_for_keys`).

    Django loads the URLconf lazily and the encrypted field builds its keys on
    first use, so otherwise the first request each worker serves (after every
    start, reload or `max_requests` recycling) waits for them.
    """
    from django.urls import get_resolver

    from channels_app.models import Channel

    get_resolver().url_patterns  # noqa: B018 (loading it is the point)
    Channel._meta.get_field("secrets").f  # noqa: B018 (cached per process)

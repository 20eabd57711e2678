"""Test helper: forget the throttling counters a test leaves in the cache.

`cache.clear()` would empty the whole Redis database, which the Celery broker
and the channel layer share in CI; this deletes only keys of the given shape.
"""

from django.conf import settings
from django.core.cache import cache


def delete_cache_keys(pattern: str) -> None:
    """Delete the default cache's keys matching the glob `pattern` (as passed
    to the cache, before Django's key prefix and version are added)."""
    if not settings.REDIS_URL:
        cache.clear()  # in-memory: this process's alone
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match=cache.make_key(pattern), count=1000):
        client.delete(key)

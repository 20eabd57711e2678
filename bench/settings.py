"""Settings of the benchmark's ceiling server: PingBack's settings, plus the bare
view of `bench.ceiling` in the URLs. Served by the same `gunicorn.conf.py`
(`DJANGO_SETTINGS_MODULE=bench.settings`)."""

from pingback.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

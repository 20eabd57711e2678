"""The web worker's warm-up: what gunicorn runs before a worker's first request."""

import runpy
from pathlib import Path

from channels_app.models import Channel
from pingback.encryption import fernet_for_keys
from pingback.warmup import warm_up

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def test_gunicorn_warms_each_worker_up_before_its_first_request(monkeypatch):
    called = []
    monkeypatch.setattr("pingback.warmup.warm_up", lambda: called.append(True))
    conf = runpy.run_path(str(GUNICORN_CONF))

    conf["post_worker_init"](worker=None)

    assert called == [True]


def test_warm_up_builds_the_credentials_keys_once_for_the_process():
    fernet_for_keys.cache_clear()

    warm_up()

    # Cached for the process: the first webhook's decryption does not build them.
    Channel._meta.get_field("secrets").f  # noqa: B018 (what a decryption uses)
    info = fernet_for_keys.cache_info()
    assert (info.currsize, info.misses, info.hits) == (1, 1, 1)

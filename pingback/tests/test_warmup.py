"""The web worker's warm-up: what gunicorn runs before a worker's first request."""

import runpy
from pathlib import Path

from channels_app.models import Channel
from pingback.warmup import warm_up

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def test_gunicorn_warms_each_worker_up_before_its_first_request(monkeypatch):
    called = []
    monkeypatch.setattr("pingback.warmup.warm_up", lambda: called.append(True))
    conf = runpy.run_path(str(GUNICORN_CONF))

    conf["post_worker_init"](worker=None)

    assert called == [True]


def test_warm_up_derives_the_credentials_key_once_for_the_process():
    field = Channel._meta.get_field("secrets")
    field.__dict__.pop("f", None)

    warm_up()

    # Cached on the field: the first webhook's decryption does not derive it.
    assert "f" in field.__dict__

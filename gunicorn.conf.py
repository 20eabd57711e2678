"""gunicorn configuration for PingBack's web processes (`gunicorn -c gunicorn.conf.py`).

Every value comes from the environment, so one file serves production, the demo
and the benchmarks (`bench/`). See docs/deployment.md for how it fits with the
Celery workers, PostgreSQL and Redis.

Source: https://docs.gunicorn.org/en/stable/settings.html
"""

import multiprocessing
import os

# The WSGI application (pages, API, webhooks). Websockets are served by uvicorn
# processes running `pingback.asgi:application` (docs/deployment.md).
# `pingback.wsgi:application` caps request bodies itself (`pingback.limits`:
# 413 past WEBHOOK_MAX_BODY_BYTES / REQUEST_MAX_BODY_BYTES, chunked bodies
# included); gunicorn has no body limit of its own. An application given here
# instead should keep that cap.
wsgi_app = os.environ.get("GUNICORN_APP", "pingback.wsgi:application")

# Address to listen on: `host:port` or `unix:/path`, several separated by commas.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")

# Worker processes: gunicorn's rule of thumb (2 x cores + 1) unless
# WEB_CONCURRENCY says otherwise.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))

# `sync` (one request at a time per process) or `gthread` (with
# GUNICORN_THREADS threads per process).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))

# Seconds: a worker silent for longer is killed and restarted; shutdown waits
# `graceful_timeout` for requests in flight; idle keep-alive connections (gthread,
# uvicorn) close after `keepalive`.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))

# Recycle each worker after this many requests (0: never), with jitter so they
# do not all restart at once; bounds the damage of a slow leak.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))

# Pending connections the kernel queues while every worker is busy.
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))

# `-` logs to stdout; unset, no access log (the load balancer usually keeps one).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Behind a TLS-terminating proxy: which proxies may set X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker) -> None:
    """Before the worker's first request: `pingback.warmup.warm_up`."""
    from pingback.warmup import warm_up

    warm_up()

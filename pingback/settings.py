"""PingBack settings, read from the environment.

Every value comes from an environment variable (or `.env`, see `.env.example`) via
django-environ. The defaults run with no server at all: SQLite, Celery tasks run
eagerly in the web process, in-memory cache. `DATABASE_URL` and `REDIS_URL` switch
to PostgreSQL and Redis.

Source: https://django-environ.readthedocs.io/en/latest/
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from pingback.storage import media_storages

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --------------------------------------------------------------------------- core

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Development may run on the public development keys (DJANGO_SECRET_KEY here,
# PINGBACK_ENCRYPTION_KEYS below): with DJANGO_DEBUG on (`bin/run` sets it),
# with PINGBACK_ALLOW_DEV_KEYS=1, or under pytest (which sets PYTEST_VERSION for
# itself and the servers and workers its tests start). Anything else is
# production, which refuses to start without keys of its own.
DEV_KEYS_ALLOWED = (
    DEBUG
    or env.bool("PINGBACK_ALLOW_DEV_KEYS", default=False)
    or "PYTEST_VERSION" in os.environ
)
# Signs sessions, CSRF tokens and the widget's visitor tokens. Generate with
# python -c "import secrets; print(secrets.token_urlsafe(50))".
DEV_SECRET_KEY = "insecure-dev-only-change-me"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="").strip()
if not SECRET_KEY and DEV_KEYS_ALLOWED:
    SECRET_KEY = DEV_SECRET_KEY
if not DEV_KEYS_ALLOWED and SECRET_KEY in ("", DEV_SECRET_KEY):
    _problem = "is not set" if not SECRET_KEY else "is the public development key"
    raise ImproperlyConfigured(
        f"DJANGO_SECRET_KEY {_problem}: production needs a secret key of its own. "
        "Generate one with: python -c 'import secrets; "
        "print(secrets.token_urlsafe(50))' and set DJANGO_SECRET_KEY to it "
        "(docs/deployment.md). For local development set DJANGO_DEBUG=1 or "
        "PINGBACK_ALLOW_DEV_KEYS=1 instead."
    )
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "pingback.admin_apps.PingBackAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "channels",
    "anymail",
    "axes",
    "billing",
    "channels_app",
    "conversations",
    "contacts",
    "workspace",
    "webhooks",
    "reports",
    "satisfaction",
    "automation",
]
# The platform sandbox (a stand-in for every platform's API, and the
# `run_sandbox` and `setup_demo` commands) is demo and test tooling, never part
# of production: installed in development (DJANGO_DEBUG, which `bin/run`
# sets), under pytest, or with PINGBACK_SANDBOX=1. No production module
# imports it.
SANDBOX_INSTALLED = env.bool(
    "PINGBACK_SANDBOX", default=DEBUG or "PYTEST_VERSION" in os.environ
)
if SANDBOX_INSTALLED:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    # First: every log line of the request carries its id (pingback/logs.py).
    "pingback.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: the member's chosen language, else the browser's.
    "pingback.i18n.LanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pingback.urls"
WSGI_APPLICATION = "pingback.wsgi.application"
ASGI_APPLICATION = "pingback.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ----------------------------------------------------------------------- database

# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads write at once (runserver, the demo's eager tasks, the live
    # server and worker in tests): wait for the lock instead of failing, and
    # test on a file, as SQLite's shared in-memory cache fails at once with
    # "database table is locked".
    # https://docs.djangoproject.com/en/5.2/ref/databases/#database-is-locked-errors
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
# Lets several test runs share one machine (e.g. `test_pingback_bench` beside
# `test_pingback`); for SQLite the name is a file path.
if env.str("PINGBACK_TEST_DB_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env.str("PINGBACK_TEST_DB_NAME")}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -------------------------------------------------------------------------- redis

REDIS_URL = env.str("REDIS_URL", default="")
# Under pytest-xdist (`bin/test` runs the suite in parallel) each test process
# (gw0, gw1, ...) takes a Redis database of its own, after the one REDIS_URL
# names, as pytest-django gives each its own test database: one process's
# queues, locks and wake flags are never another's. The URL chosen is written
# back to the environment, marked, so the processes a test starts (a worker, a
# server) inherit it as it is instead of moving one database further.
if (
    REDIS_URL
    and env.str("PYTEST_XDIST_WORKER", default="").startswith("gw")
    and not env.bool("PINGBACK_XDIST_REDIS", default=False)
):
    from urllib.parse import urlsplit as _urlsplit

    _redis = _urlsplit(REDIS_URL)
    _redis_db = int(_redis.path.strip("/") or 0) + 1
    _redis_db += int(env.str("PYTEST_XDIST_WORKER")[2:])
    REDIS_URL = _redis._replace(path=f"/{_redis_db % 16}").geturl()
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["PINGBACK_XDIST_REDIS"] = "1"

# Seconds a web or worker process waits on Redis (connect, and each command)
# before giving up: a frozen Redis must not hold a request for long. The
# broker's own wait is in CELERY_BROKER_TRANSPORT_OPTIONS below.
REDIS_TIMEOUT = env.float("REDIS_TIMEOUT", default=0.5)
# Seconds a Celery task waits to publish a live-inbox event (nobody waits on
# the task; a busy machine can take longer than REDIS_TIMEOUT and the open
# pages would miss the event).
REALTIME_TASK_TIMEOUT = env.float("REALTIME_TASK_TIMEOUT", default=3.0)

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT,
                "socket_timeout": REDIS_TIMEOUT,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Django Channels: realtime events (live inbox, web widget) fan out over Redis
# when it is configured, so every web process sees them; in memory otherwise
# (one process only, as in the default `bin/run`).
ASGI_APPLICATION = "pingback.asgi.application"
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    # No read timeout: consumers block on their Redis
                    # connection for events (BZPOPMIN, 5 s at a time; redis-py
                    # 8 would otherwise time the read out at 5 s too and end
                    # every websocket idle that long). Publishing waits at
                    # most REDIS_TIMEOUT (conversations/realtime.py).
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": REDIS_TIMEOUT,
                        "socket_timeout": None,
                    }
                ]
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# ------------------------------------------------------------------------- celery

# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# Without a broker, tasks run eagerly in the calling process (after the commit that
# scheduled them), so a fresh checkout needs no Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# A broker set on its own (RabbitMQ without REDIS_URL, say) is used too: only
# the in-memory default runs tasks inline.
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL.startswith("memory://")
)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
# Tasks a worker process reserves beyond the one it runs: 1, so a worker that
# dies holds few tasks back (replies come back through the outbox sweeper
# anyway; other tasks wait for the broker's visibility timeout).
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int(
    "CELERY_WORKER_PREFETCH_MULTIPLIER", default=1
)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Two queues (docs/deployment.md, "Workers: Celery"): sending replies, which
# mostly waits on the platforms' APIs, goes to `delivery`, consumed by a
# worker with a thread pool (Procfile `delivery`); everything else stays on
# `default` (Procfile `worker`, prefork). A worker started without `-Q`
# consumes both (`bin/run`, the tests' embedded worker).
CELERY_TASK_QUEUES = (
    # As Celery declares a queue it creates on first use.
    Queue("default", Exchange("default"), routing_key="default"),
    Queue("delivery", Exchange("delivery"), routing_key="delivery"),
)
CELERY_TASK_ROUTES = {"channels.deliver_message": {"queue": "delivery"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How long a publish waits for the broker (seconds). Replies are published by
# a background relay (channels_app/services/outbox.py), never by the request.
# https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.redis.html
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("BROKER_TIMEOUT", default=2.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    # Above the worker's 1-second BRPOP, so an idle worker's poll is not cut.
    "socket_timeout": CELERY_BROKER_CONNECTION_TIMEOUT + 3.0,
}
# RabbitMQ (`amqp://`, docs/deployment.md "RabbitMQ as the broker"): kombu
# hands these options to py-amqp's Connection, which ignores the Redis ones
# above. Connecting (and the AMQP handshake) waits CELERY_BROKER_CONNECTION_
# TIMEOUT; a publish to a broker that stopped reading (frozen, or blocking
# publishers on a memory or disk alarm) fails after `write_timeout` instead of
# holding the outbox relay's thread, which then retries.
# https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.pyamqp.html
if CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "write_timeout": CELERY_BROKER_CONNECTION_TIMEOUT + 3.0,
    }
# The outbox (channels_app/services/outbox.py): a queued reply no worker has
# claimed OUTBOX_REPUBLISH_AFTER seconds after it was due is published again
# by the sweeper, which beat runs every OUTBOX_SWEEP_INTERVAL seconds; a
# process's relay retries a publish the broker refused every
# OUTBOX_RELAY_RETRY_SECONDS.
OUTBOX_REPUBLISH_AFTER = env.float("OUTBOX_REPUBLISH_AFTER", default=30.0)
OUTBOX_SWEEP_INTERVAL = env.float("OUTBOX_SWEEP_INTERVAL", default=10.0)
OUTBOX_RELAY_RETRY_SECONDS = env.float("OUTBOX_RELAY_RETRY_SECONDS", default=1.0)
# Longest a delivery task may take; a send is one HTTP call with its own timeout.
# Periodic tasks (run `celery -A pingback beat`): poll the IMAP mailboxes of
# e-mail channels every EMAIL_POLL_INTERVAL seconds; every INBOUND_SWEEP_INTERVAL
# seconds, process stored events no wake-up reached (a worker lost mid-drain);
# hourly, drop delivery receipts held a day for messages PingBack never recorded.
EMAIL_POLL_INTERVAL = env.float("EMAIL_POLL_INTERVAL", default=30.0)
# X channels in polling mode are read every X_POLL_INTERVAL seconds: 120 s is
# 7.5 reads per 15-minute window per stream, under the lowest published
# per-user limits of GET /2/users/:id/mentions and GET /2/dm_events
# (docs/platforms/x.md, "Polling"). A new polling channel reads from
# X_POLL_LOOKBACK seconds before its setup.
X_POLL_INTERVAL = env.float("X_POLL_INTERVAL", default=120.0)
X_POLL_LOOKBACK = env.float("X_POLL_LOOKBACK", default=2 * X_POLL_INTERVAL)
INBOUND_SWEEP_INTERVAL = env.float("INBOUND_SWEEP_INTERVAL", default=15.0)
# Every CHANNEL_SETUP_REFRESH_INTERVAL seconds, beat re-runs setup for the
# channels an older release set up differently (e.g. Telegram webhooks
# registered for fewer update kinds): docs/platforms/telegram.md.
CHANNEL_SETUP_REFRESH_INTERVAL = env.float(
    "CHANNEL_SETUP_REFRESH_INTERVAL", default=600.0
)
# Every SNOOZE_WAKE_INTERVAL seconds, beat reopens the conversations whose
# snooze has ended (a snooze ends up to this late).
SNOOZE_WAKE_INTERVAL = env.float("SNOOZE_WAKE_INTERVAL", default=30.0)
# Outgoing webhooks (webhooks/, docs/webhooks.md): each attempt waits at most
# WEBHOOK_TIMEOUT seconds; a failed one is tried again after an exponential
# backoff (WEBHOOK_RETRY_BASE seconds doubling up to WEBHOOK_RETRY_CAP, with
# jitter) until the event is WEBHOOK_RETRY_FOR seconds old; an endpoint that
# has not succeeded for WEBHOOK_DISABLE_AFTER seconds while failing is disabled
# (shorter than WEBHOOK_RETRY_FOR, or a dead endpoint with no new events is
# judged by no attempt after its last retry: check webhooks.W001).
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
WEBHOOK_RETRY_BASE = env.float("WEBHOOK_RETRY_BASE", default=30.0)
WEBHOOK_RETRY_CAP = env.float("WEBHOOK_RETRY_CAP", default=4 * 3600.0)
WEBHOOK_RETRY_FOR = env.float("WEBHOOK_RETRY_FOR", default=2 * 86400.0)
WEBHOOK_DISABLE_AFTER = env.float("WEBHOOK_DISABLE_AFTER", default=1.5 * 86400.0)
WEBHOOK_SECRET_OVERLAP = env.float("WEBHOOK_SECRET_OVERLAP", default=86400.0)
# Raw webhook bodies (InboundEvent) are deleted this many days after they
# arrived once processed or ignored, and after the second number when failed
# or malformed (kept longer for inspection); 0 keeps them. Events not yet
# processed are never deleted. Beat purges every RAW_EVENT_PURGE_INTERVAL
# seconds, RAW_EVENT_PURGE_BATCH rows per transaction, for at most
# RAW_EVENT_PURGE_MAX_SECONDS per run (channels_app/services/retention.py).
PINGBACK_RAW_EVENT_RETENTION_DAYS = env.int(
    "PINGBACK_RAW_EVENT_RETENTION_DAYS", default=30
)
PINGBACK_FAILED_EVENT_RETENTION_DAYS = env.int(
    "PINGBACK_FAILED_EVENT_RETENTION_DAYS", default=90
)
RAW_EVENT_PURGE_INTERVAL = env.float("RAW_EVENT_PURGE_INTERVAL", default=3600.0)
RAW_EVENT_PURGE_BATCH = env.int("RAW_EVENT_PURGE_BATCH", default=1000)
RAW_EVENT_PURGE_MAX_SECONDS = env.float("RAW_EVENT_PURGE_MAX_SECONDS", default=40.0)
# Every AUTOMATION_UNANSWERED_INTERVAL seconds, beat applies the automation
# rules of conversations left unanswered (automation/, docs/automation.md).
AUTOMATION_UNANSWERED_INTERVAL = env.float(
    "AUTOMATION_UNANSWERED_INTERVAL", default=60.0
)
# Each periodic task is sent once per period even with beat on several hosts
# (pingback/beat.py; docs/deployment.md, "Periodic tasks").
CELERY_BEAT_SCHEDULER = "pingback.beat:LockedScheduler"
CELERY_BEAT_SCHEDULE = {
    "wake-snoozed-conversations": {
        "task": "conversations.wake_snoozed",
        "schedule": SNOOZE_WAKE_INTERVAL,
    },
    "process-inbound-events": {
        "task": "channels.process_inbound_events",
        "schedule": INBOUND_SWEEP_INTERVAL,
    },
    "poll-mailboxes": {
        "task": "channels.poll_mailboxes",
        "schedule": EMAIL_POLL_INTERVAL,
    },
    "poll-x-channels": {
        "task": "channels.poll_x_channels",
        "schedule": X_POLL_INTERVAL,
    },
    "refresh-channel-setups": {
        "task": "channels.refresh_channel_setups",
        "schedule": CHANNEL_SETUP_REFRESH_INTERVAL,
    },
    "sweep-outbox": {
        "task": "channels.sweep_outbox",
        "schedule": OUTBOX_SWEEP_INTERVAL,
    },
    "sweep-webhook-events": {
        "task": "webhooks.sweep_events",
        "schedule": OUTBOX_SWEEP_INTERVAL,
    },
    "purge-raw-inbound-events": {
        "task": "channels.purge_inbound_events",
        "schedule": RAW_EVENT_PURGE_INTERVAL,
    },
    "purge-pending-receipts": {
        "task": "channels.purge_pending_receipts",
        "schedule": 3600.0,
    },
    "automation-unanswered": {
        "task": "automation.scan_unanswered",
        "schedule": AUTOMATION_UNANSWERED_INTERVAL,
    },
}
# Celery's Django fixup closes the database connection around every task unless
# told to reuse it: a new PostgreSQL connection per task halved the ingest
# worker's throughput (bench/README.md).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=100)
# Workers keep the LOGGING below (JSON lines with the task's request id)
# instead of replacing the root logger's handlers with Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90

# --------------------------------------------------------------------------- auth

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes, billing/login_throttle.py) for the inbox login
# and Django admin's: every password check is first counted, atomically in the
# cache (Redis when REDIS_URL is set), per account and per client IP; past a
# limit the login is refused, the right password included, until no attempt
# has been made for LOGIN_COOLOFF_MINUTES. Successful logins do not count.
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "billing.backends.MemberModelBackend",
]
AXES_HANDLER = "billing.login_throttle.AtomicCacheHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Failed logins per account (from any address) before it is locked.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
# Failed logins per client IP (any accounts) before that address is locked;
# higher, as an office behind one NAT address shares it.
LOGIN_FAILURE_LIMIT_PER_IP = env.int("LOGIN_FAILURE_LIMIT_PER_IP", default=20)
# Minutes without an attempt before a lockout ends (each attempt starts it over).
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_CLIENT_IP_CALLABLE = "billing.client_ip.axes_client_ip"
AXES_USERNAME_CALLABLE = "billing.login_throttle.login_username"
AXES_LOCKOUT_CALLABLE = "billing.login_throttle.lockout_response"
# Counts live in the cache, not in axes' tables: no admin pages for them.
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False

# Client IP behind reverse proxies (billing/client_ip.py), for login and API
# throttling. Number of proxies in front of PingBack that append to
# X-Forwarded-For; 0 (default): the header is ignored and the peer address is
# the client, so a client cannot choose its address by sending the header.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Optional: the proxies' addresses or networks (e.g. 10.0.0.0/8); when set,
# X-Forwarded-For is believed only on requests coming from one of them.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# ----------------------------------------------------------------- encrypted fields

# Keys that encrypt channel credentials at rest (pingback/encryption.py),
# independent of DJANGO_SECRET_KEY: Fernet keys, comma-separated; the first
# encrypts what is written, every one decrypts. To rotate: put a new key first,
# run `manage.py reencrypt_credentials`, then drop the old key. Generate with:
#   python -c "from cryptography.fernet import Fernet;
#              print(Fernet.generate_key().decode())"
# The development key is the one earlier versions derived from the development
# DJANGO_SECRET_KEY and salt, so development databases keep their credentials.
DEV_ENCRYPTION_KEY = "EGTaWleZBHGu70WXWq0MD1cVOxvDEnxSmgpD-4lmVA8="
PINGBACK_ENCRYPTION_KEYS = [
    key.strip()
    for key in env.list("PINGBACK_ENCRYPTION_KEYS", default=[])
    if key.strip()
]
if not PINGBACK_ENCRYPTION_KEYS and DEV_KEYS_ALLOWED:
    PINGBACK_ENCRYPTION_KEYS = [DEV_ENCRYPTION_KEY]
if not DEV_KEYS_ALLOWED and (
    not PINGBACK_ENCRYPTION_KEYS or DEV_ENCRYPTION_KEY in PINGBACK_ENCRYPTION_KEYS
):
    _problem = (
        "is not set"
        if not PINGBACK_ENCRYPTION_KEYS
        else "contains the public development key"
    )
    raise ImproperlyConfigured(
        f"PINGBACK_ENCRYPTION_KEYS {_problem}: production needs a key of its own "
        "to encrypt channel credentials. Generate one with: python -c 'from "
        "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' "
        "and set PINGBACK_ENCRYPTION_KEYS to it. Upgrading an install that "
        'already stores credentials: docs/deployment.md, "Upgrading to '
        'PINGBACK_ENCRYPTION_KEYS".'
    )
for _position, _key in enumerate(PINGBACK_ENCRYPTION_KEYS, start=1):
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            f"PINGBACK_ENCRYPTION_KEYS: key {_position} is not a Fernet key "
            "(32 url-safe base64-encoded bytes, 44 characters). Generate one "
            "with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from None
# Salts of the key earlier versions derived from DJANGO_SECRET_KEY, read only by
# `manage.py legacy_encryption_key` when upgrading (docs/deployment.md).
PINGBACK_LEGACY_SALT_KEYS = env.list("PINGBACK_SALT_KEY", default=["pingback-dev-salt"])

# ------------------------------------------------------------- https / deployment

# Behind a TLS-terminating proxy (docs/deployment.md, "HTTPS behind a proxy").
# Every default keeps plain HTTP working (development, tests, the benchmark);
# `manage.py check --deploy` names what a deployment still lacks.
#
# Header the proxy sets to `https` on requests it received over TLS, e.g.
# X-Forwarded-Proto. Set it only if the proxy always overwrites that header:
# Django believes it from whoever reaches the app. Unset, the scheme is the one
# gunicorn and uvicorn take from proxies in their forwarded-allow-ips.
_proxy_ssl_header = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default="").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
    if _proxy_ssl_header
    else None
)
# Answer plain-HTTP requests with a 301 to HTTPS. Requests the proxy received
# over HTTPS (webhooks included) are served. Paths matching a regex of
# DJANGO_SECURE_REDIRECT_EXEMPT (no leading slash, comma-separated) are served
# over plain HTTP too, e.g. a health check made directly on the web process.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
# The health checks are always exempt: orchestrators probe the web process
# directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [
    r"^healthz$",
    r"^readyz$",
    *env.list("DJANGO_SECURE_REDIRECT_EXEMPT", default=[]),
]
# HTTP Strict Transport Security: seconds browsers keep to HTTPS only (0: no
# header), for subdomains too, and consent to browsers' preload lists.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False
)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Send the session and CSRF cookies over HTTPS only.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)

# ---------------------------------------------------------------------- i18n, time

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# The languages pages and messages come in (docs/translations.md). A member
# picks one in Preferences (billing.Member.language); without a choice, the
# browser's Accept-Language decides, else English.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# ------------------------------------------------------------------- static files

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve from the app folders too, so `collectstatic` is optional in development.
WHITENOISE_USE_FINDERS = True

# ---------------------------------------------------------------------------- api

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "billing.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["billing.permissions.IsBusinessMember"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON with a nesting limit (JSON_MAX_DEPTH) and text PostgreSQL can store.
    "DEFAULT_PARSER_CLASSES": [
        "pingback.parsers.JSONParser",
        "pingback.parsers.FormParser",
        "pingback.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "pingback.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Throttling (billing/throttling.py), counted in the cache above: per API
    # token, and per client IP for anonymous calls and refused tokens. Over the
    # rate: 429 with Retry-After. Webhooks are plain Django views, not throttled.
    "DEFAULT_THROTTLE_CLASSES": [
        "billing.throttling.ApiTokenRateThrottle",
        "billing.throttling.ClientIpRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        # Requests per API token (or per logged-in user): N/s, N/min, N/hour, N/day.
        "user": env.str("API_THROTTLE_USER", default="600/min"),
        # Anonymous requests and refused tokens per client IP.
        "anon": env.str("API_THROTTLE_ANON", default="120/min"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PingBack API",
    "DESCRIPTION": "Omnichannel customer-support inbox: channels, conversations, "
    "messages. Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc come from PingBack's own static files
    # (drf-spectacular-sidecar), not a CDN, so the Content-Security-Policy
    # stays `'self'`. Swagger UI's validator badge would load an image from
    # validator.swagger.io: off.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {
        "ChannelTypeEnum": "channels_app.models.Channel.Type",
        "ConversationStatusEnum": "conversations.models.Conversation.Status",
        "MessageStatusEnum": "conversations.models.Message.Status",
        "SetupStateEnum": "channels_app.models.Channel.SetupState",
    },
}

# ------------------------------------------------------------ browser security

# Content-Security-Policy on every page PingBack renders (django-csp 4.x): the
# browser runs only scripts and styles served by PingBack itself (no inline
# script or `style` attribute, no eval), loads images only from PingBack (or
# `data:` URLs), talks only to PingBack (CSP Level 3: `'self'` also covers its
# ws/wss websocket; checked in Chromium by the browser tests), and no other
# site may frame a page. Responses that set their own policy keep it
# (attachments and proxied e-mail images: `sandbox`).
# https://django-csp.readthedocs.io/en/latest/configuration.html
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# ------------------------------------------------------------------ outgoing mail

# Mail PingBack sends itself (member invitations, docs/admin.md), e.g.
# EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 (STARTTLS) or
# smtp+ssl://...:465. Unset: the mail server on localhost:25 in production;
# in development (dev keys allowed) each message is printed on the console,
# invitation link included, which production must not do.
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-email-url
vars().update(
    env.email_url(
        "EMAIL_URL",
        default="consolemail://" if DEV_KEYS_ALLOWED else "smtp://localhost:25",
    )
)
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="PingBack <pingback@localhost>"
)

# ---------------------------------------------------------------------- platforms

# Public base URL of this deployment; webhook URLs given to platforms are built on
# it, e.g. https://inbox.example.com/api/v1/webhooks/x/<channel_id>.
PINGBACK_PUBLIC_BASE_URL = env.str(
    "PINGBACK_PUBLIC_BASE_URL", default="http://127.0.0.1:8000"
).rstrip("/")

# X API host. tweepy 4.17 hard-codes https://api.twitter.com; when this differs,
# the X client factory rewrites requests to it (docs/platforms/x.md,
# "tweepy 4.17.0").
X_API_BASE_URL = env.str("X_API_BASE_URL", default="https://api.twitter.com").rstrip(
    "/"
)
# Seconds before an X API call is abandoned (and retried as a transient failure).
X_API_TIMEOUT = env.float("X_API_TIMEOUT", default=10.0)

# Telegram Bot API host; the SDK calls {host}/bot<token>/<method> and downloads
# files from {host}/file/bot<token>/<path> (docs/platforms/telegram.md,
# "python-telegram-bot 22.8").
TELEGRAM_API_BASE_URL = env.str(
    "TELEGRAM_API_BASE_URL", default="https://api.telegram.org"
).rstrip("/")
# Meta Graph API host and version, for WhatsApp Cloud API and Instagram
# messaging: requests go to {host}/{version}/... (docs/platforms/whatsapp.md,
# docs/platforms/instagram.md).
GRAPH_API_BASE_URL = env.str(
    "GRAPH_API_BASE_URL", default="https://graph.facebook.com"
).rstrip("/")
GRAPH_API_VERSION = env.str("GRAPH_API_VERSION", default="v23.0")
# Twilio REST API host; the twilio SDK's requests are rewritten to it when it
# differs from the real one (docs/platforms/sms.md, "Pointing the twilio SDK
# at the sandbox").
TWILIO_API_BASE_URL = env.str(
    "TWILIO_API_BASE_URL", default="https://api.twilio.com"
).rstrip("/")
# Seconds before a call to Telegram, the Graph API or Twilio is abandoned (and
# retried as a transient failure).
PLATFORM_API_TIMEOUT = env.float("PLATFORM_API_TIMEOUT", default=15.0)
# Hosts and networks PingBack may connect to for an outside URL or an e-mail
# server although their addresses are not public (loopback, private ranges):
# host names, `host:port`, addresses or CIDRs, e.g. the sandbox
# (127.0.0.1:8765) or an on-premises mail server (mail.corp.example,
# 10.0.0.0/8). Everything else not public is refused (`pingback.egress`).
EGRESS_ALLOWED_HOSTS = env.list("EGRESS_ALLOWED_HOSTS", default=[])

# Remote images of e-mails, loaded through PingBack when an agent asks: the
# largest image fetched, in bytes, and the seconds a fetch may take.
REMOTE_IMAGE_MAX_BYTES = env.int("REMOTE_IMAGE_MAX_BYTES", default=5 * 1024 * 1024)
REMOTE_IMAGE_TIMEOUT = env.float("REMOTE_IMAGE_TIMEOUT", default=10.0)

# Where inbound media fetched from platforms, agents' uploads and e-mail parts are
# stored, and the largest file kept, in bytes (Telegram's bot downloads stop at
# 20 MB). Every read and write goes through Django's storage API: the local
# file system under MEDIA_ROOT by default (one host), or an S3-compatible bucket
# every host shares when PINGBACK_MEDIA_S3_BUCKET is set; the PINGBACK_MEDIA_*
# variables are read by `pingback.storage.media_storages` (docs/deployment.md,
# "Media storage"). MEDIA_URL is never served: files are served through signed
# attachment links (conversations.views.attachment).
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
MEDIA_URL = "media/"
STORAGES, MEDIA_REDIRECT_ORIGINS = media_storages(env)
# Files served by redirect come from the bucket's origin: the pages may load
# images, audio and video from it (the Content-Security-Policy above).
if MEDIA_REDIRECT_ORIGINS:
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"] += MEDIA_REDIRECT_ORIGINS
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["media-src"] = [
        "'self'",
        *MEDIA_REDIRECT_ORIGINS,
    ]
MEDIA_MAX_BYTES = env.int("MEDIA_MAX_BYTES", default=25 * 1024 * 1024)
# Request bodies Django reads into memory: provider e-mail webhooks post whole
# messages with their attachments, so allow a kept file plus headroom.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int(
    "DATA_UPLOAD_MAX_MEMORY_SIZE", default=MEDIA_MAX_BYTES + 5 * 1024 * 1024
)
# Largest request body read at all, in bytes, counted as it arrives (chunked
# bodies included) before Django sees it; larger is answered 413
# (`pingback.limits`). Platform webhooks have their own, smaller cap
# (WEBHOOK_MAX_BODY_BYTES). Unlike DATA_UPLOAD_MAX_MEMORY_SIZE this counts
# uploaded files too, so it must leave room for MEDIA_MAX_BYTES.
REQUEST_MAX_BODY_BYTES = env.int(
    "REQUEST_MAX_BODY_BYTES", default=DATA_UPLOAD_MAX_MEMORY_SIZE
)
# How deep arrays/objects may nest in JSON PingBack reads (API bodies,
# webhooks, websocket frames); deeper is refused (400, or an error frame)
# before parsing. Platform payloads nest fewer than 15 levels.
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=64)
# Largest websocket frame PingBack reads, in bytes; a larger one closes the
# connection (code 1009). Widget messages are at most a few KB.
WEBSOCKET_MAX_FRAME_BYTES = env.int("WEBSOCKET_MAX_FRAME_BYTES", default=64 * 1024)
# How long a signed attachment link stays valid, in seconds. Platforms that fetch
# outbound media by URL (Twilio MMS, Instagram, WhatsApp links) use these links.
ATTACHMENT_LINK_MAX_AGE = env.int("ATTACHMENT_LINK_MAX_AGE", default=24 * 3600)

# Outbound delivery retries: attempts after the first, and the backoff base and cap
# in seconds (exponential: base * 2**retry, capped; Retry-After wins when longer).
DELIVERY_MAX_RETRIES = env.int("DELIVERY_MAX_RETRIES", default=5)
DELIVERY_RETRY_BACKOFF = env.float("DELIVERY_RETRY_BACKOFF", default=5.0)
DELIVERY_RETRY_BACKOFF_MAX = env.float("DELIVERY_RETRY_BACKOFF_MAX", default=600.0)
# Retries due within DELIVERY_MAX_COUNTDOWN seconds are task countdowns; later
# ones are held in the database (`Message.next_attempt_at`) and published by
# the outbox sweeper when due, since the broker would hand a task held longer
# than its visibility timeout to a second worker.
DELIVERY_MAX_COUNTDOWN = env.float("DELIVERY_MAX_COUNTDOWN", default=20.0)
# Seconds a worker holds a message it is sending (longer than the delivery
# task's 45 s hard time limit): a message still `sending` after that was
# left by a dead worker, and the sweeper marks it `uncertain`.
DELIVERY_LEASE_SECONDS = env.float("DELIVERY_LEASE_SECONDS", default=60.0)
# A reply still queued or sending this many minutes after it was written is
# listed on the admins' Delivery problems page.
DELIVERY_STUCK_MINUTES = env.int("DELIVERY_STUCK_MINUTES", default=10)

# Largest webhook body accepted, in bytes (X sends at most a few KB per event).
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# Seconds a web process reuses a channel it loaded for a webhook (its decrypted
# credentials included) before reading it again; edits made through PingBack
# take effect at once in the process that made them, and a signature that
# fails against a reused channel is checked again against a fresh read. 0: no
# reuse.
WEBHOOK_CHANNEL_CACHE_SECONDS = env.float("WEBHOOK_CHANNEL_CACHE_SECONDS", default=10.0)
# Stored events are processed in batches by `channels.process_inbound_events`:
# at most INBOUND_BATCH_SIZE events per transaction, and a task drains for at
# most INBOUND_DRAIN_SECONDS before handing over to a new task (so deliveries
# queued behind it are not starved). A webhook wakes the drain at most once per
# INBOUND_WAKE_SECONDS while a drain is pending (a flag in the cache).
INBOUND_BATCH_SIZE = env.int("INBOUND_BATCH_SIZE", default=100)
INBOUND_DRAIN_SECONDS = env.float("INBOUND_DRAIN_SECONDS", default=5.0)
INBOUND_WAKE_SECONDS = env.float("INBOUND_WAKE_SECONDS", default=10.0)

# ------------------------------------------------------------------------ logging

# Log lines (pingback/logs.py): `json`, one JSON object per line with the
# request id and every `extra` field, for a log collector; or `plain`, a
# readable line with the same fields. Production (no development keys)
# defaults to `json`; development, `bin/run` and the tests to `plain`.
PINGBACK_LOG_FORMAT = env.str(
    "PINGBACK_LOG_FORMAT", default="plain" if DEV_KEYS_ALLOWED else "json"
)
if PINGBACK_LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(
        f"PINGBACK_LOG_FORMAT must be json or plain, not {PINGBACK_LOG_FORMAT!r}"
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "pingback.logs.json_formatter"},
        "plain": {"()": "pingback.logs.plain_formatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": PINGBACK_LOG_FORMAT}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # tweepy logs full request headers (OAuth signatures) at DEBUG.
        "tweepy": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
        # httpx logs every request URL at INFO, and Telegram's carry the bot
        # token; twilio logs request parameters (phone numbers) at INFO.
        "httpx": {"level": "WARNING"},
        "twilio.http_client": {"level": "WARNING"},
    },
}

# ------------------------------------------------------------ health, metrics

# Bearer token Prometheus sends to `/metrics` (`Authorization: Bearer
# <token>`); unset, `/metrics` answers 404 (pingback/health.py).
PINGBACK_METRICS_TOKEN = env.str("PINGBACK_METRICS_TOKEN", default="").strip()

# Errors and slow transactions to Sentry, only when SENTRY_DSN is set. No
# personal data is sent (no user, no IP address, no request body or cookies)
# unless SENTRY_SEND_DEFAULT_PII=1. Django, Celery and Redis are instrumented
# by the SDK's default integrations.
# https://docs.sentry.io/platforms/python/integrations/django/
SENTRY_DSN = env.str("SENTRY_DSN", default="").strip()
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        release=env.str("SENTRY_RELEASE", default="") or None,
        send_default_pii=env.bool("SENTRY_SEND_DEFAULT_PII", default=False),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

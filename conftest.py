"""Shared test fixtures: services check, API clients, the X sandbox, Celery.

With `PINGBACK_REQUIRE_SERVICES=1` (CI), the run fails at once unless the
database is PostgreSQL and Redis answers, so nothing is silently skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connections
from rest_framework.test import APIClient

from billing.services import api_token_create
from billing.tests.factories import BusinessFactory, MemberFactory
from conversations import realtime
from pingback.breaker import BREAKERS
from pingback.celery import app as celery_app
from pingback.storage import FILE_SYSTEM_BACKEND
from pingback.testing import AsgiServer
from sandbox.platforms.x.payloads import DEMO_APP
from sandbox.server import SandboxServer


def pytest_configure(config: pytest.Config) -> None:
    # API throttling counts in Redis across runs and would answer 429 to the
    # many requests of one test (the API fuzz test sends over a thousand);
    # the throttling tests set their own rates.
    settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"user": None, "anon": None}
    if os.environ.get("PINGBACK_REQUIRE_SERVICES") != "1":
        return
    problems = []
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        problems.append("DATABASE_URL does not point at PostgreSQL")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL).ping()
        except redis.RedisError as error:
            problems.append(f"Redis at {settings.REDIS_URL} does not answer: {error}")
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("memory://", "redis://", "rediss://")):
        # Another broker (RabbitMQ, `amqp://`) must answer too.
        from kombu import Connection

        try:
            with Connection(broker, connect_timeout=3) as connection:
                connection.ensure_connection(max_retries=1)
        except Exception as error:
            problems.append(f"the broker does not answer: {error}")
    if problems:
        pytest.exit(
            "PINGBACK_REQUIRE_SERVICES=1 but " + "; ".join(problems), returncode=3
        )


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings) -> None:
    """Factories hash a password per user; PBKDF2 costs ~0.2 s each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_real_platform_hosts(settings) -> None:
    """No test reaches a real platform: until a test takes the `sandbox`
    fixture (which points the clients at the stand-ins), the platform API
    hosts are names that never resolve (RFC 6761 `.invalid`), so a call a
    test did not plan for (a background profile fetch, say) fails at once
    instead of leaving the machine."""
    settings.X_API_BASE_URL = "https://api.x.invalid"
    settings.TELEGRAM_API_BASE_URL = "https://api.telegram.invalid"
    settings.GRAPH_API_BASE_URL = "https://graph.facebook.invalid"
    settings.TWILIO_API_BASE_URL = "https://api.twilio.invalid"


@pytest.fixture(autouse=True)
def _breakers_closed() -> Iterator[None]:
    """A dependency failure one test provokes does not make the next skip it."""
    yield
    for breaker in BREAKERS:
        breaker.reset()
    realtime.missed_forget()


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tasks run inline unless the test starts a real worker (`celery_worker`)."""
    if "celery_worker" in request.fixturenames:
        yield
        return
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer, settings, tmp_path) -> SandboxServer:
    """The platform sandbox, reset, with every platform client pointed at it
    (X, Telegram, the Graph API, Twilio), the outbound HTTP policy allowing
    its address and port (it is on loopback; nothing else there is allowed),
    and media stored under a fresh temporary directory."""
    sandbox_server.reset()
    settings.EGRESS_ALLOWED_HOSTS = [urlsplit(sandbox_server.url).netloc]
    settings.X_API_BASE_URL = sandbox_server.url
    settings.TELEGRAM_API_BASE_URL = sandbox_server.url
    settings.GRAPH_API_BASE_URL = sandbox_server.url
    settings.TWILIO_API_BASE_URL = sandbox_server.url
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return sandbox_server


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path_factory) -> None:
    """Files the tests store never land in the project's var/media, nor in a
    bucket the environment configures (`PINGBACK_MEDIA_S3_BUCKET`): tests
    that use a bucket start their own (conversations/tests/test_media_storage.py)."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
    if settings.STORAGES["default"]["BACKEND"] != FILE_SYSTEM_BACKEND:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {"BACKEND": FILE_SYSTEM_BACKEND},
        }


@pytest.fixture
def business():
    return BusinessFactory(plan="mini")


@pytest.fixture
def admin_member(business):
    return MemberFactory(business=business, role="admin")


@pytest.fixture
def agent_member(business):
    return MemberFactory(business=business, role="agent")


@pytest.fixture
def api_client_for() -> Callable[..., APIClient]:
    """Build an API client authenticated with a new Bearer token of `member`."""

    def build(member) -> APIClient:
        _, token = api_token_create(member=member)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return build


@pytest.fixture
def admin_api(admin_member, api_client_for) -> APIClient:
    return api_client_for(admin_member)


@pytest.fixture
def x_config() -> dict[str, str]:
    """Credentials of the sandbox's demo X app and account."""
    return DEMO_APP.as_config()


@pytest.fixture
def celery_worker(settings) -> Iterator[None]:
    """A real Celery worker, in a thread of this process, consuming from the
    configured broker (`CELERY_BROKER_URL`: Redis when REDIS_URL is set,
    RabbitMQ when an `amqp://` URL is given; in-memory otherwise). Started
    without a queue list, it consumes every queue of `CELERY_TASK_QUEUES`:
    `default` and `delivery` (replies)."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connection

    from channels_app.services.wake import inbound_wake_flag_clear

    def close_worker_connection(**kwargs) -> None:
        # The worker thread's connection would outlive the test database.
        connection.close()

    task_postrun.connect(close_worker_connection, weak=False)
    # A wake flag left by an earlier test would hold back this test's first
    # drain until it expires.
    inbound_wake_flag_clear()
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(
            celery_app,
            pool="solo",
            perform_ping_check=False,
            loglevel="WARNING",
            shutdown_timeout=10,
        ) as worker:
            _worker_poll_often(worker)
            yield
            _worker_stop_now(worker)
        # Tasks the worker held unstarted (a retry's countdown) go back to the
        # queue when it disconnects: the next test's worker must not run them.
        celery_app.control.purge()
    finally:
        celery_app.conf.task_always_eager = previous
        task_postrun.disconnect(close_worker_connection)


def _worker_poll_often(worker) -> None:
    """Make the test worker's event loop come round at least twice a second,
    as it does on Redis (whose BRPOP returns every second).

    The embedded worker runs each task in its loop (`pool="solo"`) and sends
    the task's late acknowledgement on the loop's next turn. A task the loop
    runs outside its socket reads (the first one after start, taken by the
    worker's startup drain) is acknowledged only when the next poll returns:
    on an idle AMQP connection up to 10 s later, and until then RabbitMQ,
    with a prefetch of one, gives the worker nothing else. The next task of
    the test (the reply after the inbound drain) waited about 10 s of a 20 s
    `wait_for`. Production workers (prefork pool) acknowledge on the pool's
    result pipe, which wakes the loop."""
    hub = getattr(worker, "hub", None)
    if hub is not None:
        # Registered from the loop's own thread: call_soon is the hub's only
        # thread-safe entry point.
        hub.call_soon(lambda: hub.call_repeatedly(0.5, _nothing))


def _nothing() -> None:
    pass


def _worker_stop_now(worker) -> None:
    """Tell the test worker to stop and wake its event loop so it sees it now.

    `start_worker` sets the stop flag and waits `shutdown_timeout` for the
    thread; the loop only reads the flag between two polls of its sockets.
    On Redis the worker's BRPOP returns every second, but an idle AMQP
    (RabbitMQ) connection sends nothing, and kombu's hub then polls until its
    next timer, up to 10 s: the join timed out in about half the runs, and
    with the stop flag it left set the next test's worker stopped before it
    was ready, so that test waited for it forever."""
    from celery.worker import state

    state.should_terminate = 0
    hub = getattr(worker, "hub", None)
    if hub is not None:
        # From another thread, call_soon writes to the hub's waker socket.
        hub.call_soon(lambda: None)


# ---------------------------------------------------------- the test database


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, and before it is dropped at the end,
    the end of every other session still connected to it on PostgreSQL: a
    server or worker thread whose connection outlived its test would make
    the drop fail ("being accessed by other users") and leave the database
    behind."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


# ------------------------------------------------------------------ Chromium

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator:
    """Debian's Chromium, driven by Playwright (no browser download). Fails
    under PINGBACK_REQUIRE_SERVICES=1 when it is not installed, else skips.
    Make database rows before using it: the ORM inside Playwright's greenlet
    would open a connection that outlives the test database."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("PINGBACK_REQUIRE_SERVICES") == "1":
            pytest.fail("Chromium is not installed (apt-get install chromium)")
        pytest.skip("Chromium is not installed")
    # Playwright's sync API runs an event loop in this thread; the Django ORM
    # calls the tests make are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def browser_page(browser):
    """A new page in `browser`, waiting at most 15 s for anything."""
    page = browser.new_page()
    page.set_default_timeout(15_000)
    return page


# ------------------------------------------------------- a server in a thread


@pytest.fixture
def asgi_server(monkeypatch) -> Iterator[AsgiServer]:
    """PingBack (ASGI: pages, API, webhooks, websockets) served by uvicorn in a
    thread on a free port, for browser and websocket tests."""
    # Connections opened by the server's threads close after each request or
    # consumer call, so none outlives the test database.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    server = AsgiServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tasks(request, settings) -> str:
    """Tasks run in a real Celery worker when Redis carries both the broker and
    the channel layer. Without Redis they run inline in the server's threads:
    the in-memory channel layer only reaches consumers in its own process and
    event loop, as in the single-process `bin/run`."""
    if settings.REDIS_URL:
        request.getfixturevalue("celery_worker")
        return "worker"
    return "inline"

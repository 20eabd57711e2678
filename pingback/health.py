"""`/healthz`, `/readyz` and `/metrics`: what a load balancer, an orchestrator
and Prometheus ask of a web process (docs/deployment.md, "Health, metrics and
logs").

All three are plain GET views with no login, no CSRF check, no throttling and
no session: nothing here reads or writes `request.session` or the CSRF token,
so no cookie is set and no session row is written, however often they are
polled.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from pingback import metrics

# Seconds each dependency has to answer; they are asked at once, so /readyz
# answers within about this long even when every one hangs.
READY_CHECK_TIMEOUT = 2.0


def _database() -> None:
    # A thread of its own has a connection of its own: close it, or each
    # check would leave one open.
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


def _redis_ping(url: str) -> Callable[[], None]:
    def ping() -> None:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=READY_CHECK_TIMEOUT,
            socket_timeout=READY_CHECK_TIMEOUT,
        )
        try:
            client.ping()
        finally:
            client.close()

    return ping


def _broker(url: str) -> Callable[[], None]:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return _redis_ping(url)

    def connect() -> None:
        from kombu import Connection

        with Connection(url, connect_timeout=READY_CHECK_TIMEOUT) as connection:
            connection.ensure_connection(max_retries=1)

    return connect


def _channel_layer_hosts() -> list[str]:
    layer = settings.CHANNEL_LAYERS.get("default", {})
    if "Redis" not in layer.get("BACKEND", ""):
        return []
    urls = []
    for host in layer.get("CONFIG", {}).get("hosts", []):
        if isinstance(host, dict):
            host = host.get("address", "")
        if isinstance(host, (tuple, list)):
            host = f"redis://{host[0]}:{host[1]}"
        urls.append(str(host))
    return urls


def readiness_checks() -> dict[str, Callable[[], None]]:
    """The dependencies this deployment needs, by name: `database` always;
    `broker` when Celery's broker is not the in-memory one (`memory://`, the
    default without `REDIS_URL`); `channel_layer` (one per Redis host) when
    the channel layer is Redis'. Each is a callable raising on failure."""
    checks: dict[str, Callable[[], None]] = {"database": _database}
    broker = settings.CELERY_BROKER_URL
    if broker and not broker.startswith("memory://"):
        checks["broker"] = _broker(broker)
    hosts = _channel_layer_hosts()
    for number, url in enumerate(hosts):
        name = "channel_layer" if len(hosts) == 1 else f"channel_layer_{number}"
        checks[name] = _redis_ping(url)
    return checks


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:300]


def readiness() -> tuple[bool, dict[str, dict]]:
    """Run every readiness check at once, each given `READY_CHECK_TIMEOUT`
    seconds. Returns (all ok, {name: {"ok": bool, "ms": float, "error"?: str}})."""
    checks = readiness_checks()
    results: dict[str, dict] = {}
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readyz")
    started = time.monotonic()
    futures = {name: pool.submit(check) for name, check in checks.items()}
    deadline = started + READY_CHECK_TIMEOUT
    for name, future in futures.items():
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            results[name] = {
                "ok": False,
                "error": f"no answer within {READY_CHECK_TIMEOUT:g} s",
            }
        except Exception as error:
            results[name] = {"ok": False, "error": _describe(error)}
        else:
            results[name] = {"ok": True}
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    # A check still hanging finishes (or times out) in its thread on its own.
    pool.shutdown(wait=False, cancel_futures=True)
    return all(result["ok"] for result in results.values()), results


@csrf_exempt
@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: 200 `{"status": "ok"}` whenever the process answers at all;
    no dependency is checked (a database outage must not get every web
    process restarted)."""
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 `{"status": "ready", "checks": {name: {"ok": true,
    "ms": <float>}}}` when PostgreSQL, the Celery broker and the channel
    layer all answer within `READY_CHECK_TIMEOUT` seconds (without
    `REDIS_URL`, the in-memory broker and layer are not checked); otherwise
    503 `{"status": "unavailable", "down": [names], "checks": {name: {"ok":
    false, "error": "<why>", ...}}}`."""
    ready, results = readiness()
    if ready:
        return JsonResponse({"status": "ready", "checks": results})
    down = [name for name, result in results.items() if not result["ok"]]
    return JsonResponse(
        {"status": "unavailable", "down": down, "checks": results}, status=503
    )


@csrf_exempt
@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape (text format 0.0.4, `pingback.metrics`). Needs
    `Authorization: Bearer <PINGBACK_METRICS_TOKEN>`: 404 while that setting
    is empty (metrics off, the endpoint does not exist), 401 with
    `WWW-Authenticate: Bearer` for a missing or wrong token."""
    token = settings.PINGBACK_METRICS_TOKEN
    if not token:
        return JsonResponse({"detail": "Not found."}, status=404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        response = JsonResponse({"detail": "A valid metrics token is needed."})
        response.status_code = 401
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(
        metrics.scrape(), content_type="text/plain; version=0.0.4; charset=utf-8"
    )

"""API request throttling (Django REST framework), counted in the Django cache
(Redis when `REDIS_URL` is set, so every web process shares the counts).

- `ApiTokenRateThrottle` (scope `user`, `API_THROTTLE_USER`): per API token;
  per user for session-authenticated calls.
- `ClientIpRateThrottle` (scope `anon`, `API_THROTTLE_ANON`): per client IP
  (`billing.client_ip`) for anonymous calls, and, through
  `failed_auth_throttle_check`, for every refused token, so guessing tokens is
  throttled too.

Over the rate, the API answers 429 with `Retry-After: <seconds>`. Webhooks are
plain Django views and never pass through these. While the cache does not
answer (Redis down or frozen past `REDIS_TIMEOUT`), requests are let through
unthrottled and `throttle.cache_unavailable` is logged: an agent's reply must
not fail because the counter is away.

Source: https://www.django-rest-framework.org/api-guide/throttling/
"""

from __future__ import annotations

import logging
import math

from redis.exceptions import RedisError
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from billing.client_ip import client_ip
from billing.models import ApiToken
from pingback.breaker import Breaker

logger = logging.getLogger(__name__)

# After the cache failed, this process lets requests through unthrottled for
# a moment instead of waiting on it again for each one.
_cache_breaker = Breaker("throttle cache")


class _RateThrottle(SimpleRateThrottle):
    """Reads its rate when built (so a settings change applies; empty: no
    limit), always tells a whole number of seconds to wait (at least 1), and
    lets requests through while the cache does not answer."""

    def allow_request(self, request, view) -> bool:
        if _cache_breaker.is_open:
            return True
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError):
            logger.warning("throttle.cache_unavailable", extra={"scope": self.scope})
            _cache_breaker.trip()
            return True

    def get_rate(self) -> str | None:
        # An empty rate turns this throttle off.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope) or None

    def wait(self) -> float:
        if self.history:
            remaining = self.duration - (self.now - self.history[-1])
        else:
            remaining = self.duration
        return max(1, math.ceil(remaining))


class ApiTokenRateThrottle(_RateThrottle):
    """At most `API_THROTTLE_USER` requests per API token (e.g. `600/min`);
    session-authenticated requests count per user. Anonymous ones are left to
    `ClientIpRateThrottle`."""

    scope = "user"

    def get_cache_key(self, request: Request, view) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ClientIpRateThrottle(_RateThrottle):
    """At most `API_THROTTLE_ANON` anonymous requests per client IP."""

    scope = "anon"

    def get_cache_key(self, request: Request, view) -> str | None:
        if request.user is not None and request.user.is_authenticated:
            return None
        return self.ip_cache_key(request)

    def ip_cache_key(self, request: Request) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


class _FailedAuthThrottle(ClientIpRateThrottle):
    # Called while authentication is under way: must not read `request.user`.
    def get_cache_key(self, request: Request, view) -> str | None:
        return self.ip_cache_key(request)


def failed_auth_throttle_check(request: Request) -> None:
    """Count a refused credential against the client IP's anonymous rate; raise
    `Throttled` (429 with `Retry-After`) once the rate is exceeded. Call it just
    before answering 401."""
    throttle = _FailedAuthThrottle()
    if not throttle.allow_request(request, None):
        raise Throttled(wait=throttle.wait())

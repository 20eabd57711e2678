"""Login throttling: a django-axes handler that counts each password check
before it is made, and the lockout page.

django-axes' own handlers read the failure count before the password is checked
and add the failure after it. Both counts are atomic (the database handler
locks the row and adds with `F()`; the cache handler uses Redis `INCR`), but
the read-then-add is not: concurrent wrong passwords all read a count under
the limit, so many more than the limit get checked. `AtomicCacheHandler`
instead reserves an attempt first, with one atomic increment per counter (one
per account, one per client IP) in the Django cache, and lets the password be
checked only when every counter is within its limit after that increment. A
successful login gives its reservation back, so only failures (and attempts
under way) count. Each attempt keeps the counters for `AXES_COOLOFF_TIME`
more: a lockout ends once nobody has tried for that long.

Settings: `AXES_FAILURE_LIMIT` (per account), `LOGIN_FAILURE_LIMIT_PER_IP`,
`AXES_COOLOFF_TIME`. The counters live in `AXES_CACHE` (default: the default
cache, Redis when `REDIS_URL` is set; without Redis, each process counts on
its own). Operators lift a lockout with `manage.py axes_reset_username <e-mail>`
or `manage.py axes_reset_ip <address>`.

Source: https://django-axes.readthedocs.io/en/latest/ (handlers, backend,
middleware, `AXES_LOCKOUT_CALLABLE`).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from axes.conf import settings as axes_settings
from axes.handlers.cache import AxesCacheHandler
from axes.helpers import get_cool_off, get_lockout_parameters
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

KEY_PREFIX = "login-fail"


def login_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """`AXES_USERNAME_CALLABLE`: the e-mail a login attempt names, trimmed and
    lower-cased so case variants share one counter."""
    field = axes_settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        username = credentials.get(field)
    else:
        username = getattr(request, "POST", {}).get(field)
    if not username:
        return None
    return str(username).strip().lower()


def _key(parameter: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()
    return f"{KEY_PREFIX}:{parameter}:{digest}"


def _limit(parameter: str) -> int:
    if parameter == "ip_address":
        return settings.LOGIN_FAILURE_LIMIT_PER_IP
    return axes_settings.AXES_FAILURE_LIMIT


def cooloff_seconds(request: HttpRequest | None = None) -> int:
    """How long a lockout lasts after the last attempt, in seconds."""
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 15 * 60


class AtomicCacheHandler(AxesCacheHandler):
    """django-axes handler (`AXES_HANDLER`): counts every password check before
    it happens, per account and per client IP, in the Django cache.

    Request attributes it sets: `login_throttle_keys` (the counters this
    attempt reserved), `login_throttle_refused` (refused before any check), and
    axes' own `axes_locked_out`, `axes_failures_since_start`.
    """

    def _counters(
        self, request: HttpRequest, credentials: dict | None
    ) -> list[tuple[str, int]]:
        values = {
            "username": login_username(request, credentials),
            "ip_address": request.axes_ip_address,
        }
        counters = []
        for parameter in get_lockout_parameters(request, credentials):
            names = [parameter] if isinstance(parameter, str) else list(parameter)
            parts = [values.get(name) or "" for name in names]
            if not all(parts):
                continue
            counters.append(
                (_key("+".join(names), "\n".join(parts)), _limit("+".join(names)))
            )
        return counters

    def _increment(self, key: str, timeout: int) -> int:
        if self.cache.add(key, 1, timeout=timeout):
            return 1
        try:
            count = self.cache.incr(key)
        except ValueError:  # expired between add() and incr()
            self.cache.add(key, 1, timeout=timeout)
            return 1
        self.cache.touch(key, timeout=timeout)
        return count

    def is_allowed(self, request, credentials: dict | None = None) -> bool:
        """Reserve this attempt on every counter; allow the password check only
        when no counter is past its limit. Idempotent within one request."""
        if self.is_blacklisted(request, credentials):
            return False
        if self.is_whitelisted(request, credentials):
            return True
        if hasattr(request, "login_throttle_keys"):
            return not getattr(request, "login_throttle_refused", False)
        timeout = cooloff_seconds(request)
        keys, refused, worst = [], False, 0
        try:
            for key, limit in self._counters(request, credentials):
                count = self._increment(key, timeout)
                keys.append(key)
                refused = refused or count > limit
                worst = max(worst, count)
        except (RedisError, OSError):
            # The counters are away (Redis down): let people log in rather
            # than lock everyone out; the outage is logged.
            logger.error("login.throttle_unavailable")
            keys, refused = [], False
        request.login_throttle_keys = keys
        request.login_throttle_refused = refused
        request.axes_failures_since_start = worst
        return not refused

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        """Whether a new attempt would be refused now (reads, reserves nothing)."""
        return any(
            self.cache.get(key, 0) >= limit
            for key, limit in self._counters(request, credentials)
        )

    def get_failures(self, request, credentials: dict | None = None) -> int:
        return max(
            (self.cache.get(key, 0) for key, _ in self._counters(request, credentials)),
            default=0,
        )

    def user_login_failed(
        self, sender, credentials: dict, request=None, **kwargs: Any
    ) -> None:
        """The attempt was counted when it was reserved; here only decide whether
        it is (or has just become) a lockout, which the middleware shows."""
        if request is None or not getattr(request, "login_throttle_keys", None):
            return
        locked = request.login_throttle_refused or any(
            self.cache.get(key, 0) >= limit
            for key, limit in self._counters(request, credentials)
        )
        if not locked:
            logger.info(
                "login.failed",
                extra={"failures": request.axes_failures_since_start},
            )
            return
        logger.warning(
            "login.locked_out",
            extra={
                "failures": request.axes_failures_since_start,
                "refused": request.login_throttle_refused,
                "path": request.axes_path_info,
            },
        )
        request.axes_locked_out = True
        request.axes_credentials = credentials
        user_locked_out.send(
            "axes",
            request=request,
            username=login_username(request, credentials),
            ip_address=request.axes_ip_address,
        )

    def user_logged_in(self, sender, request, user, **kwargs: Any) -> None:
        """A successful login gives its reservation back: it was no failure."""
        keys = getattr(request, "login_throttle_keys", None)
        if not keys:
            return
        for key in keys:
            try:
                self.cache.decr(key)
            except ValueError:  # expired meanwhile
                pass
        request.login_throttle_keys = []

    def user_logged_out(self, sender, request, user, **kwargs: Any) -> None:
        return None

    def reset_attempts(
        self,
        *,
        ip_address: str | None = None,
        username: str | None = None,
        ip_or_username: bool = False,
    ) -> int:
        """Lift lockouts (`manage.py axes_reset_username`/`axes_reset_ip`):
        delete the counters of `username` and/or `ip_address`; returns how many
        counters existed."""
        keys = []
        if username:
            keys.append(_key("username", username.strip().lower()))
        if ip_address:
            keys.append(_key("ip_address", ip_address))
        if username and ip_address:
            keys.append(
                _key("username+ip_address", f"{username.strip().lower()}\n{ip_address}")
            )
        count = 0
        for key in keys:
            if self.cache.get(key) is not None:
                count += 1
            self.cache.delete(key)
        return count


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """`AXES_LOCKOUT_CALLABLE`: the login page, answered 429, telling the user
    they are locked out and for how long. Used for the inbox login and Django
    admin's login alike (from admin, the form leads back to admin)."""
    minutes = max(1, round(cooloff_seconds(request) / 60))
    username = login_username(request, None) or ""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not next_url and request.path.startswith("/admin/"):
        next_url = "/admin/"
    form = AuthenticationForm(request, initial={"username": username})
    return render(
        request,
        "registration/login.html",
        {
            "form": form,
            "locked_out": True,
            "cooloff_minutes": minutes,
            "next": next_url,
        },
        status=axes_settings.AXES_HTTP_RESPONSE_CODE,
    )

"""The client's IP address, for login throttling (django-axes) and API throttling.

`X-Forwarded-For` is believed only as far as the deployment says it may be:
with `TRUSTED_PROXY_COUNT = 0` (the default) it is ignored and the address is
the peer's (`REMOTE_ADDR`), so a client cannot pick its own address by sending
the header. With `TRUSTED_PROXY_COUNT = n`, each of the n proxies in front of
PingBack appends the address it received the request from, so the client is
the n-th entry from the right; entries further left were written by the client
and are ignored. With `TRUSTED_PROXIES` set (addresses or networks), the header
is believed only when the peer is one of them.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest


@lru_cache(maxsize=8)
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """Return the client's IP address as text (e.g. `203.0.113.7`).

    Uses `settings.TRUSTED_PROXY_COUNT` and `settings.TRUSTED_PROXIES` as the
    module docstring says; falls back to `REMOTE_ADDR` when the header is
    missing, shorter than the proxy count, or not an address.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count <= 0 or not forwarded:
        return remote
    proxies = tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ())
    if proxies:
        peer = _valid(remote)
        if peer is None or not any(
            ipaddress.ip_address(peer) in network for network in _networks(proxies)
        ):
            return remote
    hops = [hop for hop in (part.strip() for part in forwarded.split(",")) if hop]
    if len(hops) < count:
        return remote
    return _valid(hops[-count]) or remote


def axes_client_ip(request: HttpRequest) -> str:
    """`AXES_CLIENT_IP_CALLABLE`: django-axes counts login failures per this
    address (see `client_ip`)."""
    return client_ip(request)

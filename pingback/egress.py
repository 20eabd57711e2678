"""The outbound HTTP policy: how PingBack fetches a URL, or connects to a host,
that came from outside (a webhook's media link, an e-mail channel's servers).

Every such connection goes through here, so that a URL cannot make PingBack
reach its own network: the loopback interface, private ranges, link-local
(cloud metadata at 169.254.169.254), multicast, reserved and unspecified
addresses, in IPv4 and IPv6, including IPv6 forms that carry an IPv4 address
(IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, 6to4 `2002::/16`,
NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, Teredo `2001::/32`).

How the check is made: the host name is resolved with `getaddrinfo` at
connect time, every address it resolves to is checked with the stdlib
`ipaddress` module, and the socket is connected to a checked address, never
to the name again, so a DNS answer cannot change between the check and the
connection. TLS still verifies the certificate against the host name of the
URL. For HTTP this is an httpcore network backend under an httpx transport
(`egress_fetch`); for other protocols (SMTP, IMAP) `egress_connect` gives a
connected socket.

Exceptions: `EGRESS_ALLOWED_HOSTS` (settings, from the environment) lists
hosts and networks allowed although their addresses are not public: the
sandbox in tests and demos, an on-premises mail server. Entries:
    `mail.corp.example`        a host name, as written in the URL or config
                               (any port; its addresses are not checked)
    `mail.corp.example:993`    a host name on one port
    `10.1.2.3`, `fd00::/8`,    an address or a network (CIDR): any address of
    `10.0.0.0/8`               a host that resolves inside it is allowed
    `127.0.0.1:8765`,          one address on one port
    `[::1]:8765`

Host patterns (`credential_hosts`, `only_hosts` of `egress_fetch`): which
URLs a pattern matches, by scheme, host and port as httpx parses the URL:
    `https://graph.facebook.com`, `http://127.0.0.1:8765`
                               an origin: that scheme, host and port exactly
                               (a base URL's path is ignored)
    `api.twilio.com`           `https://api.twilio.com` on port 443
    `*.fbcdn.net`              https, port 443, any subdomain of fbcdn.net
                               (not fbcdn.net itself)
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import ssl
import time
from base64 import b64encode
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Redirects followed, at most, from the URL asked for to the answer.
MAX_REDIRECTS = 5
SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Request headers that carry credentials: only `credentials` may set them.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, the
# well-known and the local-use prefix).
NAT64_NETWORKS = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)
# IPv4-compatible IPv6 addresses (`::a.b.c.d`, deprecated).
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


# ---------------------------------------------------------------------- errors


class EgressError(Exception):
    """A fetch failed: the network (unreachable, refused, timed out, the total
    time cap passed) or an HTTP status other than 2xx (after redirects).
    `reason` is a short clause, lowercase, meant to follow a colon in a
    message to agents (`Could not download the file: {reason}`), safe to show
    (no URL path or query, no credentials, no server text); `status_code`
    the HTTP status when the server answered; `retry_after` seconds from a
    `Retry-After` header.

    The base of `EgressRefused` and `EgressTooLarge`: `except EgressError`
    catches every failure of `egress_fetch`."""

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Whether trying again later may work: network errors and timeouts,
        HTTP 429 and 5xx. Never for `EgressRefused` or `EgressTooLarge`."""
        if self.status_code is None:
            return True
        return self.status_code == 429 or self.status_code >= 500


class EgressRefused(EgressError):
    """The destination is not allowed: a scheme other than http/https,
    credentials in the URL (`http://user@host/`), a host outside `only_hosts`,
    or a host that resolves to an address that is not public (and not in
    `EGRESS_ALLOWED_HOSTS`). Nothing was sent to it. `host` is the host as
    given (never the address it resolved to: that stays in the server log)."""

    def __init__(self, reason: str, *, host: str = "") -> None:
        super().__init__(reason)
        self.host = host

    @property
    def transient(self) -> bool:
        return False


class EgressTooLarge(EgressError):
    """The answer is larger than `max_bytes` (by its Content-Length, or
    counted while reading, after decompression): the download was stopped."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the file is larger than {max_bytes} bytes.")
        self.max_bytes = max_bytes

    @property
    def transient(self) -> bool:
        return False


# ---------------------------------------------------------------- address policy


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if it is of a form that does
    (mapped, 6to4, NAT64, Teredo's client)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in NAT64_NETWORKS):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_is_public(address: IPAddress) -> bool:
    """Whether `address` is a public unicast address PingBack may connect to
    for an outside URL: global (IANA special-purpose registries, as the stdlib
    `ipaddress` knows them), and not loopback, private, link-local,
    site-local, multicast, reserved or unspecified. An IPv6 address carrying
    an IPv4 address (see the module docstring) must carry a public one;
    IPv4-compatible addresses (`::a.b.c.d`, deprecated) are never public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in IPV4_COMPATIBLE or address.is_site_local:
            return False
        inner = _embedded_ipv4(address)
        if inner is not None:
            return not address.is_multicast and address_is_public(inner)
    if (
        not address.is_global
        or address.is_multicast
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    ):
        return False
    return True


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class Allowances:
    """`EGRESS_ALLOWED_HOSTS`, parsed (see the module docstring)."""

    hosts: frozenset[tuple[str, int | None]]
    networks: tuple[IPNetwork, ...]
    endpoints: frozenset[tuple[IPAddress, int]]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowances:
        """Raises `ImproperlyConfigured` naming an entry that is not a host,
        address, network or `host:port`."""
        hosts: set[tuple[str, int | None]] = set()
        networks: list[IPNetwork] = []
        endpoints: set[tuple[IPAddress, int]] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            host, port = entry, None
            if entry.startswith("[") and "]:" in entry:
                host, _, port_text = entry[1:].partition("]:")
                port = _port(port_text, raw)
            elif entry.count(":") == 1:
                host, _, port_text = entry.partition(":")
                port = _port(port_text, raw)
            host = _normal_host(host)
            if not host or "/" in host or " " in host:
                raise ImproperlyConfigured(
                    f"EGRESS_ALLOWED_HOSTS: {raw!r} is not a host, address or network."
                )
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                hosts.add((host, port))
                continue
            if port is None:
                networks.append(ipaddress.ip_network(address))
            else:
                endpoints.add((address, port))
        return cls(frozenset(hosts), tuple(networks), frozenset(endpoints))

    def allow_host(self, host: str, port: int) -> bool:
        """Whether the host name itself is listed (for any port or this one)."""
        name = _normal_host(host)
        return (name, None) in self.hosts or (name, port) in self.hosts

    def allow_address(self, address: IPAddress, port: int) -> bool:
        """Whether the address is in a listed network, or listed with `port`."""
        if (address, port) in self.endpoints:
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            if (address.ipv4_mapped, port) in self.endpoints:
                return True
        return any(
            address.version == network.version and address in network
            for network in self.networks
        )


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ImproperlyConfigured(
            f"EGRESS_ALLOWED_HOSTS: {entry!r} has no valid port."
        )
    return int(text)


def allowances() -> Allowances:
    """The current `EGRESS_ALLOWED_HOSTS` (read on every call: settings
    overridden in tests take effect at once)."""
    return Allowances.parse(getattr(settings, "EGRESS_ALLOWED_HOSTS", ()))


def _refused(host: str) -> EgressRefused:
    return EgressRefused(
        f"{host} is not a public address.",
        host=host,
    )


def egress_resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    """Resolve `host` (`getaddrinfo`, TCP) and check every address it resolves
    to: `[(family, type, proto, canonname, sockaddr), ...]`, in the resolver's
    order. Raises `EgressRefused` when any address is not public and not
    allowed by `EGRESS_ALLOWED_HOSTS` (one bad answer refuses the host: a name
    mixing public and private answers is not tried), `OSError`
    (`socket.gaierror`) when the name does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    allowed = allowances()
    if allowed.allow_host(host, port):
        return infos
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address_is_public(address) and not allowed.allow_address(address, port):
            logger.warning(
                "egress.refused",
                extra={"host": host, "port": port, "address": str(address)},
            )
            raise _refused(host)
    return infos


def egress_connect(host: str, port: int, *, timeout: float | None) -> socket.socket:
    """A TCP socket connected to `host`:`port` under the address policy
    (`egress_resolve`), for protocols other than HTTP (SMTP, IMAP). The
    caller wraps it in TLS with `server_hostname=host`. `timeout` in seconds
    applies to each connection attempt and stays set on the socket. Raises
    `EgressRefused`, or `OSError` when no address could be connected
    (`TimeoutError` for a timeout, `socket.gaierror` for an unknown name)."""
    infos = egress_resolve(host, port)
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as failure:
            sock.close()
            error = failure
            continue
        return sock
    raise error or OSError(f"{host} has no address")


# ------------------------------------------------------------- the HTTP backend


class _DeadlineStream(httpcore.NetworkStream):
    """A connected stream whose every read and write waits at most until the
    fetch's deadline (`time.monotonic()` seconds): a body trickling in byte by
    byte still stops at the total time cap."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def _wait(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the total time allowed for the fetch has passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._wait(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._wait(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._stream.start_tls(
            ssl_context, server_hostname, self._wait(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(stream, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _VettedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting only to addresses the policy allows
    (`egress_resolve`), by address; unix sockets are refused."""

    def __init__(self, deadline: float) -> None:
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = egress_resolve(host, port)
        except OSError as error:
            raise httpcore.ConnectError(f"{host} does not resolve") from error
        last: Exception | None = None
        for info in infos:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout("the total time for the fetch passed")
            try:
                stream = self._backend.connect_tcp(
                    str(info[4][0]),
                    port,
                    timeout=left if timeout is None else min(timeout, left),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
                continue
            return _DeadlineStream(stream, self._deadline)
        raise last or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise EgressRefused("unix sockets are not allowed.")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CA bundle, hostname checked),
    built once."""
    return httpx.create_ssl_context(trust_env=False)


class _VettedTransport(httpx.HTTPTransport):
    """httpx's transport over `_VettedBackend`: no proxies from the
    environment (a proxy would make the connection on our behalf, unchecked),
    no keep-alive between fetches, TLS verified as usual."""

    def __init__(self, deadline: float) -> None:
        context = _tls_context()
        super().__init__(verify=context, trust_env=False)
        # httpx builds its pool without a way to pass a network backend: this
        # one is the same pool (same TLS context) over the vetted backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=1,
            max_keepalive_connections=0,
            network_backend=_VettedBackend(deadline),
        )


# ----------------------------------------------------------------- host patterns


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    scheme = url.scheme
    return scheme, _normal_host(url.host), url.port or DEFAULT_PORTS.get(scheme, 0)


def host_matches(url: httpx.URL, pattern: str) -> bool:
    """Whether `url` matches a host pattern (see the module docstring)."""
    pattern = pattern.strip()
    scheme, host, port = _origin(url)
    if "://" in pattern:
        return _origin(httpx.URL(pattern)) == (scheme, host, port)
    if (scheme, port) != ("https", 443):
        return False
    if pattern.startswith("*."):
        return host.endswith(_normal_host(pattern[1:]))
    return host == _normal_host(pattern)


def _matches_any(url: httpx.URL, patterns: Collection[str]) -> bool:
    return any(host_matches(url, pattern) for pattern in patterns)


def basic_credentials(username: str, password: str) -> dict[str, str]:
    """`credentials` for HTTP basic auth (RFC 7617)."""
    token = b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def bearer_credentials(token: str) -> dict[str, str]:
    """`credentials` for a bearer token (RFC 6750)."""
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------------ fetch


@dataclass(frozen=True)
class EgressResponse:
    """A fetched answer: the whole `content` (at most `max_bytes`, decoded
    from any Content-Encoding), its `content_type` (the media type of the
    Content-Type header, lowercased, without parameters; "" when absent),
    `final_url` (after redirects) and `status_code` (2xx)."""

    content: bytes
    content_type: str
    final_url: str
    status_code: int


def _check_url(url: httpx.URL, only_hosts: Collection[str] | None) -> None:
    if url.scheme not in SCHEMES:
        raise EgressRefused(
            f"only http and https links are fetched, not {url.scheme or 'this'}.",
            host=url.host,
        )
    if url.userinfo:
        raise EgressRefused(
            "links with a user name or password in them are not fetched.",
            host=url.host,
        )
    if not url.host:
        raise EgressRefused("the link has no host.")
    if only_hosts is not None and not _matches_any(url, only_hosts):
        raise EgressRefused(
            f"{url.host} is not one of the hosts this file may come from.",
            host=url.host,
        )


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _read(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if (
        declared.isdigit()
        and int(declared) > max_bytes
        and not response.headers.get("Content-Encoding")
    ):
        raise EgressTooLarge(max_bytes)
    content = bytearray()
    for chunk in response.iter_bytes():
        content += chunk
        if len(content) > max_bytes:
            raise EgressTooLarge(max_bytes)
    return bytes(content)


def _url(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except httpx.InvalidURL as error:
        raise EgressRefused("the link is not a valid URL.") from error


def _vetted_client(timeout: float) -> httpx.Client:
    """An httpx client over the vetted transport, no proxies from the
    environment, no redirects followed by httpx, `timeout` seconds for
    everything it does from now."""
    return httpx.Client(
        transport=_VettedTransport(time.monotonic() + timeout),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
    )


def egress_fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    credentials: Mapping[str, str] | None = None,
    credential_hosts: Collection[str] = (),
    only_hosts: Collection[str] | None = None,
    max_redirects: int = MAX_REDIRECTS,
) -> EgressResponse:
    """GET an outside `url` under the outbound HTTP policy.

    - `max_bytes`: the largest body kept; past it the download stops
      (`EgressTooLarge`).
    - `timeout`: seconds for the whole fetch, redirects, connecting and
      reading included (a slow body stops there too).
    - `headers`: sent with every request; they may not carry credentials
      (`Authorization`, `Cookie`: `ValueError`).
    - `credentials`: headers (see `basic_credentials`, `bearer_credentials`)
      sent only to URLs matching `credential_hosts` (host patterns, see the
      module docstring), and never again once a redirect has left them.
    - `only_hosts`: when given, every URL, the first and each redirect's,
      must match one of these host patterns (`EgressRefused` otherwise).
    - Redirects (301, 302, 303, 307, 308) are followed by hand, at most
      `max_redirects`, each checked again like the first URL.

    Returns an `EgressResponse` for a 2xx answer. Raises `EgressRefused` (not
    allowed, nothing sent there), `EgressTooLarge`, `EgressError` (network,
    timeout, too many redirects, a non-2xx status: `status_code`,
    `retry_after`, `transient`).
    """
    extra = dict(headers or {})
    if any(name.lower() in CREDENTIAL_HEADERS for name in extra):
        raise ValueError("Pass credentials as `credentials`, not in `headers`.")
    current = _url(url)
    with_credentials = credentials is not None
    with _vetted_client(timeout) as client:
        for _hop in range(max_redirects + 1):
            _check_url(current, only_hosts)
            sent = dict(extra)
            with_credentials = with_credentials and _matches_any(
                current, credential_hosts
            )
            if with_credentials:
                sent.update(credentials or {})
            try:
                with client.stream("GET", current, headers=sent) as response:
                    if response.is_redirect:
                        current = current.join(response.headers["Location"])
                        continue
                    if not response.is_success:
                        raise EgressError(
                            f"the server answered HTTP {response.status_code}.",
                            status_code=response.status_code,
                            retry_after=_retry_after(response),
                        )
                    content = _read(response, max_bytes)
                    media_type = response.headers.get("Content-Type", "")
                    return EgressResponse(
                        content=content,
                        content_type=media_type.split(";")[0].strip().lower(),
                        final_url=str(current),
                        status_code=response.status_code,
                    )
            except httpx.TimeoutException as error:
                raise EgressError(f"{current.host} did not answer in time.") from error
            except httpx.InvalidURL as error:
                raise EgressRefused("a redirect led to an invalid URL.") from error
            except httpx.HTTPError as error:
                raise EgressError(
                    f"the connection to {current.host} failed ({type(error).__name__})."
                ) from error
    raise EgressError(f"more than {max_redirects} redirects.")


@dataclass(frozen=True)
class EgressPostAnswer:
    """What a server answered a POST (`egress_post`), whatever its status:
    `status_code`, the first bytes of the body (`excerpt`, at most the
    `max_bytes` asked for; the rest is not read) and `retry_after` (seconds,
    from a `Retry-After` header, or None)."""

    status_code: int
    excerpt: bytes
    retry_after: float | None


def egress_post(
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout: float,
    max_bytes: int,
) -> EgressPostAnswer:
    """POST `content` to an outside `url` under the outbound HTTP policy (the
    same address checks as `egress_fetch`), without following redirects: a
    3xx is an answer like any other.

    - `headers`: sent as given; they may not carry credentials
      (`Authorization`, `Cookie`: `ValueError`).
    - `timeout`: seconds for the whole exchange, connecting and reading.
    - `max_bytes`: how much of the answer's body is read and kept.

    Returns an `EgressPostAnswer` for any HTTP status. Raises `EgressRefused`
    (not allowed, nothing sent), `EgressError` (network failure or timeout;
    `transient` is true)."""
    if any(name.lower() in CREDENTIAL_HEADERS for name in headers):
        raise ValueError("egress_post sends no credentials headers.")
    target = _url(url)
    _check_url(target, None)
    with _vetted_client(timeout) as client:
        try:
            with client.stream(
                "POST", target, content=content, headers=dict(headers)
            ) as response:
                excerpt = bytearray()
                for chunk in response.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= max_bytes:
                        break
                return EgressPostAnswer(
                    status_code=response.status_code,
                    excerpt=bytes(excerpt[:max_bytes]),
                    retry_after=_retry_after(response),
                )
        except httpx.TimeoutException as error:
            raise EgressError(f"{target.host} did not answer in time.") from error
        except httpx.HTTPError as error:
            raise EgressError(
                f"the connection to {target.host} failed ({type(error).__name__})."
            ) from error

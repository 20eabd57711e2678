"""The outbound HTTP policy (`pingback.egress`) against real HTTP servers on
loopback: what it refuses (nothing reaches the server), what it fetches when
allowed, redirects, credentials, size and time caps."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured

from pingback.egress import (
    EgressError,
    EgressRefused,
    EgressResponse,
    EgressTooLarge,
    address_is_public,
    basic_credentials,
    egress_connect,
    egress_fetch,
)
from pingback.tests.servers import Answer, RecordingServer

IMAGE = b"\x89PNG\r\n\x1a\n" + b"pixels" * 20
FETCH = {"max_bytes": 10_000, "timeout": 5.0}


@pytest.fixture(autouse=True)
def _nothing_allowed(settings) -> None:
    settings.EGRESS_ALLOWED_HOSTS = []


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer().running() as running:
        running.answer("/file.png", Answer(200, IMAGE, {"Content-Type": "image/png"}))
        yield running


@pytest.fixture
def other() -> Iterator[RecordingServer]:
    with RecordingServer().running() as running:
        running.answer("/file.png", Answer(200, IMAGE, {"Content-Type": "image/png"}))
        yield running


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/file.png",
        "http://localhost:{port}/file.png",
        "http://[::ffff:127.0.0.1]:{port}/file.png",
        "http://2130706433:{port}/file.png",
        "http://0.0.0.0:{port}/file.png",
        "http://api.twilio.com@127.0.0.1:{port}/file.png",
    ],
    ids=["loopback", "localhost", "ipv4-mapped", "decimal", "unspecified", "userinfo"],
)
def test_a_loopback_server_is_refused_and_receives_nothing(server, url):
    with pytest.raises(EgressRefused):
        egress_fetch(url.format(port=server.port), **FETCH)

    assert server.received == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[ff02::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::127.0.0.1]/",
        "http://[2002:7f00:1::]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[64:ff9b:1::a00:1]/",
    ],
    ids=lambda url: url.removeprefix("http://").rstrip("/"),
)
def test_private_and_special_addresses_are_refused_before_connecting(url):
    # pytest-socket allows only loopback: a connection attempt to any of these
    # would fail with SocketBlockedError, not EgressRefused.
    with pytest.raises(EgressRefused) as refused:
        egress_fetch(url, **FETCH)

    assert refused.value.reason.endswith(" is not a public address.")


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/file", "gopher://127.0.0.1:70/"],
    ids=["file", "ftp", "gopher"],
)
def test_other_schemes_are_refused(url):
    with pytest.raises(EgressRefused) as refused:
        egress_fetch(url, **FETCH)

    assert refused.value.reason.startswith("only http and https links are fetched")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::808:808", True),
        ("2002:808:808::1", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("198.18.0.1", False),
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("::", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:0:7f00:1", False),
        ("::10.0.0.1", False),
        ("2002:a00:1::1", False),
        ("64:ff9b::7f00:1", False),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),
        ("fe80::1", False),
        ("fec0::1", False),
        ("fc00::1", False),
        ("ff05::2", False),
        ("2001:db8::1", False),
    ],
    ids=lambda value: str(value),
)
def test_addresses_are_public_or_not(address, public):
    assert address_is_public(ipaddress.ip_address(address)) is public


# --------------------------------------------------------------- allowances


@pytest.mark.parametrize(
    "allowed",
    ["127.0.0.1:{port}", "127.0.0.1", "127.0.0.0/8", "localhost:{port}"],
    ids=["address-and-port", "address", "network", "host-name"],
)
def test_an_allowed_server_is_fetched(server, settings, allowed):
    settings.EGRESS_ALLOWED_HOSTS = [allowed.format(port=server.port)]
    host = "localhost" if allowed.startswith("localhost") else "127.0.0.1"
    url = f"http://{host}:{server.port}/file.png?sig=1"

    fetched = egress_fetch(url, **FETCH)

    assert fetched == EgressResponse(
        content=IMAGE, content_type="image/png", final_url=url, status_code=200
    )
    assert [r.path for r in server.received] == ["/file.png?sig=1"]


def test_allowing_one_port_does_not_allow_another(server, other, settings):
    settings.EGRESS_ALLOWED_HOSTS = [other.netloc]

    with pytest.raises(EgressRefused):
        egress_fetch(f"{server.url}/file.png", **FETCH)

    assert server.received == []


def test_a_malformed_allowance_is_a_configuration_error(server, settings):
    settings.EGRESS_ALLOWED_HOSTS = ["127.0.0.1:http"]

    with pytest.raises(ImproperlyConfigured, match="has no valid port"):
        egress_fetch(f"{server.url}/file.png", **FETCH)


# ---------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/file.png",
        "http://localhost:{port}/file.png",
        "http://[::ffff:127.0.0.1]:{port}/file.png",
        "http://api.twilio.com@127.0.0.1:{port}/file.png",
    ],
    ids=["loopback", "localhost", "ipv4-mapped", "userinfo"],
)
def test_a_redirect_from_an_allowed_host_to_loopback_is_refused(
    server, other, settings, target
):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc]
    server.answer(
        "/go", Answer(302, headers={"Location": target.format(port=other.port)})
    )

    with pytest.raises(EgressRefused):
        egress_fetch(f"{server.url}/go", **FETCH)

    assert [r.path for r in server.received] == ["/go"]
    assert other.received == []


def test_a_redirect_between_allowed_hosts_is_followed(server, other, settings):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc, other.netloc]
    server.answer("/go", Answer(307, headers={"Location": f"{other.url}/file.png"}))

    fetched = egress_fetch(f"{server.url}/go", **FETCH)

    assert fetched.content == IMAGE
    assert fetched.final_url == f"{other.url}/file.png"


def test_a_redirect_outside_only_hosts_is_refused(server, other, settings):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc, other.netloc]
    server.answer("/go", Answer(302, headers={"Location": f"{other.url}/file.png"}))

    with pytest.raises(EgressRefused) as refused:
        egress_fetch(f"{server.url}/go", only_hosts=[server.url], **FETCH)

    assert refused.value.reason == (
        "127.0.0.1 is not one of the hosts this file may come from."
    )
    assert other.received == []


def test_redirects_stop_after_the_limit(server, settings):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc]
    server.answer("/loop", Answer(302, headers={"Location": "/loop"}))

    with pytest.raises(EgressError) as failed:
        egress_fetch(f"{server.url}/loop", max_redirects=3, **FETCH)

    assert failed.value.reason == "more than 3 redirects."
    assert len(server.received) == 4


# -------------------------------------------------------------- credentials


def test_credentials_go_to_the_credential_host_only_not_after_a_redirect(
    server, other, settings
):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc, other.netloc]
    server.answer("/media", Answer(307, headers={"Location": f"{other.url}/cdn"}))
    other.answer("/cdn", Answer(302, headers={"Location": f"{server.url}/file.png"}))

    fetched = egress_fetch(
        f"{server.url}/media",
        credentials=basic_credentials("AC123", "token-secret"),
        credential_hosts=[server.url],
        **FETCH,
    )

    assert fetched.content == IMAGE
    sent = [(r.path, r.headers.get("authorization")) for r in server.received]
    assert sent == [("/media", "Basic QUMxMjM6dG9rZW4tc2VjcmV0"), ("/file.png", None)]
    assert [r.headers.get("authorization") for r in other.received] == [None]


def test_credentials_are_not_sent_to_a_host_that_is_not_a_credential_host(
    server, other, settings
):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc]

    egress_fetch(
        f"{server.url}/file.png",
        credentials=basic_credentials("AC123", "token-secret"),
        credential_hosts=[other.url, "127.0.0.1"],
        **FETCH,
    )

    assert [r.headers.get("authorization") for r in server.received] == [None]


def test_credentials_may_not_hide_in_plain_headers(server, settings):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc]

    with pytest.raises(ValueError, match="credentials"):
        egress_fetch(
            f"{server.url}/file.png", headers={"Authorization": "Bearer x"}, **FETCH
        )

    assert server.received == []


# -------------------------------------------------------------- size, time


@pytest.mark.parametrize(
    "body",
    [b"x" * 1001, (b"x" * 400, b"x" * 400, b"x" * 400)],
    ids=["content-length", "chunked"],
)
def test_an_oversized_body_is_refused(server, settings, body):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc]
    server.answer("/big", Answer(200, body))

    with pytest.raises(EgressTooLarge) as too_large:
        egress_fetch(f"{server.url}/big", max_bytes=1000, timeout=5.0)

    assert too_large.value.reason == "the file is larger than 1000 bytes."


def test_a_body_of_exactly_max_bytes_is_kept(server, settings):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc]
    server.answer("/exact", Answer(200, (b"x" * 500, b"x" * 500)))

    fetched = egress_fetch(f"{server.url}/exact", max_bytes=1000, timeout=5.0)

    assert fetched.content == b"x" * 1000


def test_a_slow_body_stops_at_the_time_cap(server, settings):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc]
    # One byte every 0.2 s: each read is quick, the whole is 6 s.
    server.answer("/slow", Answer(200, (b"x",) * 30, delay=0.2))
    started = time.monotonic()

    with pytest.raises(EgressError) as failed:
        egress_fetch(f"{server.url}/slow", max_bytes=1000, timeout=1.0)

    assert time.monotonic() - started < 2.0
    assert failed.value.reason == "127.0.0.1 did not answer in time."
    assert failed.value.transient is True


@pytest.mark.parametrize(
    ("answer", "status", "retry_after", "transient"),
    [
        (Answer(404), 404, None, False),
        (Answer(503, headers={"Retry-After": "7"}), 503, 7.0, True),
        (Answer(429), 429, None, True),
    ],
    ids=["not-found", "unavailable", "rate-limited"],
)
def test_an_http_error_status_is_an_egress_error(
    server, settings, answer, status, retry_after, transient
):
    settings.EGRESS_ALLOWED_HOSTS = [server.netloc]
    server.answer("/x", answer)

    with pytest.raises(EgressError) as failed:
        egress_fetch(f"{server.url}/x", **FETCH)

    assert failed.value.reason == f"the server answered HTTP {status}."
    assert (failed.value.status_code, failed.value.retry_after) == (status, retry_after)
    assert failed.value.transient is transient


def test_a_closed_port_is_a_transient_egress_error(settings):
    settings.EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    # A port bound but not listening: connections to it are refused.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/file.png"

        with pytest.raises(EgressError) as failed:
            egress_fetch(url, **FETCH)

    assert failed.value.reason == ("the connection to 127.0.0.1 failed (ConnectError).")
    assert failed.value.transient is True


# ---------------------------------------------------------- other protocols


def test_a_socket_to_loopback_is_refused_unless_allowed(server, settings):
    with pytest.raises(EgressRefused):
        egress_connect("127.0.0.1", server.port, timeout=2)

    settings.EGRESS_ALLOWED_HOSTS = [server.netloc]
    with egress_connect("127.0.0.1", server.port, timeout=2) as sock:
        sock.sendall(b"GET /file.png HTTP/1.0\r\n\r\n")
        assert sock.recv(12) == b"HTTP/1.1 200"
    assert [r.path for r in server.received] == ["/file.png"]

"""The stand-ins' webhook deliveries over HTTPS with a private certificate
authority (PingBack behind a TLS load balancer, as the multi-host test in
`cluster/` runs it): trusted through `REQUESTS_CA_BUNDLE`, refused without."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.tls import make_certificates
from sandbox.core.delivery import post


class _Acknowledge(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def https_receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on a free loopback port, its certificate signed by a
    CA of the test's own: `(url, ca.pem)`."""
    ca, certificate = make_certificates(tmp_path, "127.0.0.1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Acknowledge)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/hook", ca
    server.shutdown()
    server.server_close()


def test_a_delivery_trusts_the_ca_named_by_requests_ca_bundle(
    https_receiver, monkeypatch
):
    # given
    url, ca = https_receiver
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))

    # when
    result = post(url, b"{}", {"Content-Type": "application/json"})

    # then
    assert result["status_code"] == 200


def test_without_it_a_private_ca_is_refused_and_the_delivery_says_why(
    https_receiver, monkeypatch
):
    # given
    url, _ = https_receiver
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)

    # when
    result = post(url, b"{}", {"Content-Type": "application/json"})

    # then
    assert result["status_code"] is None
    assert result["body"].startswith("SSLError")

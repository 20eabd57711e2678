"""Request bodies are capped on the bytes actually read, over real HTTP: uvicorn
serving `pingback.asgi` (in a thread of the test process) and gunicorn serving
`pingback.wsgi` with the repository's `gunicorn.conf.py` (a child process),
each on a free port.

A chunked body (no Content-Length) larger than its path's cap is answered 413
while the client is still sending it, and nothing is stored; a declared
Content-Length over the cap is answered 413 before any body is sent; a
chunked body under the cap still goes through.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from channels_app.models import InboundEvent
from channels_app.tests.factories import ChannelFactory
from pingback.testing import AsgiServer, free_port, wait_for
from sandbox.platforms.x.payloads import DEMO_APP, XUser, dm_payload, new_id, sign

ROOT = Path(__file__).resolve().parents[2]
CAP = 64 * 1024
CHUNK = b"x" * (16 * 1024)
# Far more than the cap, and than loopback's socket buffers can absorb
# (a few MB): a client that gets its answer before sending all of this was
# answered before the server read it.
TOTAL = 64 * 1024 * 1024
TOO_LARGE = {"detail": "Body too large."}


@pytest.fixture
def asgi_port(monkeypatch, settings) -> Iterator[int]:
    # The server's threads close their connections after each request, so
    # none outlives the test database.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    settings.WEBHOOK_MAX_BODY_BYTES = CAP
    settings.REQUEST_MAX_BODY_BYTES = 4 * CAP
    server = AsgiServer()
    server.start()
    yield server.port
    server.stop()


@pytest.fixture
def wsgi_port() -> Iterator[int]:
    """gunicorn (`gunicorn.conf.py`, one sync worker) serving `pingback.wsgi`,
    with the caps given by the environment."""
    port = free_port()
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "WEBHOOK_MAX_BODY_BYTES": str(CAP),
        "REQUEST_MAX_BODY_BYTES": str(4 * CAP),
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )

    def answers() -> bool:
        assert process.poll() is None, process.stderr.read().decode()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    try:
        wait_for(answers, timeout=60)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def read_response(sock: socket.socket) -> tuple[int, dict]:
    """The status and JSON body of an HTTP/1.1 response with Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        assert part, f"connection closed mid-response: {data!r}"
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    length = int(headers["content-length"])
    while len(body) < length:
        part = sock.recv(65536)
        assert part, "connection closed mid-body"
        body += part
    return int(lines[0].split()[1]), json.loads(body[:length])


def post_chunked(port: int, path: str, *, total: int, headers: str = "") -> dict:
    """POST `total` bytes of chunked body (no Content-Length) to `path`,
    stopping as soon as the server answers. Returns the status, the JSON
    answer and how many body bytes were sent by then."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\n{headers}\r\n".encode()
        )
        sent = 0
        while sent < total:
            answered, _, _ = select.select([sock], [], [], 0)
            if answered:
                break
            piece = CHUNK[: total - sent]
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        else:
            sock.sendall(b"0\r\n\r\n")
        status, answer = read_response(sock)
    return {"status": status, "answer": answer, "sent": sent}


def post_chunked_body(port: int, path: str, body: bytes, headers: str) -> dict:
    """POST `body` chunked, in pieces of 1,000 bytes, and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 1000]), body[i : i + 1000])
            for i in range(0, len(body), 1000)
        )
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\n{headers}\r\n".encode()
            + chunks
            + b"0\r\n\r\n"
        )
        status, answer = read_response(sock)
    return {"status": status, "answer": answer}


def post_declared(port: int, path: str, length: int) -> dict:
    """Send only the head of a POST declaring `length` bytes; read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        status, answer = read_response(sock)
    return {"status": status, "answer": answer}


def signed_dm(text: str) -> tuple[bytes, str]:
    customer = XUser(id="2400000000000000001", screen_name="casey", name="Casey")
    payload = dm_payload(
        account=DEMO_APP.account,
        customer=customer,
        text=text,
        event_id=new_id(),
        created_ms=1_760_000_000_000,
    )
    body = json.dumps(payload).encode()
    return body, sign(body, DEMO_APP.consumer_secret)


# ------------------------------------------------------------------------- ASGI


@pytest.mark.django_db(transaction=True)
def test_a_chunked_webhook_over_the_cap_is_answered_413_before_it_is_all_sent(
    asgi_port,
):
    channel = ChannelFactory()

    result = post_chunked(asgi_port, f"/api/v1/webhooks/x/{channel.pk}", total=TOTAL)

    assert (result["status"], result["answer"]) == (413, TOO_LARGE)
    assert result["sent"] < TOTAL
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_chunked_api_body_over_the_general_cap_is_answered_413_before_it_is_all_sent(
    asgi_port,
):
    result = post_chunked(asgi_port, "/api/v1/channels/", total=TOTAL)

    assert (result["status"], result["answer"]) == (413, TOO_LARGE)
    assert result["sent"] < TOTAL


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("_case", "path", "length"),
    [
        ("webhook", "/api/v1/webhooks/x/1", CAP + 1),
        ("api", "/api/v1/channels/", 4 * CAP + 1),
    ],
)
def test_a_declared_length_over_the_cap_is_answered_413_with_no_body_sent(
    asgi_port, _case, path, length
):
    assert post_declared(asgi_port, path, length) == {
        "status": 413,
        "answer": TOO_LARGE,
    }


@pytest.mark.django_db(transaction=True)
def test_a_chunked_signed_webhook_under_the_cap_is_accepted_and_stored(asgi_port):
    channel = ChannelFactory()
    body, signature = signed_dm("Sent in chunks, still arrives.")

    result = post_chunked_body(
        asgi_port,
        f"/api/v1/webhooks/x/{channel.pk}",
        body,
        f"X-Twitter-Webhooks-Signature: {signature}\r\n",
    )

    assert (result["status"], result["answer"]) == (200, {"status": "accepted"})
    assert bytes(InboundEvent.objects.get().body) == body


# ------------------------------------------------------------------------- WSGI


def test_gunicorn_answers_a_chunked_webhook_over_the_cap_413_before_it_is_all_sent(
    wsgi_port,
):
    result = post_chunked(wsgi_port, "/api/v1/webhooks/x/1", total=TOTAL)

    assert (result["status"], result["answer"]) == (413, TOO_LARGE)
    assert result["sent"] < TOTAL


def test_gunicorn_answers_a_declared_length_over_the_cap_413_with_no_body_sent(
    wsgi_port,
):
    assert post_declared(wsgi_port, "/api/v1/webhooks/x/1", CAP + 1) == {
        "status": 413,
        "answer": TOO_LARGE,
    }

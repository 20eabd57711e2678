"""E-mail servers under the outbound policy (`pingback.egress`): an SMTP or
IMAP host at a private address is refused at setup (400 naming the field) and
at connect time, and what a server that is not a mail server says when it
answers is never repeated back."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from channels_app.models import Channel
from channels_app.platforms import get_platform
from channels_app.platforms.email_clients import MailServerRefused
from channels_app.tests.email.conftest import SUPPORT_ADDRESS
from channels_app.tests.email.test_send import outbound

pytestmark = pytest.mark.django_db

BANNER_SECRET = "internal-build-7f3a host db-primary.corp"
NOT_PUBLIC = (
    "PingBack does not connect to this {what} server: {host} is not a public "
    "address. A mail server on a private network must be listed in the "
    "EGRESS_ALLOWED_HOSTS setting."
)


class LineServer:
    """A TCP server on a free loopback port: sends `greeting` to each
    connection, then answers each line it receives with `reply(line)`;
    counts the connections it accepted."""

    def __init__(self, greeting: bytes, reply: Callable[[bytes], bytes]) -> None:
        self.greeting = greeting
        self.reply = reply
        self.connections = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with connection, connection.makefile("rb") as lines:
                connection.settimeout(5)
                try:
                    connection.sendall(self.greeting)
                    for line in lines:
                        answer = self.reply(line)
                        if not answer:
                            break
                        connection.sendall(answer)
                except OSError:
                    pass

    @contextmanager
    def running(self) -> Iterator[LineServer]:
        thread = threading.Thread(target=self.serve, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stopped.set()
            thread.join(timeout=5)
            self.listener.close()


def _silent(line: bytes) -> bytes:
    return b""


def imap_refusing_logins(line: bytes) -> bytes:
    """Enough IMAP4rev1 (RFC 3501) for a client to log in and be refused."""
    tag, _, command = line.decode().strip().partition(" ")
    verb = command.split(" ", 1)[0].upper()
    if verb == "CAPABILITY":
        return f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n".encode()
    if verb == "LOGIN":
        return f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".encode()
    if verb == "LOGOUT":
        return f"* BYE\r\n{tag} OK bye\r\n".encode()
    return f"{tag} BAD unknown\r\n".encode()


def create(api, **config):
    return api.post(
        "/api/v1/channels/",
        {"type": "email", "config": {"address": SUPPORT_ADDRESS, **config}},
        format="json",
    )


def smtp_config(host: str, port: int) -> dict[str, object]:
    return {
        "smtp_host": host,
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_username": SUPPORT_ADDRESS,
        "smtp_password": "smtp-secret-4411",
    }


def imap_config(host: str, port: int) -> dict[str, object]:
    return {
        "imap_host": host,
        "imap_port": port,
        "imap_security": "none",
        "imap_username": "support",
        "imap_password": "imap-secret-4411",
    }


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "10.0.0.25", "169.254.169.254", "::1", "0.0.0.0"],
)
def test_an_smtp_host_at_a_private_address_is_400_naming_smtp_host(
    admin_api, settings, host
):
    settings.EGRESS_ALLOWED_HOSTS = []
    with LineServer(b"220 mail ESMTP\r\n", _silent).running() as server:
        response = create(admin_api, **smtp_config(host, server.port))

        assert server.connections == 0
    assert response.status_code == 400
    assert response.json()["config"] == {
        "smtp_host": [NOT_PUBLIC.format(what="SMTP", host=host)]
    }
    assert Channel.objects.count() == 0


def test_an_imap_host_at_a_private_address_is_400_naming_imap_host(
    admin_api, settings, smtp_server
):
    """SMTP is allowed (its address and port only); IMAP on another loopback
    port is not, and receives no connection."""
    settings.EGRESS_ALLOWED_HOSTS = [f"127.0.0.1:{smtp_server.port}"]
    with LineServer(b"* OK IMAP4rev1 ready\r\n", _silent).running() as imap:
        response = create(
            admin_api,
            **smtp_server.config(),
            **imap_config("127.0.0.1", imap.port),
        )

        assert imap.connections == 0
    assert response.status_code == 400
    assert response.json()["config"] == {
        "imap_host": [NOT_PUBLIC.format(what="IMAP", host="127.0.0.1")]
    }
    assert Channel.objects.count() == 0


def test_an_allowed_on_premises_imap_server_is_reached(
    admin_api, settings, smtp_server
):
    """Listed in EGRESS_ALLOWED_HOSTS, the IMAP server is connected to (here
    it refuses the login, which is the server's answer, named as such)."""
    with LineServer(
        b"* OK IMAP4rev1 ready\r\n", imap_refusing_logins
    ).running() as imap:
        settings.EGRESS_ALLOWED_HOSTS = [
            f"127.0.0.1:{smtp_server.port}",
            f"127.0.0.1:{imap.port}",
        ]
        response = create(
            admin_api, **smtp_server.config(), **imap_config("127.0.0.1", imap.port)
        )

        assert imap.connections == 1
    assert response.status_code == 400
    assert response.json()["config"] == {
        "imap_password": [
            "The IMAP server 127.0.0.1 refused the login: [AUTHENTICATIONFAILED] "
            "Authentication failed."
        ]
    }


@pytest.mark.parametrize(
    ("greeting", "message"),
    [
        (
            f"SSH-2.0-OpenSSH_9.2 {BANNER_SECRET}\r\n",
            "Could not reach the SMTP server: it did not answer as an SMTP server.",
        ),
        (
            f"554 {BANNER_SECRET}\r\n",
            "The SMTP server refused the connection: 554",
        ),
    ],
    ids=["not-smtp", "smtp-refusal"],
)
def test_what_a_server_says_when_greeting_is_not_repeated_by_smtp_setup(
    admin_api, greeting, message
):
    with LineServer(greeting.encode(), _silent).running() as server:
        response = create(admin_api, **smtp_config("127.0.0.1", server.port))

    assert response.status_code == 201
    setup = response.json()["setup"]
    assert setup["state"] == "failed"
    assert setup["message"] == (
        f"{message} Fix the settings or the server, then run setup again."
    )
    assert BANNER_SECRET not in response.content.decode()


@pytest.mark.parametrize(
    "greeting",
    [f"* BYE {BANNER_SECRET}\r\n", f"-ERR {BANNER_SECRET}\r\n"],
    ids=["imap-bye", "not-imap"],
)
def test_what_a_server_says_when_greeting_is_not_repeated_by_imap_setup(
    admin_api, smtp_server, greeting
):
    with LineServer(greeting.encode(), _silent).running() as imap:
        response = create(
            admin_api, **smtp_server.config(), **imap_config("127.0.0.1", imap.port)
        )

    assert response.status_code == 201
    setup = response.json()["setup"]
    assert setup["state"] == "failed"
    assert setup["message"] == (
        "Could not reach the IMAP server 127.0.0.1: it did not answer as an IMAP "
        "server. Fix the settings or the server, then run setup again."
    )
    assert BANNER_SECRET not in response.content.decode()


def test_a_channel_saved_with_a_private_smtp_host_sends_nothing_there(
    email_channel, settings, smtp_server
):
    """A channel stored before the policy (or before the allowance was
    removed): the check is made at connect time, on every send."""
    channel = email_channel()
    settings.EGRESS_ALLOWED_HOSTS = []

    with pytest.raises(MailServerRefused) as refused:
        get_platform("email").send(channel, outbound(channel))

    assert refused.value.field == "smtp_host"
    assert refused.value.channel_alert == NOT_PUBLIC.format(
        what="SMTP", host="127.0.0.1"
    )
    assert smtp_server.received == []

"""Platform clients are kept per thread: a delivery thread's sends reuse one
connection to the platform (HTTP keep-alive), two threads never share one,
and a changed base URL or timeout setting gets a new client.

Sends go over real HTTP to the sandbox stand-ins through `KeepAliveFront`, a
keep-alive HTTP front on a free port that numbers the TCP connections
PingBack opens to it. The front is needed because the sandbox (werkzeug's
server) closes every connection after its answer, which would make each
send open a new connection whatever PingBack does; real platforms keep them
open.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from channels_app.platforms import get_platform
from channels_app.platforms.base import OutboundMessage, TransientDeliveryError
from channels_app.platforms.meta import GraphClient
from channels_app.tests.platforms.contract.expectations import read
from channels_app.tests.platforms.contract.kits import KITS
from pingback.tests.servers import Answer, RecordingServer

pytestmark = pytest.mark.django_db

# Hop-by-hop headers (RFC 9110, 7.6.1) and the ones the front sets itself.
NOT_PASSED_ON = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "date",
        "server",
    }
)


class KeepAliveFront:
    """An HTTP/1.1 server on a free loopback port passing each request on to
    `upstream` and answering on the client's connection, which it keeps open.

    `carried` lists, for each request answered, the number of the TCP
    connection it came on (1 for the first connection opened to the front,
    and so on). While `holding` is set, requests are neither passed on nor
    answered: the platform does not answer."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.carried: list[int] = []
        self.holding = False
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no delayed answers on kept connections

            def setup(self) -> None:
                super().setup()
                with front._lock:
                    front._connections.append(self.connection)
                    self.number = len(front._connections)

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if front.holding:
                    front._stopped.wait(30)
                    self.close_connection = True
                    return
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in NOT_PASSED_ON
                }
                upstream = http.client.HTTPConnection(
                    target.hostname, target.port, timeout=10
                )
                try:
                    upstream.request(self.command, self.path, body, headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                finally:
                    upstream.close()
                with front._lock:
                    front.carried.append(self.number)
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in NOT_PASSED_ON:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = relay

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def connections(self) -> int:
        """TCP connections opened to the front so far."""
        return len(self._connections)

    def start(self) -> KeepAliveFront:
        threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (held requests go
        nowhere)."""
        self._stopped.set()
        self._httpd.shutdown()
        with self._lock:
            for connection in self._connections:
                try:
                    connection.shutdown(2)  # SHUT_RDWR: wakes its handler
                except OSError:
                    pass
        self._httpd.server_close()


@dataclass(frozen=True)
class Sender:
    """How a platform's replies reach its stand-in: `base_url` and `timeout`
    are the names of its settings; `ready(sandbox)` makes the stand-in take a
    reply; `sent(sandbox)` the (platform message id, text) of each reply it
    received, oldest first."""

    platform: str
    base_url: str
    timeout: str
    ready: Callable[[Any], None]
    sent: Callable[[Any], list[tuple[str, str]]]

    def channel(self):
        kit = KITS[self.platform]
        sending = kit.sending
        return kit.create(**(sending.channel() if sending and sending.channel else {}))

    def message(self, text: str) -> OutboundMessage:
        """A reply to the customer of the kit's delivery fixture."""
        kit = KITS[self.platform]
        [item] = read(kit.fixture(kit.delivery))["items"]
        return OutboundMessage(
            message_id=1,
            text=text,
            recipient_external_id=item["contact"]["external_id"],
            thread_key=item["thread_key"],
        )


def kit_sender(platform: str, base_url: str, timeout: str) -> Sender:
    """A platform whose contract kit watches its sends."""
    sending = KITS[platform].sending
    id_key, text_key = sending.sent
    return Sender(
        platform,
        base_url,
        timeout,
        ready=lambda sandbox: sending.set_modes(sandbox, {}),
        sent=lambda sandbox: [(s[id_key], s[text_key]) for s in sending.sends(sandbox)],
    )


def telegram_sent(sandbox) -> list[tuple[str, str]]:
    return [
        (f"{s['chat_id']}:{s['message_id']}", s["text"]) for s in sandbox.telegram.sent
    ]


SENDERS = [
    kit_sender("whatsapp", "GRAPH_API_BASE_URL", "PLATFORM_API_TIMEOUT"),
    kit_sender("instagram", "GRAPH_API_BASE_URL", "PLATFORM_API_TIMEOUT"),
    kit_sender("sms", "TWILIO_API_BASE_URL", "PLATFORM_API_TIMEOUT"),
    kit_sender("x", "X_API_BASE_URL", "X_API_TIMEOUT"),
    Sender(
        "telegram",
        "TELEGRAM_API_BASE_URL",
        "PLATFORM_API_TIMEOUT",
        ready=lambda sandbox: sandbox.telegram.open_chat(),
        sent=telegram_sent,
    ),
]


@pytest.fixture
def fronts(sandbox) -> Iterator[Callable[[], KeepAliveFront]]:
    """Start keep-alive fronts of the sandbox; all are stopped after the
    test."""
    started: list[KeepAliveFront] = []

    def start() -> KeepAliveFront:
        front = KeepAliveFront(sandbox.url).start()
        started.append(front)
        return front

    yield start
    for front in started:
        front.stop()


def in_another_thread(function: Callable[[], Any]) -> Any:
    """`function()` run in a new thread; returns its result or raises its
    error."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = function()
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the send did not finish"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def through(front, sender, sandbox, settings) -> tuple:
    """Point `sender`'s platform at `front`, get the sandbox ready for it;
    return (its channel, its platform)."""
    setattr(settings, sender.base_url, front.url)
    sender.ready(sandbox)
    return sender.channel(), get_platform(sender.platform)


@pytest.mark.parametrize("sender", SENDERS, ids=lambda sender: sender.platform)
def test_a_threads_sends_go_over_one_connection(sender, sandbox, fronts, settings):
    front = fronts()
    channel, platform = through(front, sender, sandbox, settings)

    first = platform.send(channel, sender.message("Your order has shipped."))
    second = platform.send(channel, sender.message("It arrives on Tuesday."))

    assert sender.sent(sandbox) == [
        (first.platform_message_id, "Your order has shipped."),
        (second.platform_message_id, "It arrives on Tuesday."),
    ]
    assert front.connections == 1
    assert len(front.carried) == len(sandbox.requests())  # all came through it


@pytest.mark.parametrize("sender", SENDERS, ids=lambda sender: sender.platform)
def test_two_threads_do_not_share_a_client(sender, sandbox, fronts, settings):
    front = fronts()
    channel, platform = through(front, sender, sandbox, settings)
    send = platform.send

    send(channel, sender.message("From the first thread."))
    calls_per_send = len(front.carried)
    in_another_thread(lambda: send(channel, sender.message("From another thread.")))
    send(channel, sender.message("The first thread again."))

    assert len(sender.sent(sandbox)) == 3
    assert front.connections == 2
    # The other thread opened its own connection; the first thread's next
    # send went over the first thread's connection again.
    assert (
        front.carried
        == [1] * calls_per_send + [2] * calls_per_send + [1] * calls_per_send
    )


@pytest.mark.parametrize("sender", SENDERS, ids=lambda sender: sender.platform)
def test_a_changed_base_url_setting_gets_a_new_client(
    sender, sandbox, fronts, settings
):
    first, second = fronts(), fronts()
    sender.ready(sandbox)
    channel, platform = sender.channel(), get_platform(sender.platform)

    setattr(settings, sender.base_url, first.url)
    platform.send(channel, sender.message("Through the first address."))
    setattr(settings, sender.base_url, second.url)
    platform.send(channel, sender.message("Through the second address."))
    setattr(settings, sender.base_url, first.url)
    platform.send(channel, sender.message("The first address again."))

    assert len(sender.sent(sandbox)) == 3
    # Each address got the sends made while it was set, each over one
    # connection: the client of the first was kept, not used for the second.
    assert (first.connections, second.connections) == (1, 1)
    assert len(first.carried) == 2 * len(second.carried)
    assert len(first.carried) + len(second.carried) == len(sandbox.requests())


@pytest.mark.parametrize("sender", SENDERS, ids=lambda sender: sender.platform)
def test_a_changed_timeout_setting_applies_to_the_next_send(
    sender, sandbox, fronts, settings
):
    front = fronts()
    channel, platform = through(front, sender, sandbox, settings)
    platform.send(channel, sender.message("Sent in time."))
    patient = getattr(settings, sender.timeout)

    setattr(settings, sender.timeout, 0.3)
    front.holding = True
    with pytest.raises(TransientDeliveryError):
        platform.send(channel, sender.message("The platform does not answer."))
    front.holding = False
    setattr(settings, sender.timeout, patient)
    platform.send(channel, sender.message("Answered again."))

    assert [text for _, text in sender.sent(sandbox)] == [
        "Sent in time.",
        "Answered again.",
    ]
    # The short timeout had a client (and connection) of its own; the patient
    # one's connection carried both sends that were answered.
    assert front.connections == 2
    assert set(front.carried) == {1}


def test_graph_cookies_do_not_ride_along_with_another_channels_token(settings):
    """The Graph client a thread keeps serves every channel's token: a cookie
    one answer sets is not sent with the next request."""
    server = RecordingServer()
    path = f"/{settings.GRAPH_API_VERSION}/me"
    server.answer(
        path,
        Answer(
            200,
            b"{}",
            {"Content-Type": "application/json", "Set-Cookie": "session=a; Path=/"},
        ),
    )
    with server.running():
        settings.GRAPH_API_BASE_URL = server.url
        GraphClient("EAAfirstchannel").request("GET", "me")
        GraphClient("EAAsecondchannel").request("GET", "me")

    assert [r.headers.get("cookie") for r in server.received] == [None, None]
    assert [r.headers["authorization"] for r in server.received] == [
        "Bearer EAAfirstchannel",
        "Bearer EAAsecondchannel",
    ]

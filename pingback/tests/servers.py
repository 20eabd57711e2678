"""A small HTTP server on loopback for the outbound HTTP policy's tests and
the outgoing webhooks' receiver: it answers what the test sets per path and
records every request it receives (method, path, headers and body), so a
test can say that nothing reached it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    """What the server answers on one path: `status`, `headers`, and `body`
    (bytes, or chunks sent `delay` seconds apart without a Content-Length)."""

    status: int = 200
    body: bytes | tuple[bytes, ...] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: bytes = b""
    method: str = "GET"


class RecordingServer:
    """An HTTP/1.1 server on a free port of `host` (started by `running`)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.answers: dict[str, Answer] = {}
        self.received: list[Received] = []
        self._turns: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(length))

            def _answer(self, body: bytes) -> None:
                server.received.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        self.command,
                    )
                )
                answer = server.answer_for(self.path.split("?")[0])
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if isinstance(answer.body, bytes):
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._chunks(answer.body, answer.delay)

            def _chunks(self, chunks: Iterable[bytes], delay: float) -> None:
                try:
                    for chunk in chunks:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                        time.sleep(delay)
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client gave up: what the slow-body test expects

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def netloc(self) -> str:
        """`host:port`, as `EGRESS_ALLOWED_HOSTS` takes it."""
        return self.url.removeprefix("http://")

    def answer(self, path: str, answer: Answer) -> None:
        with self._lock:
            self._turns.pop(path, None)
        self.answers[path] = answer

    def answer_in_turn(self, path: str, answers: Iterable[Answer]) -> None:
        """Answer the requests on `path` with `answers` one after the other;
        once they are used up, the last one keeps answering."""
        with self._lock:
            self._turns[path] = list(answers)

    def answer_for(self, path: str) -> Answer:
        """The answer to the next request on `path` (404 if none was set)."""
        with self._lock:
            turns = self._turns.get(path)
            if turns:
                return turns.pop(0) if len(turns) > 1 else turns[0]
        return self.answers.get(path, Answer(404))

    @contextmanager
    def running(self) -> Iterator[RecordingServer]:
        thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.02,), daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join(timeout=5)

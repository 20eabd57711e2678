"""``python manage.py run_sandbox --port 8765``: serve the X sandbox until Ctrl-C."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sandbox.server import DEFAULT_X_REAL_HOST, SandboxServer


class Command(BaseCommand):
    """Runs :class:`sandbox.server.SandboxServer` in the foreground."""

    help = "Serve the local X API sandbox (tests and demo only)."

    def add_arguments(self, parser: CommandParser) -> None:
        """``--port`` (default 8765; 0 picks a free port), ``--host``,
        ``--latency`` (seconds each API call waits, default 0)."""
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--x-real-host",
            default=DEFAULT_X_REAL_HOST,
            help="Origin that clients sign OAuth 1.0a requests for.",
        )
        parser.add_argument(
            "--latency",
            type=float,
            default=0.0,
            help="Seconds every API call waits before it is answered, as a "
            "real platform's API takes (e.g. 0.25).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Print the URL, then serve until interrupted."""
        server = SandboxServer(
            options["host"],
            options["port"],
            x_real_host=options["x_real_host"],
            latency=options["latency"],
        )
        self.stdout.write(f"Sandbox serving on {server.url}")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Sandbox stopped.")
        finally:
            server.stop()

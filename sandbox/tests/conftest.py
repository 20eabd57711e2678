"""Fixtures of the stand-ins' tests: one sandbox per module, reset for each
test, and a webhook :class:`~sandbox.tests.kit.Receiver`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.server import SandboxServer
from sandbox.tests.kit import Receiver


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One sandbox for the module."""
    with SandboxServer() as running:
        yield running


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    """The module's sandbox, reset for each test."""
    server.reset()
    return server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """PingBack's side of the wire (see :class:`Receiver`)."""
    with Receiver() as running:
        yield running

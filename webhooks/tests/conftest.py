"""Fixtures of the outgoing webhooks' tests: a receiver on loopback (allowed
by the outbound HTTP policy for its address and port only, as the sandbox
is) and an endpoint of the business pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pingback.tests.servers import Answer, RecordingServer
from webhooks.models import EventType
from webhooks.services.endpoints import endpoint_create


@pytest.fixture
def receiver(settings) -> Iterator[RecordingServer]:
    """A threaded HTTP server on a free loopback port answering 200 on
    /hook, recording every request; `EGRESS_ALLOWED_HOSTS` allows its
    `127.0.0.1:<port>` and nothing else."""
    with RecordingServer().running() as server:
        server.answer("/hook", Answer(200, b'{"ok":true}'))
        settings.EGRESS_ALLOWED_HOSTS = [server.netloc]
        yield server


@pytest.fixture
def endpoint_and_secret(business, receiver):
    """An endpoint of `business` subscribed to every event, at the receiver."""
    return endpoint_create(
        business=business, url=f"{receiver.url}/hook", events=EventType.values
    )


@pytest.fixture
def endpoint(endpoint_and_secret):
    return endpoint_and_secret[0]


@pytest.fixture
def secret(endpoint_and_secret):
    return endpoint_and_secret[1]

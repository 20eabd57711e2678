"""What a platform's kit tells the contract suite: only what differs between
platforms, as data. See `channels_app.tests.platforms.contract`."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import FIXTURES, names_in


def header(name: str) -> str:
    """The WSGI name of an HTTP header, as the Django test client takes it."""
    return "HTTP_" + name.upper().replace("-", "_")


@dataclass(frozen=True)
class Handshake:
    """The GET a platform sends to check the webhook URL.

    `query(channel)` is the platform's challenge to `channel`; `answer(channel)`
    the `(content type, body)` it expects back; `refused` maps a case to a
    query answered 403 without the challenge in the body; `secret` is the
    config field without which every handshake is refused."""

    query: Callable[[Channel], dict[str, str]]
    answer: Callable[[Channel], tuple[str, bytes]]
    secret: str
    refused: dict[str, Callable[[Channel], dict[str, str]]] = field(
        default_factory=dict
    )


@dataclass(frozen=True)
class SendErrorCase:
    """A platform refusal from the stand-in: `modes` set on the stand-in
    before the send, `message` what the reply changes (`OutboundMessage`
    fields), and what must be raised: `error` (TransientDeliveryError or
    PermanentDeliveryError) with `reason`, the platform's words, and
    `fields` (other attributes of the error, e.g. `retry_after`)."""

    modes: dict[str, Any]
    error: type
    reason: str
    message: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sending:
    """How a platform's sends are watched in its sandbox stand-in.

    Replies go to the customer of the kit's `delivery` fixture, in its thread.
    `sends(sandbox)` what the stand-in received, oldest first; `sent` the
    keys of the platform's id and of the text in one of them;
    `set_modes(sandbox, modes)` puts it in a state (`{}`: the default one) or
    makes it refuse (see `SendErrorCase`); `errors` maps a case to the refusal
    and how PingBack must classify it; `channel` the `ChannelFactory` fields
    of a channel the stand-in knows, when the kit's own is not one."""

    sends: Callable[[Any], list[dict[str, Any]]]
    sent: tuple[str, str]
    set_modes: Callable[[Any, dict[str, Any]], None]
    errors: dict[str, SendErrorCase] = field(default_factory=dict)
    channel: Callable[[], dict[str, Any]] | None = None

    @classmethod
    def watching(
        cls, standin: str, sends: str, sent: tuple[str, str], **fields: Any
    ) -> Sending:
        """Sends watched in the list `sends` of the sandbox's stand-in named
        `standin` (e.g. `sandbox.sms.sends`), whose `set_modes` puts it in a
        state; `fields` are the other fields (`errors`, ...)."""
        return cls(
            sends=lambda sandbox: getattr(getattr(sandbox, standin), sends),
            sent=sent,
            set_modes=lambda sandbox, modes: getattr(sandbox, standin).set_modes(modes),
            **fields,
        )


def transient_refusals(
    rate_limit: str,
    server_error: str,
    rate_limit_fields: dict[str, Any] | None = None,
    server_error_fields: dict[str, Any] | None = None,
) -> dict[str, SendErrorCase]:
    """The refusals every stand-in makes on demand (its `rate_limit_next` and
    `server_error_next` modes, `sandbox/core/modes.py`), both transient:
    `rate_limit` and `server_error` are the platform's words, the `*_fields`
    the other attributes the error must have."""
    from channels_app.platforms.base import TransientDeliveryError

    return {
        "rate limit": SendErrorCase(
            {"rate_limit_next": 1},
            TransientDeliveryError,
            rate_limit,
            fields=rate_limit_fields or {},
        ),
        "server error": SendErrorCase(
            {"server_error_next": 1},
            TransientDeliveryError,
            server_error,
            fields=server_error_fields or {},
        ),
    }


@dataclass(frozen=True)
class Setup:
    """Creating the channel through the API, against the sandbox stand-in.

    `config` is a create config the stand-in accepts; `state` the setup state
    it ends in; `registered(sandbox, created)` whether the platform side
    points at the created channel (the API's answer), or with `created` None
    whether anything at all is registered (None: the platform has nothing
    PingBack registers); `refused` maps a case to (config, the field named, the
    platform's words) answered 400; `unreachable` is (the setting of the
    platform's base URL, the setup state, how the setup message begins) when
    the platform cannot be reached; `secret_missing` how the setup message
    goes on when the channel lacks its webhook secret (None: it cannot lack
    it)."""

    config: Callable[[], dict[str, Any]]
    state: str
    registered: Callable[[Any, dict[str, Any] | None], bool] | None = None
    refused: dict[str, tuple[dict[str, Any], str, str]] = field(default_factory=dict)
    unreachable: tuple[str, str, str] | None = None
    secret_missing: str | None = None


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class Kit:
    """One platform, as the contract suite needs it.

    platform: the registry key (`Channel.Type`).
    channel: `ChannelFactory` fields of a set-up channel the fixtures are
        addressed to (a fresh dict each call).
    folder, suffix: where its fixtures are (`<name><suffix>`).
    load: a fixture file's bytes as the platform delivers them.
    malformed: bodies the platform must refuse: case -> (body, whole error).
    signer: (channel, body, secret) -> the headers that authenticate `body`
        to `channel` as the platform does (the sandbox stand-in's own signer);
        None for platforms without webhooks here.
    secret: the `channel.secrets` field webhooks are authenticated with.
    forged: case -> headers of a delivery not authenticated by the secret
        (besides the common cases: no headers, another secret).
    content_type: of its webhook bodies.
    acknowledgement: status -> the (content type, body) of the 200 answer to
        an accepted, duplicate or ignored delivery.
    delivery: the fixture that opens a conversation when delivered.
    handshake, sending, setup: see `Handshake`, `Sending`, `Setup`; None when
        not relevant.
    vectors: the documented test vectors of the signer: (function, args,
        the value the documentation gives).
    """

    platform: str
    channel: Callable[[], dict[str, Any]]
    folder: Path | None = None
    suffix: str = ".json"
    load: Callable[[Path], bytes] = Path.read_bytes
    malformed: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    signer: Callable[[Channel, bytes, str], dict[str, str]] | None = None
    secret: str = ""
    forged: dict[str, dict[str, str]] = field(default_factory=dict)
    content_type: str = "application/json"
    acknowledgement: Callable[[str], tuple[str, bytes]] = lambda status: (
        "application/json",
        json.dumps({"status": status}).encode(),
    )
    delivery: str = "message__text"
    handshake: Handshake | None = None
    sending: Sending | None = None
    setup: Setup | None = None
    vectors: tuple[tuple[Callable[..., str], tuple[Any, ...], str], ...] = ()

    @property
    def fixtures(self) -> Path:
        return self.folder or FIXTURES / self.platform

    def fixture(self, name: str) -> Path:
        return self.fixtures / f"{name}{self.suffix}"

    def names(self) -> list[str]:
        return sorted(names_in(self.fixtures, self.suffix))

    def body(self, name: str) -> bytes:
        return self.load(self.fixture(name))

    def build(self, **fields: Any) -> Channel:
        """An unsaved channel (for the pure parse)."""
        return ChannelFactory.build(**{**self.channel(), **fields})

    def create(self, **fields: Any) -> Channel:
        return ChannelFactory(**{**self.channel(), **fields})

    def deliver(self, client, channel: Channel, body: bytes):
        """POST `body` to the channel's webhook, signed with its secret."""
        return client.post(
            f"/api/v1/webhooks/{channel.type}/{channel.id}",
            data=body,
            content_type=self.content_type,
            **self.signed(channel, body),
        )

    def signed(self, channel: Channel, body: bytes, secret: str | None = None):
        """Headers authenticating `body` with the channel's secret (or
        `secret`)."""
        assert self.signer is not None
        return self.signer(channel, body, secret or channel.secrets[self.secret])

"""Delivery: agent replies through the API, sent by the delivery worker to the
X sandbox, which takes `latency` seconds (a real platform's 100-500 ms; 250 ms
in full runs) to handle each send. Latency runs from the API call to the
sandbox recording the send, after its wait.

Two runs. `paced` posts replies at a fixed rate (the target is stated at 50
replies/s) from `paced_clients` clients, each posting at its due times
whatever the others wait for; latency runs from the API call to the sandbox
recording the send. `burst` measures what the delivery workers send per
second from a backlog: the delivery queue's consumers are stopped (Celery's
`cancel_consumer`), `replies` are posted by `burst_clients` clients, and the
consumers started again (`add_consumer`); replies/s and latencies run from
that restart to the sandbox recording each send, so the API's own intake
(reported as `accepted_per_s`) does not cap the figure. The replies go round
`conversations` conversations (`CONVERSATIONS`, 50, by default), whose
replies are sent one at a time each, in order
(channels_app/services/delivery.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import requests
from django.utils import timezone

from bench.data import bench_business_create, x_channel_create
from bench.stats import summary_ms
from conversations.models import Contact, ContactIdentity, Conversation, Message
from sandbox.platforms.x.payloads import new_id
from sandbox.server import SandboxServer

CONVERSATIONS = 50
RECEIPT_TIMEOUT_S = 300.0


def delivery_conversations(count: int = CONVERSATIONS) -> tuple[str, list[int]]:
    """A new business with an X channel and `count` DM conversations, each with
    one inbound message; returns the admin's API token and the conversation
    ids."""
    bench = bench_business_create(f"Bench delivery {new_id()}", agents=1)
    channel = x_channel_create(bench.business)
    ids = []
    for index in range(count):
        external_id = str(2_400_000_000_000_000_000 + index)
        contact = Contact.objects.create(
            business=bench.business, name=f"Delivery Customer {index}"
        )
        identity = ContactIdentity.objects.create(
            contact=contact, channel=channel, external_id=external_id
        )
        conversation = Conversation.objects.create(
            business=bench.business,
            channel=channel,
            channel_type=channel.type,
            contact=contact,
            contact_identity=identity,
            thread_key=f"dm:{external_id}",
            last_message_at=timezone.now(),
        )
        Message.objects.create(
            conversation=conversation,
            channel=channel,
            direction=Message.Direction.INBOUND,
            text="Where is my parcel?",
            sender_contact=contact,
            platform_message_id=new_id(),
            status=Message.Status.RECEIVED,
            sent_at=timezone.now(),
        )
        ids.append(conversation.pk)
    return bench.token, ids


def delivery_benchmark(
    *,
    web_url: str,
    sandbox: SandboxServer,
    replies: int,
    rate: float,
    burst_clients: int,
    latency: float = 0.0,
    paced_clients: int = 16,
    delivery_workers: Sequence[str] | None = None,
    conversations: int = CONVERSATIONS,
) -> dict:
    """Run `replies` paced replies at `rate` per second, then `replies` from
    a backlog (see the module's docstring), with the sandbox taking
    `latency` seconds per API call. `delivery_workers`: the node names of
    the workers consuming the `delivery` queue (None: every worker); the
    replies go round `conversations` conversations.
    Returns `{"paced": {...}, "burst": {...}}`, each with `replies`,
    `latency_ms`, `replies_per_s` (paced: API call of the first to receipt
    of the last; burst: consumers' restart to receipt of the last),
    `accepted_per_s` (replies / the API's answer to the last), `p50_ms`…
    `max_ms` (paced: API call to receipt; burst: restart to receipt),
    `api_p95_ms`, and `after_api_p50_ms`, `after_api_p95_ms` (from the API's
    answer, or the restart, to receipt: the delivery's own share)."""
    token, conversation_ids = delivery_conversations(conversations)
    previous, sandbox.latency = sandbox.latency, latency
    try:
        paced = _run(
            web_url,
            sandbox,
            token,
            conversation_ids,
            replies,
            rate=rate,
            clients=paced_clients,
        )
        burst = _run(
            web_url,
            sandbox,
            token,
            conversation_ids,
            replies,
            rate=None,
            clients=burst_clients,
            held=lambda: _consumers_held(delivery_workers),
        )
        return {"paced": paced, "burst": burst}
    finally:
        sandbox.latency = previous


@contextmanager
def _consumers_held(destination: Sequence[str] | None):
    """Stop the `delivery` queue's consumers of `destination` for the
    block; start them again on the way out."""
    from pingback.celery import app

    names = list(destination) if destination else None
    answers = app.control.cancel_consumer(
        "delivery", destination=names, reply=True, timeout=5
    )
    if names and len(answers) != len(names):
        raise RuntimeError(f"the delivery workers {names} did not all answer")
    try:
        yield
    finally:
        app.control.add_consumer("delivery", destination=names, reply=True, timeout=5)


def _run(
    web_url: str,
    sandbox: SandboxServer,
    token: str,
    conversations: Sequence[int],
    replies: int,
    *,
    rate: float | None,
    clients: int,
    held: Callable | None = None,
) -> dict:
    tag = new_id()
    called: dict[str, float] = {}
    answered: dict[str, float] = {}
    api_ms: list[float] = []
    lock = threading.Lock()
    first = time.time()

    def send(client: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        for index in range(client, replies, clients):
            if rate is not None:
                time.sleep(max(0.0, first + index / rate - time.time()))
            text = f"Reply {index} of run {tag}: your parcel left the warehouse."
            conversation = conversations[index % len(conversations)]
            started = time.time()
            response = session.post(
                f"{web_url}/api/v1/conversations/{conversation}/messages",
                json={"text": text},
                timeout=30,
            )
            if response.status_code != 202:
                raise RuntimeError(f"reply answered {response.status_code}")
            now = time.time()
            with lock:
                called[text] = started
                answered[text] = now
                api_ms.append((now - started) * 1000)

    def post_all() -> None:
        threads = [threading.Thread(target=send, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if len(called) != replies:
            raise RuntimeError(f"{replies - len(called)} replies were not accepted")

    if held is None:
        post_all()
        start = dict(called)
    else:
        with held():
            post_all()
            first = time.time()
        start = dict.fromkeys(called, first)
    received = _receipts(sandbox, called)
    latencies = [(received[text] - start[text]) * 1000 for text in called]
    span = max(received.values()) - first
    accepting = max(answered.values()) - min(called.values())
    # After the API's answer: the delivery's own share of the latency.
    after_api = [
        (received[text] - max(answered[text], start[text])) * 1000 for text in called
    ]
    return {
        "replies": replies,
        "target_rate": rate,
        "clients": clients,
        "latency_ms": round(sandbox.latency * 1000),
        "replies_per_s": round(replies / span, 1) if span > 0 else 0.0,
        "accepted_per_s": round(replies / accepting, 1) if accepting > 0 else 0.0,
        **summary_ms(latencies),
        "api_p95_ms": summary_ms(api_ms)["p95_ms"],
        "after_api_p50_ms": summary_ms(after_api)["p50_ms"],
        "after_api_p95_ms": summary_ms(after_api)["p95_ms"],
    }


def _receipts(sandbox: SandboxServer, called: dict[str, float]) -> dict[str, float]:
    """When the sandbox received each reply (epoch seconds), by text; raises
    `RuntimeError` if some never arrive."""
    deadline = time.monotonic() + RECEIPT_TIMEOUT_S
    while True:
        received = {
            dm["text"]: dm["received_at"]
            for dm in list(sandbox.x.sent_dms)
            if dm["text"] in called
        }
        if len(received) == len(called):
            return received
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(called) - len(received)} replies never arrived")
        time.sleep(0.1)

"""Webhook ingest: signed X DM webhooks POSTed to PingBack and to the ceiling.

For each connection count, the ceiling view (`bench.ceiling`) and PingBack's
webhook endpoint take the same kind of load: distinct events, bodies of about
1 KB, several customers. PingBack is loaded twice: with the Celery workers'
consumer paused during the load and resumed after it (the web tier alone, as
when workers run on other machines; processing is then timed on its own), and
with the workers processing during the load (everything sharing this machine).
After each run the benchmark waits until every stored event is processed,
checks that every acknowledged event is stored exactly once as a message, and
reports how fast messages reached conversations.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from django.db.models import Max

from bench.ceiling import ceiling_row_count, ceiling_table_clear, ceiling_table_create
from bench.data import bench_business_create, x_channel_create
from bench.loadgen import LoadResult, SignedRequest
from channels_app.models import Channel, InboundEvent
from conversations.models import Conversation, Message
from pingback.celery import app as celery_app
from sandbox.platforms.x.payloads import DEMO_APP, XUser, dm_payload, new_id, sign

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
CUSTOMERS = 200
DRAIN_TIMEOUT_S = 600.0
# What customers write: order questions of 100-160 characters.
TEXTS = (
    "Hi! My order #{n} was supposed to arrive on Tuesday but the tracking page "
    "still says it is in the warehouse. Can you check what is going on?",
    "Hello, I was charged twice for order #{n} this morning. Could you refund the "
    "second payment please? I can send a screenshot of the statement.",
    "Is it possible to change the delivery address of order #{n}? I am moving "
    "next week and will not be at home to receive it.",
    "The blue jacket from order #{n} is one size too small. How do I exchange it "
    "for a large, and do I have to pay for the return?",
)

Loader = Callable[..., LoadResult]


class ExactlyOnceViolation(AssertionError):
    """An acknowledged event is missing from, or stored twice in, the inbox."""


PROCESSING_AFTER = "after"
PROCESSING_CONCURRENT = "concurrent"


@dataclass(frozen=True)
class PingBackRun:
    """PingBack under load. `processing`: `after` (workers paused during the
    load; `processed_per_s` counts from their resumption) or `concurrent`
    (`processed_per_s` counts from the start of the load); either way up to
    the last message stored."""

    processing: str
    load: LoadResult
    ceiling: LoadResult
    stored_events: int
    messages: int
    processed_per_s: float
    drain_after_load_s: float
    failed_events: int

    def as_dict(self) -> dict:
        """JSON-ready figures, with the ratios to the ceiling run made just
        before this one (`ceiling`)."""
        ceiling = self.ceiling
        ceiling_rate = ceiling.acked_per_s
        return {
            "processing": self.processing,
            **_load_dict(self.load),
            "ceiling": _load_dict(ceiling),
            "ratio_of_ceiling": round(self.load.acked_per_s / ceiling_rate, 3)
            if ceiling_rate
            else 0.0,
            "p99_vs_ceiling": round(self.load.p99_ms / ceiling.p99_ms, 2)
            if ceiling.p99_ms
            else 0.0,
            "stored_events": self.stored_events,
            "messages_in_conversations": self.messages,
            "processed_messages_per_s": round(self.processed_per_s, 1),
            "drain_after_load_s": round(self.drain_after_load_s, 2),
            "failed_events": self.failed_events,
            "exactly_once": True,
        }


@dataclass(frozen=True)
class IngestFigures:
    """One connection count: PingBack's runs, each with its own ceiling run."""

    connections: int
    runs: tuple[PingBackRun, ...]

    def as_dict(self) -> dict:
        """JSON-ready figures (latencies in ms, rates per second)."""
        return {
            "connections": self.connections,
            "pingback": [run.as_dict() for run in self.runs],
        }


def _load_dict(result: LoadResult) -> dict:
    return {
        "loader": result.loader,
        "duration_s": round(result.duration_s, 2),
        "requests": result.requests,
        "acked": len(result.acked),
        "acked_per_s": round(result.acked_per_s, 1),
        "p50_ms": round(result.p50_ms, 2),
        "p99_ms": round(result.p99_ms, 2),
        "max_ms": round(result.max_ms, 2),
        "non_2xx": result.non_2xx,
        "socket_errors": result.socket_errors,
        "ran_out_of_requests": result.exhausted,
    }


def signed_requests(count: int, *, customers: int = CUSTOMERS) -> list[SignedRequest]:
    """`count` X DM webhooks (AAA `direct_message_events`, about 1 KB each)
    from `customers` customers to the demo account, each with a new event id,
    signed with the demo app's consumer secret."""
    people = [
        XUser(
            id=str(2_300_000_000_000_000_000 + index),
            screen_name=f"bench_customer_{index}",
            name=f"Bench Customer {index}",
        )
        for index in range(customers)
    ]
    requests = []
    for index in range(count):
        event_id = new_id()
        payload = dm_payload(
            account=DEMO_APP.account,
            customer=people[index % customers],
            text=TEXTS[index % len(TEXTS)].format(n=40_000 + index),
            event_id=event_id,
        )
        body = json.dumps(payload, separators=(",", ":")).encode()
        requests.append(
            SignedRequest(
                event_id=event_id,
                signature=sign(body, DEMO_APP.consumer_secret),
                body=body,
            )
        )
    return requests


def ingest_benchmark(
    *,
    web_url: str,
    ceiling_url: str,
    loader: Loader,
    connections: Sequence[int],
    duration: float,
    max_rate: float,
) -> list[IngestFigures]:
    """At each connection count, for `duration` seconds per run: the
    ceiling, then PingBack with processing after the load; the ceiling again,
    then PingBack with processing during the load. Each PingBack run is
    compared with the ceiling run just before it, so a drift of the
    machine's speed over the part (seen here: a third between runs minutes
    apart) weighs on both sides of a ratio alike. `max_rate` requests/s
    bounds how many distinct events are prepared per run. Raises
    `ExactlyOnceViolation`."""
    ceiling_table_create()
    figures = []
    for count in connections:
        runs = []
        for processing in (PROCESSING_AFTER, PROCESSING_CONCURRENT):
            ceiling = _ceiling_run(
                ceiling_url,
                loader,
                connections=count,
                duration=duration,
                max_rate=max_rate,
            )
            runs.append(
                _pingback_run(
                    web_url,
                    loader,
                    processing,
                    ceiling,
                    connections=count,
                    duration=duration,
                    max_rate=max_rate,
                )
            )
        figures.append(IngestFigures(connections=count, runs=tuple(runs)))
    return figures


def _ceiling_run(
    ceiling_url: str,
    loader: Loader,
    *,
    connections: int,
    duration: float,
    max_rate: float,
) -> LoadResult:
    """One load on the ceiling view, its table emptied first. Raises
    `ExactlyOnceViolation` when it acknowledged rows it did not store."""
    ceiling_table_clear()
    ceiling = loader(
        f"{ceiling_url}/bench/ceiling",
        signed_requests(int(duration * max_rate)),
        connections=connections,
        duration=duration,
        signature_header=SIGNATURE_HEADER,
    )
    if ceiling_row_count() < len(ceiling.acked):
        raise ExactlyOnceViolation("the ceiling acknowledged rows it did not store")
    return ceiling


def _pingback_run(
    web_url: str,
    loader: Loader,
    processing: str,
    ceiling: LoadResult,
    *,
    connections: int,
    duration: float,
    max_rate: float,
) -> PingBackRun:
    """One load on a new X channel's webhook URL, then the wait for
    processing; `ceiling` is the ceiling run it is compared with."""
    channel = x_channel_create(
        bench_business_create(f"Bench ingest {new_id()}", agents=1).business
    )
    requests = signed_requests(int(duration * max_rate))
    url = f"{web_url}/api/v1/webhooks/x/{channel.pk}"
    if processing == PROCESSING_AFTER:
        with processing_paused():
            load = loader(
                url,
                requests,
                connections=connections,
                duration=duration,
                signature_header=SIGNATURE_HEADER,
            )
            ended = counted_from = time.time()
    else:
        counted_from = time.time()
        load = loader(
            url,
            requests,
            connections=connections,
            duration=duration,
            signature_header=SIGNATURE_HEADER,
        )
        ended = time.time()
    events = InboundEvent.objects.filter(channel=channel)
    _wait_processed(events)
    exactly_once_check(channel, load.acked)
    messages = Message.objects.filter(channel=channel)
    count = messages.count()
    last = messages.aggregate(last=Max("created_at"))["last"]
    busy = last.timestamp() - counted_from if last else 0.0
    return PingBackRun(
        processing=processing,
        load=load,
        ceiling=ceiling,
        stored_events=events.count(),
        messages=count,
        processed_per_s=count / busy if busy > 0 else 0.0,
        drain_after_load_s=max(0.0, last.timestamp() - ended) if last else 0.0,
        failed_events=events.filter(status=InboundEvent.Status.FAILED).count(),
    )


@contextmanager
def processing_paused() -> Iterator[None]:
    """Stop the Celery workers consuming the default queue (tasks wait in the
    broker) until exit, and only them: the nodes are asked which queues they
    consume (`inspect().active_queues()`), and both commands go to those
    nodes. Broadcast, the `add_consumer` also made the delivery workers
    consume the default queue, so from the first run "after the load" on,
    inbound drains ran in their 32 threads (until 2026-12-05). Raises
    `RuntimeError` when no worker consumes the default queue or answers."""
    queue = celery_app.conf.task_default_queue
    control = celery_app.control
    active = control.inspect(timeout=1.0).active_queues() or {}
    nodes = [
        node
        for node, queues in active.items()
        if any(consumed["name"] == queue for consumed in queues)
    ]
    if not nodes or not control.cancel_consumer(
        queue, destination=nodes, reply=True, timeout=5
    ):
        raise RuntimeError("no Celery worker answered cancel_consumer")
    try:
        yield
    finally:
        control.add_consumer(queue, destination=nodes, reply=True, timeout=5)


def _wait_processed(events) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    waiting = [InboundEvent.Status.RECEIVED, InboundEvent.Status.PROCESSING]
    while events.filter(status__in=waiting).exists():
        if time.monotonic() > deadline:
            raise ExactlyOnceViolation(
                f"events still unprocessed after {DRAIN_TIMEOUT_S} s"
            )
        time.sleep(0.2)


def exactly_once_check(channel: Channel, acked: Sequence[str]) -> None:
    """Every acknowledged event id is one message in one of the channel's
    conversations; nothing is stored twice; no event failed."""
    stored = Counter(
        Message.objects.filter(channel=channel).values_list(
            "platform_message_id", flat=True
        )
    )
    missing = [event for event in acked if stored[event] == 0]
    twice = [event for event, times in stored.items() if times > 1]
    failed = InboundEvent.objects.filter(
        channel=channel, status=InboundEvent.Status.FAILED
    ).count()
    orphans = Message.objects.filter(channel=channel).exclude(
        conversation__in=Conversation.objects.filter(channel=channel)
    )
    if missing or twice or failed or orphans.exists() or len(set(acked)) != len(acked):
        raise ExactlyOnceViolation(
            f"{len(missing)} acknowledged events not stored, {len(twice)} stored "
            f"twice, {failed} failed, {len(acked) - len(set(acked))} acked twice"
        )

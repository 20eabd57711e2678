"""The benchmark suite in smoke mode, so it cannot rot: tiny data, a few seconds,
against the test database, the live server (with the ceiling view's URLs), the
ASGI server for the inbox websocket, a real Celery worker on the configured
broker and the X sandbox. The full suite
runs only through `bash bench/run`, never in CI."""

import os
from dataclasses import replace

import pytest

from bench.data import bench_business_create, x_channel_create
from bench.ingest import ExactlyOnceViolation, exactly_once_check
from bench.loadgen import wrk_available
from bench.report import machine_describe, markdown
from bench.suite import SMOKE, run_suite
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INBOX_LABELS = [
    "list",
    "list ?channel_type=telegram",
    "list ?status=open",
    "list ?assignee=<agent>",
    "view Mine (?assignee=me&status=open)",
    "view Unassigned (?assignee=none&status=open)",
    "view team (?team=<team>&status=open)",
    "view label 1% (?label=vip)",
    "view label 1% open (?label=vip&status=open)",
    "view label 20% (?label=billing)",
    "view Mentions (?mentioned=me)",
    "view counts",
    "list page {page} (cursor)",
    "messages",
    "inbox page (HTML)",
    "inbox page, a conversation open (HTML)",
    "inbox page, Mine with a label (HTML)",
]
FIGURES = ("p50_ms", "p95_ms", "p99_ms", "max_ms")


@pytest.fixture
def stack(live_server, sandbox, celery_worker, settings) -> str:
    """The live server serving PingBack and the ceiling view."""
    settings.ROOT_URLCONF = "bench.urls"
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url
    return live_server.url


@pytest.mark.parametrize("loader", ["python", "wrk"])
def test_smoke_run_reports_every_figure(loader, stack, sandbox, asgi_server):
    # given: wrk is what the full benchmark uses; CI installs it
    if loader == "wrk" and not wrk_available():
        if os.environ.get("PINGBACK_REQUIRE_SERVICES") == "1":
            pytest.fail("wrk is not installed (apt-get install wrk)")
        pytest.skip("wrk is not installed")

    # when
    results = run_suite(
        web_url=stack,
        ceiling_url=stack,
        sandbox=sandbox,
        config=replace(SMOKE, loader=loader),
        ws_url=asgi_server.url,
    )

    # then: ingest, with every acknowledged event stored once
    assert [run["connections"] for run in results["ingest"]] == [2, 4]
    for run in results["ingest"]:
        assert [p["processing"] for p in run["pingback"]] == ["after", "concurrent"]
        ceilings = [pingback["ceiling"] for pingback in run["pingback"]]
        for load in (*ceilings, *run["pingback"]):
            assert load["acked"] > 0
            assert load["non_2xx"] == 0
            assert load["p50_ms"] > 0
            assert load["max_ms"] >= load["p99_ms"]
        for pingback in run["pingback"]:
            assert pingback["exactly_once"] is True
            assert pingback["failed_events"] == 0
            assert pingback["stored_events"] >= pingback["acked"]
            assert pingback["messages_in_conversations"] == pingback["stored_events"]
            assert pingback["processed_messages_per_s"] > 0
            assert pingback["ratio_of_ceiling"] > 0
    # the inbox at two scales, every endpoint answered 200 with its figures
    assert [(s["conversations"], s["messages"]) for s in results["inbox"]] == [
        (60, 600),
        (30, 300),
    ]
    for scale, last_page in zip(results["inbox"], (3, 2), strict=True):
        endpoints = scale["endpoints"]
        assert [e["label"] for e in endpoints] == [
            label.format(page=last_page) for label in INBOX_LABELS
        ]
        for endpoint in endpoints:
            assert endpoint["status"] == 200
            assert endpoint["requests"] == SMOKE.inbox_requests
            assert 0 < endpoint["queries"]
            assert all(endpoint[figure] > 0 for figure in FIGURES)
    # delivery, paced and in a burst, every reply received by the sandbox
    for run in ("paced", "burst"):
        assert results["delivery"][run]["replies"] == SMOKE.replies
        assert results["delivery"][run]["p95_ms"] > 0
        assert results["delivery"][run]["replies_per_s"] > 0
    assert len(sandbox.x.sent_dms) == 2 * SMOKE.replies
    # realtime: every webhook's message heard on the agent's websocket
    realtime = results["realtime"]
    assert realtime["posted"] == SMOKE.realtime_rate * SMOKE.realtime_duration
    assert realtime["received"] == realtime["posted"]
    assert realtime["missing"] == 0
    assert realtime["p50_ms"] > 0
    assert set(results["durations_s"]) == {
        "ingest",
        "inbox 60",
        "inbox 30",
        "delivery",
        "realtime",
    }
    # every target is reported, and the report renders
    targets = [check["target"] for check in results["targets"]]
    # (ingest: 2 runs x 3; inbox: 3 per endpoint but the pages; delivery: 2;
    # realtime: 1)
    pages = sum(label.startswith("inbox page") for label in INBOX_LABELS)
    assert len(targets) == 2 * 3 + (len(INBOX_LABELS) - pages) * 3 + 2 + 1
    report = markdown({**results, "machine": machine_describe(), "command": "pytest"})
    for section in (
        "### Webhook ingest",
        "### Inbox at scale",
        "### Delivery",
        "### Realtime",
    ):
        assert section in report


def test_exactly_once_check_catches_an_acknowledged_event_not_stored():
    # given: one event stored as a message, another acknowledged but missing
    channel = x_channel_create(bench_business_create("Check", agents=0).business)
    conversation = ConversationFactory(business=channel.business, channel=channel)
    MessageFactory(conversation=conversation, platform_message_id="1001")

    # when / then
    exactly_once_check(channel, ["1001"])
    with pytest.raises(ExactlyOnceViolation, match="1 acknowledged events not stored"):
        exactly_once_check(channel, ["1001", "1002"])

"""The benchmark's reports part in smoke mode (tiny data, the live server),
so it cannot rot: every endpoint answers 200 with its figures, the reports'
records are added once and add up to the data set, the targets and the
Markdown cover it."""

from dataclasses import replace

import pytest

from bench.data import inbox_dataset_ensure
from bench.report import machine_describe, markdown
from bench.reports import REPORT_DAYS, reports_ensure
from bench.suite import SMOKE, run_suite
from bench.targets import REPORTS_QUERIES
from reports.models import ConversationDay, ConversationEvent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_reports_part_reports_every_figure(live_server, sandbox):
    results = run_suite(
        web_url=live_server.url,
        ceiling_url=live_server.url,
        sandbox=sandbox,
        config=replace(SMOKE, parts=("reports",)),
    )

    assert [scale["conversations"] for scale in results["reports"]] == [60, 30]
    for scale in results["reports"]:
        labels = [endpoint["label"] for endpoint in scale["endpoints"]]
        assert labels[0] == f"report {REPORT_DAYS} days by day"
        assert f"reports page, {REPORT_DAYS} days by agent (HTML)" in labels
        for endpoint in scale["endpoints"]:
            assert endpoint["status"] == 200, endpoint
            assert endpoint["requests"] == SMOKE.inbox_requests
            assert endpoint["p95_ms"] > 0
            # The API within the target; the page draws two reports and the
            # satisfaction section (four queries, satisfaction.selectors).
            most = 19 if "(HTML)" in endpoint["label"] else REPORTS_QUERIES
            assert 1 <= endpoint["queries"] <= most, endpoint
    targets = [check["target"] for check in results["targets"]]
    assert f"report {REPORT_DAYS} days by label at 60 conversations: p95 <= 200 ms" in (
        targets
    )
    assert not any("(HTML)" in target for target in targets)
    results["machine"] = machine_describe()
    results["command"] = "smoke"
    assert "### Reports at scale" in markdown(results)

    # The records are there once, as the services would have kept them:
    # ten messages a conversation, a first response where an agent replied.
    dataset = inbox_dataset_ensure(60)
    business = dataset.bench.business
    days = ConversationDay.objects.filter(business=business)
    assert sum(d.messages_in + d.messages_out for d in days) == 600
    events = ConversationEvent.objects.filter(business=business)
    first = events.filter(kind="first_response").count()
    reports_ensure(dataset)
    assert events.filter(kind="first_response").count() == first
    assert 0 < first < 60  # (a conversation in four has no assignee)
    assert events.filter(kind="resolved").count() == 30

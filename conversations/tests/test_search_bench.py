"""The benchmark's search part in smoke mode (tiny data, the live server), so
it cannot rot: every endpoint answers 200 with its figures, the search data
is added once, the targets and the Markdown cover it."""

from dataclasses import replace

import pytest

from bench.data import SEARCH_RARE_WORD, inbox_dataset_ensure
from bench.report import machine_describe, markdown
from bench.suite import SMOKE, run_suite
from contacts.models import ContactEmail
from conversations.search import search

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_search_part_reports_every_figure(live_server, sandbox):
    results = run_suite(
        web_url=live_server.url,
        ceiling_url=live_server.url,
        sandbox=sandbox,
        config=replace(SMOKE, parts=("search",)),
    )

    assert [scale["conversations"] for scale in results["search"]] == [60, 30]
    for scale in results["search"]:
        labels = [endpoint["label"] for endpoint in scale["endpoints"]]
        assert labels[0] == f"search rare word ({SEARCH_RARE_WORD})"
        assert "customer panel (HTML)" in labels
        for endpoint in scale["endpoints"]:
            assert endpoint["status"] == 200, endpoint
            assert endpoint["requests"] == SMOKE.inbox_requests
            assert endpoint["p95_ms"] > 0
            assert 1 <= endpoint["queries"] <= 12
    targets = [check["target"] for check in results["targets"]]
    assert any(t.startswith("search common word (refund) at 60") for t in targets)
    assert any("customer panel (HTML) at 60" in t for t in targets)
    results["machine"] = machine_describe()
    results["command"] = "smoke"
    assert "### Search at scale" in markdown(results)

    # The search data is there once: an address per contact, and the words.
    dataset = inbox_dataset_ensure(60)
    business = dataset.bench.business
    assert ContactEmail.objects.filter(business=business).count() == 60
    inbox_dataset_ensure(60)
    assert ContactEmail.objects.filter(business=business).count() == 60
    assert search(business, "refund").conversations

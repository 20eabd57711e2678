"""Accessibility checks for browser tests: axe-core (bundled by the pinned dev
dependency `axe-playwright-python`, not served by PingBack) run in a
Playwright page.

    from pingback.axe import axe_violations

    assert axe_violations(page) == []

Each violation reads like
`color-contrast (serious): Elements must meet minimum color contrast ratio
thresholds — .preview: Fix any of the following: ...`, one per rule and
element, so a failing assert says what to fix and where.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _axe_script() -> str:
    from axe_playwright_python.base import AXE_SCRIPT

    return AXE_SCRIPT


def axe_results(page: Any, *, rules: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Run axe-core on the page's whole document (WCAG 2.x A and AA rules and
    axe's best practices) and return its raw violations (axe's JSON: `id`,
    `impact`, `help`, `nodes`...). `rules`: only these rule ids."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Through the DevTools protocol, which the page's CSP does not govern.
        page.evaluate(_axe_script())
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": list(rules)}
    results = page.evaluate("options => window.axe.run(document, options)", options)
    return results["violations"]


def axe_violations(
    page: Any, impacts: Iterable[str] = ("serious", "critical")
) -> list[str]:
    """The page's accessibility violations whose impact is one of `impacts`
    (axe's levels: minor, moderate, serious, critical), one readable line per
    rule and element: `<rule> (<impact>): <help> — <selector>: <what fails>`.
    Empty when the page passes."""
    wanted = set(impacts)
    lines = []
    for violation in axe_results(page):
        if violation.get("impact") not in wanted:
            continue
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node.get("target", []))
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']}"
                f" — {target}: {summary}"
            )
    return lines

"""Accessibility checks in the real browser (issue 33): axe-core (bundled by axe-playwright-python, nothing
downloaded) over the page as it stands, WCAG 2.0/2.1 A and AA rules. A serious or critical violation fails
unless tests/a11y_allowlist.json excuses it: each entry names the rule, the element it may be found on (a
piece of its HTML, and where given the part of the page it lies in), why the app cannot work around it and
the Streamlit issue behind it. Everything axe reported, excused or not, is counted by rule and impact into
tests/artifacts/a11y.json, so the note can say what was found."""
from __future__ import annotations

import json
from collections import Counter

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.conftest import ROOT
from tests.e2e.conftest import ARTIFACTS

RULES = {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}
FAILING = ("serious", "critical")
ALLOWED = json.loads((ROOT / "tests" / "a11y_allowlist.json").read_text())
_axe = Axe()
found: dict[str, list[dict]] = {}  # state → every violation axe reported there (rule, impact, nodes)


def violations(page: Page, state: str) -> list[str]:
    """The serious and critical violations on `page` not excused by the allow-list, one line each."""
    reported = _axe.run(page, options={"runOnly": RULES}).response["violations"]
    found[state] = [{"rule": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in reported]
    _write()
    return [f"{state}: {v['id']} ({v['impact']}) on {node['target']}: {node['html'][:160]}"
            for v in reported if v["impact"] in FAILING
            for node in v["nodes"] if not _excused(page, v["id"], node)]


def _excused(page: Page, rule: str, node: dict) -> bool:
    allowed = ALLOWED.get(rule)
    if not allowed or allowed["matches"] not in node["html"]:
        return False
    within = allowed.get("within")
    return not within or page.locator(f"{within} {node['target'][0]}").count() > 0


def _write() -> None:
    counts = Counter((v["rule"], v["impact"]) for vs in found.values() for v in vs)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "a11y.json").write_text(json.dumps({
        "states": sorted(found), "by_rule": [{"rule": r, "impact": i, "states": n} for (r, i), n in sorted(counts.items())],
        "allowed": {rule: entry["upstream"] for rule, entry in ALLOWED.items()}}, indent=1) + "\n")

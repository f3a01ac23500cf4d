"""Browser helpers: open a page and wait for Streamlit's script runs, assert no exception box, shoot.

This Streamlit never shows `stStatusWidget`; the app element's `data-test-script-state` attribute goes
`running` → `notRunning` around every script run. An init script counts those transitions in the page
(`window.__stRuns`), so an action can wait for the rerun *it* caused instead of a fixed pause.
"""
from __future__ import annotations

import re
from typing import Callable

from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, CONNECTED

SLOW = 180_000  # ms: training on a 2-core CPU
APP = "[data-testid='stApp']"
COUNT_RUNS = """
if (!window.__stCounting) {  // added once per open_page call: install once per document
  window.__stCounting = true;
  window.__stRuns = 0;
  new MutationObserver((changes) => {
    for (const c of changes) {
      if (c.oldValue === 'running' && c.target.getAttribute('data-test-script-state') === 'notRunning') window.__stRuns++;
    }
  }).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state'],
                        attributeOldValue: true});
}
"""


def script_runs(page: Page) -> int:
    return page.evaluate("() => window.__stRuns || 0")


def _idle_after(page: Page, count: int, timeout: int) -> None:
    page.wait_for_function(
        f"(n) => (window.__stRuns || 0) > n && document.querySelector(\"{APP}\")"
        ".getAttribute('data-test-script-state') === 'notRunning'", arg=count, timeout=timeout)


def after_rerun(page: Page, action: Callable[[], object], timeout: int = 60_000) -> None:
    """Do `action` (a click, a fill) and wait until the script run it started has finished."""
    before = script_runs(page)
    action()
    _idle_after(page, before, timeout)


def open_page(page: Page, url: str, timeout: int = 60_000) -> None:
    page.add_init_script(COUNT_RUNS)
    page.goto(url)
    page.wait_for_selector(CONNECTED, timeout=timeout)
    _idle_after(page, 0, timeout)  # the first script run of this page load is over


def settle(page: Page, timeout: int = 60_000) -> None:
    """No script run in progress (for moments when the test did not cause the rerun itself)."""
    page.wait_for_function(f"() => document.querySelector(\"{APP}\")"
                           ".getAttribute('data-test-script-state') === 'notRunning'", timeout=timeout)


def no_exception(page: Page) -> None:
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def click(page: Page, name: str) -> None:
    after_rerun(page, lambda: page.get_by_role("button", name=re.compile(name)).first.click())


def token(page: Page) -> str:
    """The draft/owner token the app writes into the URL (after its first script run)."""
    page.wait_for_url(re.compile(r"[?&]s="), timeout=30_000)
    match = re.search(r"[?&]s=([^&]+)", page.url)
    assert match, page.url
    return match.group(1)


def more_points(page: Page, than: int, index: int = 1, timeout: int = SLOW) -> int:
    """Wait until the index-th Plotly chart (the accuracy curves on the Train page) holds more than `than`
    points, and return how many: Plotly draws after the text around it, so a count read at once can be 0."""
    count = page.wait_for_function(
        "([i, n]) => { const p = document.querySelectorAll('.js-plotly-plot')[i];"
        " const k = p && p.data ? p.data.reduce((s, t) => s + (t.x ? t.x.length : 0), 0) : 0;"
        " return k > n ? k : false; }", arg=[index, than], timeout=timeout)
    return int(count.json_value())

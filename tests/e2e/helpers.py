"""Browser helpers: open a page and wait for Streamlit to settle, assert no exception box, shoot."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, CONNECTED

SLOW = 180_000  # ms: training on a 2-core CPU


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(CONNECTED, timeout=60_000)
    settle(page)


def settle(page: Page, timeout: int = 60_000) -> None:
    """Wait until the script run is over: Streamlit shows its status widget only while running."""
    page.wait_for_timeout(400)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=timeout)


def no_exception(page: Page) -> None:
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def nav(page: Page, label: str) -> None:
    page.locator("[data-testid='stSidebarNav']").get_by_text(label, exact=False).first.click()
    page.wait_for_selector(CONNECTED)
    settle(page)


def click(page: Page, name: str) -> None:
    page.get_by_role("button", name=re.compile(name)).first.click()
    settle(page)


def token(page: Page) -> str:
    """The draft/owner token the app writes into the URL (after its first script run)."""
    page.wait_for_url(re.compile(r"[?&]s="), timeout=30_000)
    match = re.search(r"[?&]s=([^&]+)", page.url)
    assert match, page.url
    return match.group(1)


def plotted_points(page: Page, index: int = 1) -> int:
    """Points in the index-th Plotly chart on the page (the accuracy curves on the Train page)."""
    return page.evaluate("(i) => { const p = document.querySelectorAll('.js-plotly-plot')[i];"
                         " return p && p.data ? p.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : 0; }", index)

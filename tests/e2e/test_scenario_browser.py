"""The Scenario grid in a real browser: a click on a quadrant and the radio are one state, and the page
settles after the click (it once flipped between S1 and S2 several times a second, for ever)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.runs import drafts
from tests.e2e.helpers import after_rerun, click, no_exception, open_page, script_runs, token

pytestmark = pytest.mark.slow
QUIET_MS = 4_000  # a rerun loop runs several scripts a second: four quiet seconds prove it stopped


def quadrant(page, code: str):
    """The invisible marker at the centre of a quadrant (trace order S1, S2, S3, S4)."""
    return page.locator(".js-plotly-plot .scatterlayer .trace").first.locator("path.point").nth(int(code[1]) - 1)


def runs_while_idle(page) -> int:
    before = script_runs(page)
    page.wait_for_timeout(QUIET_MS)
    return script_runs(page) - before


def test_a_click_on_the_grid_selects_that_scenario_and_the_page_settles(server, page, store_env):
    open_page(page, f"{server}/scenario")
    me = token(page)
    after_rerun(page, lambda: quadrant(page, "S2").click(force=True))
    assert runs_while_idle(page) == 0, "the page kept rerunning after one click on the grid"
    expect(page.get_by_role("radio", name="S2 · Fine-tune the top")).to_be_checked()
    assert drafts.load(me)[0].scenario == "S2"
    no_exception(page)

    after_rerun(page, lambda: page.get_by_text("S4 · Fine-tune everything gently").click())  # the radio, after the grid
    assert runs_while_idle(page) == 0
    assert drafts.load(me)[0].scenario == "S4"

    after_rerun(page, lambda: quadrant(page, "S2").click(force=True))  # the grid again: S2 is still selected there
    assert runs_while_idle(page) == 0
    assert drafts.load(me)[0].scenario == "S2"
    click(page, "Use this scenario")
    config, state = drafts.load(me)
    assert config.scenario == "S2" and state.get("scenario")
    no_exception(page)

"""A first visit in a real browser: the bare URL offers back the workspace this browser last used (and
only this browser's), a new dataset's name box empties after Create, and the teacher key leaves the
screen when the Join tab goes up on the projector."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from core.runs import drafts
from tests.e2e.helpers import after_rerun, click, no_exception, open_page, token
from ui import resume

pytestmark = pytest.mark.slow
VIEWPORT = {"width": 1400, "height": 1000}
CONTINUE = "Continue where you left off"


def remembered(context, timeout: float = 15) -> str | None:
    """The workspace token this browser keeps (the page sets the cookie once it has drawn)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c["value"] for c in context.cookies() if c["name"] == resume.COOKIE]
        if found:
            return found[0]
        time.sleep(0.2)
    return None


def test_a_bare_url_offers_this_browsers_own_workspace_and_never_another_ones(server, browser, store_env):
    mine_context, other_context = (browser.new_context(viewport=VIEWPORT) for _ in range(2))
    page, other = mine_context.new_page(), other_context.new_page()
    open_page(page, server)
    mine = token(page)
    open_page(page, f"{server}/scenario?s={mine}")
    after_rerun(page, lambda: page.get_by_text("S2 · Fine-tune the top").click())  # something to come back to
    assert drafts.load(mine)[0].scenario == "S2" and remembered(mine_context) == mine

    open_page(other, server)  # another browser, the same bare URL: a workspace of its own, nothing offered
    theirs = token(other)
    assert theirs != mine and mine not in other.content()
    expect(other.get_by_role("button", name=CONTINUE)).to_have_count(0)
    assert remembered(other_context, timeout=3) in (None, theirs)

    open_page(page, server)  # this browser again: offered back, not taken without asking
    expect(page.get_by_role("button", name=CONTINUE)).to_be_visible()
    assert token(page) != mine
    after_rerun(page, lambda: page.get_by_role("button", name=CONTINUE).click())
    page.wait_for_url(re.compile(rf"[?&]s={re.escape(mine)}"))
    expect(page.get_by_role("button", name=CONTINUE)).to_have_count(0)
    no_exception(page)

    open_page(page, server)  # a fresh start: a new workspace; the remembered one stays until the new one holds work
    after_rerun(page, lambda: page.get_by_role("button", name="Start fresh").click())
    expect(page.get_by_role("button", name=CONTINUE)).to_have_count(0)
    assert token(page) != mine and remembered(mine_context) == mine
    for context in (mine_context, other_context):
        context.close()


def test_the_new_dataset_name_box_empties_after_create(server, page, store_env):
    open_page(page, f"{server}/data")
    me = token(page)
    box = page.get_by_label("New dataset name")
    box.fill("plants")
    click(page, "^Create$")
    expect(page.get_by_text("Dataset: plants")).to_be_visible()
    expect(box).to_have_value("")
    expect(page.locator("[data-testid='stAlertContentError']")).to_have_count(0)  # an empty dataset: no red
    assert drafts.load(me)[0].data.dataset == "plants"
    no_exception(page)


def test_the_teacher_key_leaves_the_screen_when_the_join_tab_opens(server, page, store_env):
    open_page(page, f"{server}/teacher")
    page.get_by_label("Class name").fill("Biology 2B")
    click(page, "^Create$")
    key_box = page.locator("[data-testid='stMain'] [data-testid='stCode']").first
    expect(key_box).to_be_visible()
    key = key_box.inner_text().strip()
    after_rerun(page, lambda: page.get_by_role("tab", name="Join").click())
    expect(page.get_by_text("Students scan the code")).to_be_visible()
    assert key not in page.inner_text("body")
    expect(page.get_by_text("Show my teacher key")).to_be_visible()
    no_exception(page)

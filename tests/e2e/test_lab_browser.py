"""The Layers page's looks inside the network in a real browser: the stage viewer, the probe and its
freeze recommendation, the learning-rate finder, and one click that puts the suggestion in the draft."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.config import AugmentSpec, DataSpec, RunConfig, TrainSpec
from core.data import samples
from core.runs import drafts
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import SLOW, after_rerun, choose, click, no_exception, open_page, shoot, token

pytestmark = pytest.mark.slow


def test_stage_viewer_probe_and_lr_finder(server, page, store_env):
    open_page(page, server)
    me = token(page)
    samples.materialize("mnist", "lab-mnist", per_class=8, owner=me)  # 28×28: crisper maps than 8×8 digits
    drafts.save(me, RunConfig(data=DataSpec(dataset="lab-mnist"), augment=AugmentSpec(preset="none"),
                              train=TrainSpec(head_epochs=3)), {})

    open_page(page, f"{server}/layers?s={me}", timeout=SLOW)
    expect(page.get_by_text("What each stage sees")).to_be_visible()
    expect(page.get_by_text("stem · 112×112 · 32 channels")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("stage7 · 7×7 · 1,280 channels")).to_be_visible()
    no_exception(page)
    image_box = page.locator("[data-testid='stSelectbox']").filter(has_text="Image to look at")
    choose(page, image_box, "a sample photo (a cat)", timeout=SLOW)
    expect(page.get_by_text("sample photo", exact=True)).to_be_visible()  # the picture's caption
    no_exception(page)
    choose(page, image_box, "0 · mnist/0/00001.png", timeout=SLOW)
    expect(page.get_by_text("class 0", exact=True)).to_be_visible()
    after_rerun(page, lambda: page.get_by_role("button", name="Measure how generic each stage is").click(), timeout=SLOW)
    expect(page.get_by_text("Freeze recommendation")).to_be_visible(timeout=SLOW)
    click(page, "Use this freeze plan")
    no_exception(page)
    plan = drafts.load(me)[0].freeze
    assert plan.mode in ("first_k", "all_but_head")
    expect(page.get_by_role("button", name="Use this freeze plan")).to_be_disabled()  # the draft has it now

    after_rerun(page, lambda: page.get_by_role("button", name="Find a learning rate").click(), timeout=SLOW)
    expect(page.get_by_text("by the steepest rule").or_(page.get_by_text("by the valley rule"))
           .or_(page.get_by_text("by the minimum rule")).first).to_be_visible(timeout=SLOW)
    click(page, "Use this learning rate")
    no_exception(page)
    head_lr = drafts.load(me)[0].train.head_lr
    assert head_lr != TrainSpec().head_lr
    expect(page.get_by_role("button", name="Use this learning rate")).to_be_disabled()  # the draft has it now
    shoot(page, "lab-layers")
    _shoot_block(page, "Image to look at", "stage-viewer")  # a good one is copied to docs/ by hand
    _shoot_block(page, "Find a learning rate", "lr-finder")
    assert drafts.load(me)[0].train.head_lr == head_lr  # the page's own widgets kept both
    assert drafts.load(me)[0].freeze == plan



def test_feature_map_renders_and_a_click_lists_the_images_neighbours(server, page, store_env):
    """The Data page's feature map (issue 22): drawn on request, a point clicked shows that image and its
    nearest neighbours, and no exception box anywhere."""
    open_page(page, server)
    me = token(page)
    samples.materialize("mnist", "map-mnist", per_class=6, owner=me)
    drafts.save(me, RunConfig(data=DataSpec(dataset="map-mnist")), {})
    open_page(page, f"{server}/data?s={me}", timeout=SLOW)
    after_rerun(page, lambda: page.get_by_role("button", name="Draw the feature map").click(), timeout=SLOW)
    chart = page.locator(".js-plotly-plot").filter(has_text="each point an image")
    point = chart.locator(".scatterlayer .trace").first.locator("path.point").first
    expect(point).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("how well these features separate your classes")).to_be_visible()
    no_exception(page)
    after_rerun(page, lambda: point.click(force=True), timeout=SLOW)
    expect(page.get_by_text("and its nearest neighbours")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text(re.compile(r"· distance \d")).first).to_be_visible()  # a neighbour's caption
    no_exception(page)
    shoot(page, "feature-map")


def _shoot_block(page, text: str, name: str) -> None:
    """A screenshot of the outermost block holding `text` but not the whole page (whose blocks also
    hold the "Training phases" section): one bordered section."""
    block = page.locator("[data-testid='stVerticalBlock']").filter(has_text=text).filter(
        has_not_text="Training phases").first
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2600})  # the app scrolls inside its own
    try:  # container: a section taller than the window would come out cut
        block.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    finally:
        page.set_viewport_size(size)

"""The learning-curve lab on the Train page and the cleaner on Evaluate, in a real browser with the
real worker: click through both, and never an exception box."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.config import AugmentSpec, DataSpec, RunConfig, TrainSpec
from core.data import cleaner, samples, store as data_store
from core.runs import drafts, store
from tests.e2e.helpers import SLOW, after_rerun, choose, click, no_exception, open_page, shoot

pytestmark = pytest.mark.slow


def test_learning_curve_lab_then_the_cleaner(server, page, store_env):
    config = RunConfig(data=DataSpec(dataset="lab-digits"), augment=AugmentSpec(preset="none"),
                       train=TrainSpec(head_epochs=2, head_lr=3e-3))
    me = drafts.new(config)
    samples.materialize("digits", "lab-digits", per_class=10, owner=me)

    open_page(page, f"{server}/train?s={me}")
    # opened directly at a page URL, the sidebar is the app's own navigation only (a folder named pages/
    # made Streamlit add its automatic list: "streamlit app", "backbone", …)
    expect(page.get_by_text("streamlit app", exact=True)).to_have_count(0)
    page.get_by_text("Learning-curve lab").first.click()  # an expander opens in the browser: no rerun
    expect(page.get_by_role("button", name="Run the learning-curve lab")).to_be_visible()
    click(page, "Run the learning-curve lab")
    no_exception(page)
    expect(page.get_by_text("Pretraining's lead is")).to_be_visible(timeout=SLOW)  # every size, both kinds, done
    chart = page.locator(".js-plotly-plot").filter(has_text="Test accuracy against training images")
    expect(chart).to_be_visible()
    expect(page.get_by_text(re.compile(r"Pretrained against from scratch, over the (same )?\d+ epochs?.*: "
                                       "(higher|lower|same) start"))).to_be_visible()
    no_exception(page)
    shoot(page, "13-learning-curve-lab")

    runs = [r for r in store.list_runs(me) if r["role"].endswith(":pretrained")]
    open_page(page, f"{server}/evaluate?s={me}&run={runs[0]['id']}")
    after_rerun(page, lambda: page.get_by_text("Show the highest-loss training and validation images").click())
    relabel = page.get_by_role("button", name="Relabel").first
    expect(relabel).to_be_visible(timeout=SLOW)
    expect(relabel).to_be_disabled()  # the class box starts at the image's own label: nothing to move yet
    label = re.match(r"labelled (\S+) ·", page.get_by_text(re.compile(r"^labelled \S+ · the model says")).first
                     .inner_text()).group(1)
    other = next(c for c in data_store.class_names("lab-digits", me) if c != label)
    choose(page, page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text("Class", exact=True)).first,
           other)
    expect(relabel).to_be_enabled()  # a person chose another class: now it can move the image there
    click(page, "Relabel")
    expect(page.get_by_text(re.compile(r"1 change\(s\) to this dataset"))).to_be_visible()
    assert [(h["action"], h["new_class"]) for h in cleaner.history("lab-digits", me)] == [("relabel", other)]
    click(page, "Undo the latest")
    no_exception(page)
    assert cleaner.history("lab-digits", me)[0]["undone"]
    shoot(page, "14-cleaner")

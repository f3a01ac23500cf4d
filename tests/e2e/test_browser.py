"""What a person sees in a real browser: the full walk, a refresh mid-training, bad uploads,
two students on one server, and never a Streamlit exception box."""
from __future__ import annotations

import json
import os
import re
import time

import pytest
from playwright.sync_api import expect

from core.config import AugmentSpec, DataSpec, RunConfig, TrainSpec
from core.data import samples
from core.recipes import demo
from core.runs import drafts, queue as jobs
from tests import corpus
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import (
    FOCUS_SHOWN,
    SLOW,
    after_rerun,
    click,
    more_points,
    no_exception,
    open_page,
    shoot,
    tab_to,
    token,
)
from ui import words

pytestmark = pytest.mark.slow


def quick_config(dataset: str, epochs: int = 3) -> RunConfig:
    return RunConfig(data=DataSpec(dataset=dataset), augment=AugmentSpec(preset="none"),
                     train=TrainSpec(head_epochs=epochs, head_lr=3e-3))


def test_full_walk_from_sample_to_prediction(server, page, tmp_path, store_env):
    open_page(page, server)
    no_exception(page)
    shoot(page, "01-home")
    me = token(page)

    open_page(page, f"{server}/data?s={me}")
    after_rerun(page, lambda: page.get_by_role("button", name="Load sample").click(), timeout=SLOW)
    expect(page.get_by_text("Dataset: mnist-30")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Health check")).to_be_visible(timeout=SLOW)
    no_exception(page)
    shoot(page, "02-data")
    click(page, "Use this data")

    open_page(page, f"{server}/scenario?s={me}")
    click(page, "Use this scenario")
    shoot(page, "03-scenario")
    open_page(page, f"{server}/backbone?s={me}")
    expect(page.get_by_text("efficientnet_lite0").first).to_be_visible()
    click(page, "Use this backbone")
    no_exception(page)
    shoot(page, "04-backbone")
    open_page(page, f"{server}/layers?s={me}")
    expect(page.get_by_text("Freeze the whole backbone")).to_be_visible()
    head_epochs = page.get_by_label("Head epochs")
    head_epochs.fill("2")
    after_rerun(page, lambda: head_epochs.press("Enter"))
    # live augmentation: the backbone runs every epoch, slow enough to watch the chart grow
    after_rerun(page, lambda: page.locator("[data-testid='stButtonGroup']").get_by_text("light", exact=True).click())
    click(page, "These layers are ready")
    no_exception(page)
    shoot(page, "05-layers")
    config = drafts.load(me)[0]
    assert (config.backbone, config.freeze.mode, config.data.dataset) == ("efficientnet_lite0", "all_but_head", "mnist-30")
    assert (config.train.head_epochs, config.augment.preset) == (2, "light")

    open_page(page, f"{server}/train?s={me}")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Epoch 1 of 2")).to_be_visible(timeout=SLOW)
    first = more_points(page, than=0)
    shoot(page, "06-train-live")
    expect(page.get_by_text("Epoch 2 of 2")).to_be_visible(timeout=SLOW)
    more_points(page, than=first)  # the live chart gains points while training
    expect(page.get_by_text("Done: validation accuracy")).to_be_visible(timeout=SLOW)
    no_exception(page)
    shoot(page, "07-train-done")

    after_rerun(page, lambda: page.get_by_text("Evaluate this run").click())
    expect(page.get_by_text("Confusion matrix")).to_be_visible(timeout=60_000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    no_exception(page)
    shoot(page, "08-evaluate")

    open_page(page, f"{server}/predict?s={me}")
    picture = tmp_path / "digit.png"
    picture.write_bytes(corpus.png(3, (64, 64)))
    after_rerun(page, lambda: page.locator("input[type='file']:not([webkitdirectory])").first.set_input_files(str(picture)))
    expect(page.get_by_text(re.compile(r"digit\.png → "))).to_be_visible(timeout=60_000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()  # the top-k bars
    no_exception(page)
    shoot(page, "09-predict")


def test_refresh_during_training_reattaches_to_the_same_run(server, page, store_env):
    me = drafts.new(quick_config("refresh-digits", epochs=12))
    samples.materialize("digits", "refresh-digits", per_class=20, owner=me)
    open_page(page, f"{server}/train?s={me}")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"Epoch [1-9]\d* of 12"))).to_be_visible(timeout=SLOW)
    run_id = re.search(r"[?&]run=([0-9a-f]+)", page.url).group(1)
    page.reload()
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    assert f"run={run_id}" in page.url
    # the run as the page names it (when it was submitted, never its id)
    expect(page.get_by_text(f"Run of {words.started(jobs.runs(me)[0]['created'])}")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Done: validation accuracy")).to_be_visible(timeout=SLOW)
    assert [r["id"] for r in jobs.runs(me)] == [run_id]  # reattached, not resubmitted
    no_exception(page)


def test_bad_uploads_are_named_in_the_rejected_table(server, page, tmp_path, store_env):
    from core import data

    me = drafts.new(RunConfig(data=DataSpec(dataset="uploads-e2e")))
    data.create("uploads-e2e", me)
    data.add_class("uploads-e2e", "cats", me)
    files = {"good.jpg": corpus.jpeg(1), "notes.jpg": b"just text", "empty.png": b"",
             "cut.jpg": corpus.truncated_jpeg()}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    folder = tmp_path / "pets"
    for name, content in {"dogs/ok.png": corpus.png(5), "dogs/broken.gif": b"GIF89a nope"}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    open_page(page, f"{server}/data?s={me}")
    # the Files tab's uploader: the Folder tab's (webkitdirectory) came first in the page once, and takes folders only
    page.locator("input[type='file']:not([webkitdirectory])").first.set_input_files([str(tmp_path / n) for n in files])
    table = page.locator("[data-testid='stTable']")
    expect(table).to_contain_text("notes.jpg", timeout=60_000)
    for name, reason in (("notes.jpg", "not an image"), ("empty.png", "empty file"), ("cut.jpg", "truncated")):
        expect(table).to_contain_text(name)
        expect(table).to_contain_text(reason)
    page.get_by_role("tab", name="Folder").click()
    page.locator("input[webkitdirectory]").set_input_files(str(folder))
    expect(table).to_contain_text("broken.gif", timeout=60_000)
    assert data.class_counts("uploads-e2e", me) == {"cats": 1, "dogs": 1}
    no_exception(page)
    shoot(page, "10-bad-uploads")


def test_two_students_see_only_their_own_runs(server, browser, store_env):
    students = [drafts.new(quick_config("class-digits")) for _ in range(2)]
    for me in students:  # the same name in two workspaces: two separate datasets
        samples.materialize("digits", "class-digits", per_class=10, owner=me)
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in students]
    pages = [c.new_page() for c in contexts]
    for page, me in zip(pages, students):
        open_page(page, f"{server}/train?s={me}")
        page.get_by_role("button", name="Start training").click()
    for page in pages:
        expect(page.get_by_text("Done: validation accuracy")).to_be_visible(timeout=SLOW)
        no_exception(page)
    own = [jobs.runs(me) for me in students]
    assert all(len(runs) == 1 and runs[0]["status"] == "succeeded" for runs in own)
    first, second = (runs[0] for runs in own)
    assert first["started"] >= second["finished"] or second["started"] >= first["finished"]  # one after the other
    for page, me, mine in zip(pages, students, own):
        open_page(page, f"{server}/runs?s={me}")
        table = page.locator("[data-testid='stTable']")
        # runs are named by when they were submitted, never by id: one row, this person's own run
        expect(table.locator("tbody tr")).to_have_count(1)
        expect(table).to_contain_text(words.started(mine[0]["created"]))
    for context in contexts:
        context.close()


def test_demo_trains_with_a_baseline_and_stays_until_the_person_moves_on(server, page):
    """The click → trained model time measured here (under whatever load the suite puts on the box) is the
    one the README and the home page promise: tests/artifacts/demo-timing.json keeps it with the load."""
    open_page(page, server)
    tab_to(page, lambda el: el.get("tag") == "button" and el.get("text") == "Run the demo")  # the keyboard alone
    assert page.evaluate(FOCUS_SHOWN) is True, page.evaluate(FOCUS_SHOWN)  # (issue 33): Tab, then Enter
    started = time.monotonic()
    page.keyboard.press("Enter")
    # progress from the click: the status and its bar are drawn before the preparation's slow steps
    # (its time is kept below, not asserted: tools/click_latency.py measures it as demo_first_sign_s)
    expect(page.get_by_text("Preparing the demo…")).to_be_visible(timeout=SLOW)
    first_sign = time.monotonic() - started
    expect(page.get_by_text(re.compile(r"Run of (today|\d{1,2} \w{3}) \d\d:\d\d"))).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Done: validation accuracy")).to_be_visible(timeout=SLOW)  # the transfer model
    model_ready = time.monotonic() - started
    expect(page.get_by_text(re.compile("Your transfer model is ready|The demo is complete"))).to_be_visible()
    expect(page.get_by_text(re.compile("The from scratch baseline")).first).to_be_visible()  # said, not silent
    page.wait_for_function("name => { const p = document.querySelectorAll('.js-plotly-plot')[1];"
                           " return p && p.data && p.data.some(t => t.name && t.name.startsWith(name)); }",
                           arg=words.role("scratch"), timeout=SLOW)  # the from-scratch curve joins the same axes
    shoot(page, "11-demo-train-live")
    expect(page.get_by_text("The demo is complete")).to_be_visible(timeout=SLOW)
    baseline_done = time.monotonic() - started
    page.wait_for_timeout(3000)  # the page used to switch to Evaluate on its own about here
    assert "/train" in page.url and page.get_by_text("Confusion matrix").count() == 0
    no_exception(page)
    tab_to(page, lambda el: el.get("tag") == "a" and "Evaluate this run" in el.get("text"))  # after its icon
    after_rerun(page, lambda: page.keyboard.press("Enter"))  # the person's choice, by keyboard too
    expect(page.get_by_text("Confusion matrix")).to_be_visible(timeout=SLOW)
    no_exception(page)
    shoot(page, "12-demo-evaluate")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "demo-timing.json").write_text(json.dumps(
        {"seconds_click_to_progress": round(first_sign, 1), "seconds_click_to_trained_model": round(model_ready, 1), "seconds_click_to_baseline_done": round(baseline_done, 1),
         "baseline_budget_seconds": demo.SCRATCH_SECONDS, "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
         "cpu_cores": os.cpu_count(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1))


def test_another_persons_datasets_and_runs_stay_theirs(server, browser, store_env):
    from core.execute import slot as worker
    from core.runs import leases
    from tests.training import probe

    alice, bob = drafts.new(RunConfig(data=DataSpec(dataset="alices-digits"))), drafts.new()
    samples.materialize("digits", "alices-digits", per_class=6, owner=alice)
    submitted = jobs.submit(probe("alices-digits", epochs=1), alice, hold=True)
    worker.process(leases.claim_specific(submitted["job_id"]))
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    page_a, page_b = (c.new_page() for c in contexts)
    open_page(page_a, f"{server}/data?s={alice}")
    open_page(page_b, f"{server}/data?s={bob}")
    expect(page_a.get_by_text("Dataset: alices-digits")).to_be_visible(timeout=60_000)
    expect(page_b.get_by_text("Create a dataset or load a sample")).to_be_visible()
    assert "alices-digits" not in page_b.evaluate("document.body.innerText")  # not listed, not named
    open_page(page_b, f"{server}/evaluate?s={bob}&run={submitted['run_id']}")
    expect(page_b.get_by_text(f"Run {submitted['run_id']} is not yours")).to_be_visible()
    assert "Confusion matrix" not in page_b.evaluate("document.body.innerText")
    no_exception(page_b)
    shoot(page_b, "13-not-yours")
    for context in contexts:
        context.close()

"""Everyone in the room (issue 33), in the real browser: the states the crawler does not open on arrival have
no serious or critical accessibility violation (axe-core, tests/e2e/a11y.py: training under way, Evaluate
with a confusion cell opened, Predict with a heat map, the share page, the teacher's projector view, the
report); the work can be done with the keyboard alone; and a phone and a Chromebook show every page
without scrolling sideways (screenshots of both sizes in tests/artifacts/)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.classroom import classes, experiments
from core.data import samples
from core.execute import slot
from core.runs import drafts, leases, queue, shares
from core.serving import report
from tests.e2e import a11y
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import FOCUS_SHOWN, SLOW, after_rerun, choose, open_page, settle, tab_to
from tests.e2e.test_crawler import DRAW_MS, DRAWN, sign_in, trained_workspace
from tests.training import finetune

pytestmark = pytest.mark.slow
SIZES = {"phone": (390, 844), "chromebook": (1366, 768)}
# The page and Streamlit's own scrolling frames (the page scrolls inside them, not in the document): how far
# the widest scrolls sideways. A table scrolling inside its own frame is a widget doing its job, not counted.
SIDEWAYS = """() => Math.max(...[document.documentElement,
  ...document.querySelectorAll("[data-testid='stAppViewContainer'], [data-testid='stMain'], section.main")]
  .map(e => e.scrollWidth - e.clientWidth))"""


@pytest.fixture(scope="module")
def workspace(e2e_home):
    """One trained workspace (a dataset, every step done, a finished run, a class) for the tests below, made
    once: none of them changes what another reads (the keyboard's own run only adds a finished run)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRANSFERLAB_HOME", str(e2e_home))
        return trained_workspace()


def test_each_state_that_matters_has_no_serious_accessibility_violation(server, browser, store_env, workspace,
                                                                         tmp_path):
    token, key = workspace
    run_id = drafts.load(token)[1]["run"]
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    found = []

    # Training under way, held there: this process claims the job (the run is running, its page shows its
    # progress and watches it) and trains it only after the check. A run trained beside the check could end
    # before the page showed it running, on a fast machine.
    during = queue.submit(finetune("crawl-digits", epochs=2), token, hold=True)
    job = leases.claim_specific(during["job_id"])
    open_page(page, f"{server}/train?s={token}&run={during['run_id']}", timeout=SLOW)
    expect(page.get_by_text("Epoch 0 of 2")).to_be_visible(timeout=SLOW)
    found += a11y.violations(page, "train/during training")
    slot.process(job)  # then it ends, as every run here does

    open_page(page, f"{server}/evaluate?s={token}&run={run_id}", timeout=SLOW)
    choose(page, page.locator("[data-testid='stSelectbox']").filter(has_text="True class"), "1")
    expect(page.get_by_text(re.compile(r"true 1, predicted any")).first).to_be_visible(timeout=SLOW)
    found += a11y.violations(page, "evaluate/a confusion cell opened")

    open_page(page, f"{server}/predict?s={token}&run={run_id}", timeout=SLOW)
    page.get_by_role("tab", name="From the test split").click()
    page.locator("[data-testid='stMultiSelect']").filter(has_text="Test images").click()
    after_rerun(page, lambda: page.get_by_role("option").first.click())
    page.keyboard.press("Escape")
    expect(page.get_by_text(re.compile(r"^Grad-CAM heat map for ")).first).to_be_visible(timeout=SLOW)
    found += a11y.violations(page, "predict/a heat map")

    link = shares.create(run_id, token, base=server)["url"]
    open_page(page, link, timeout=SLOW)
    found += a11y.violations(page, "share page")

    samples.materialize("digits", "a11y-class", per_class=4, owner=key)
    experiments.create(classes.of_key(key)[0]["id"], key, "augment", "none,light", "a11y-class", epochs=1)
    open_page(page, f"{server}/teacher?s={token}", timeout=SLOW)
    sign_in(page, key)
    after_rerun(page, lambda: page.get_by_role("tab", name="Experiment").click())
    found += a11y.violations(page, "teacher/experiment tab")
    after_rerun(page, lambda: page.get_by_role("button", name="Projector view").click())
    settle(page)
    found += a11y.violations(page, "teacher/projector view")

    built = report.build(queue.run(run_id, token), [], queue.lists(run_id, token), tmp_path / "report.html")
    page.goto(f"file://{built['path']}")
    found += a11y.violations(page, "report HTML")
    assert not found, "\n".join(found)


def test_predict_and_evaluate_with_the_keyboard_alone(server, browser, store_env, workspace):
    """Tab, Enter, Space and arrows only: a test image predicted with its heat map, a confusion cell opened.
    Focus stays on a visible, marked control through each rerun (never dropped to the page)."""
    token, _ = workspace
    run_id = drafts.load(token)[1]["run"]
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    open_page(page, f"{server}/predict?s={token}&run={run_id}", timeout=SLOW)
    tab_to(page, lambda el: el.get("role") == "tab" and el.get("text") == "Upload")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # Upload → Camera → From the test split
    page.keyboard.press("Enter")
    expect(page.get_by_role("tab", name="From the test split")).to_have_attribute("aria-selected", "true")
    tab_to(page, lambda el: el.get("tag") == "input" and "Test images" in el.get("label", ""))
    page.keyboard.press("ArrowDown")  # opens the list; typing a name narrows it to that one, as a person would
    first = page.get_by_role("option").first.inner_text()
    page.keyboard.type(first)
    expect(page.get_by_role("option")).to_have_count(1)
    after_rerun(page, lambda: page.keyboard.press("Enter"))
    expect(page.get_by_text(re.compile(r"^Grad-CAM heat map for ")).first).to_be_visible(timeout=SLOW)
    assert page.evaluate(FOCUS_SHOWN) is True, page.evaluate(FOCUS_SHOWN)  # after the prediction's rerun

    open_page(page, f"{server}/evaluate?s={token}&run={run_id}", timeout=SLOW)
    tab_to(page, lambda el: el.get("tag") == "input" and el.get("label", "").startswith("True class"))
    page.keyboard.press("ArrowDown")
    page.keyboard.type("1")
    after_rerun(page, lambda: page.keyboard.press("Enter"))
    expect(page.get_by_text(re.compile(r"true 1, predicted any")).first).to_be_visible(timeout=SLOW)
    assert page.evaluate(FOCUS_SHOWN) is True, page.evaluate(FOCUS_SHOWN)  # after opening the cell


def test_train_a_run_of_ones_own_with_the_keyboard_alone(server, browser, store_env, workspace):
    token, _ = workspace
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    open_page(page, f"{server}/train?s={token}", timeout=SLOW)
    tab_to(page, lambda el: el.get("tag") == "button" and el.get("text") == "Start training")
    assert page.evaluate(FOCUS_SHOWN) is True, page.evaluate(FOCUS_SHOWN)  # the focused button is marked
    page.keyboard.press("Enter")
    expect(page.get_by_text("Done: validation accuracy")).to_be_visible(timeout=SLOW)


@pytest.mark.parametrize("size", list(SIZES))
def test_a_phone_and_a_chromebook_show_every_page_without_scrolling_sideways(server, browser, store_env, workspace,
                                                                             size):
    width, height = SIZES[size]
    token, _ = workspace
    run_id = drafts.load(token)[1]["run"]
    made = classes.create(f"Small {size}")
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=size == "phone",
                                  has_touch=size == "phone", permissions=["camera"])
    page = context.new_page()
    wide = []
    for name, path in (("join", f"/?join={made['join_code']}"), ("train", f"/train?s={token}&run={run_id}"),
                       ("evaluate", f"/evaluate?s={token}&run={run_id}"), ("predict", f"/predict?s={token}&run={run_id}"),
                       ("data", f"/data?s={token}"), ("share", None)):
        url = shares.create(run_id, token, base=server)["url"] if path is None else server + path
        open_page(page, url, timeout=SLOW)
        settle(page)
        page.wait_for_function(DRAWN, timeout=DRAW_MS)  # no skeleton left: the width is the page's own
        page.screenshot(path=str(ARTIFACTS / f"small-{size}-{name}.png"), full_page=True)
        if page.evaluate(SIDEWAYS) > 1:
            wide.append(f"{name}: {page.evaluate(SIDEWAYS)} px wider than the screen")
        if name == "data":  # a class's camera pictures: a snapshot taken and stored, on this screen
            wide += snapshot(page, size)
    context.close()
    assert not wide, wide


def snapshot(page, size: str) -> list[str]:
    """The Data page's Camera tab: the browser's (fake) camera takes a picture into the first class."""
    page.get_by_role("tab", name="Camera").click()
    after_rerun(page, lambda: page.get_by_role("button", name="Take Photo").click(timeout=SLOW))
    expect(page.get_by_text("the snapshot: stored 1 image(s)")).to_be_visible(timeout=SLOW)
    page.screenshot(path=str(ARTIFACTS / f"small-{size}-camera.png"), full_page=True)
    sideways = page.evaluate(SIDEWAYS)
    return [f"camera: {sideways} px wider than the screen"] if sideways > 1 else []

"""The crawler: every page, in a fresh workspace and in one with a trained run, and on each page every
button, radio option, tab, toggle, pill, expander and selectable chart point it offers, clicked one by one.
After each click: no exception box, no warning from Streamlit in the server's log, the page settles (its
whole-page script runs stop: a rerun loop like the Scenario grid's once was fails here), and the visible
text holds no raw config identifier and no number with more than three decimals. Each page, as it opens,
has no serious or critical accessibility violation (axe-core: tests/e2e/a11y.py).

Not clicked: links (they leave the page), selectboxes, sliders and text fields (values, not actions), the
sidebar (navigation, the step list, the workspace link), and the controls in SKIP, each with its reason.
A control is clicked once per page: its twins (the same kind and label but for a number, "Move to 3" under
another image) and, in the fresh workspace, the controls the trained one's crawl of that page clicked are
counted, not clicked again; each fresh page is still opened and checked.
The wording check reads the whole visible page, sidebar included; nothing in it is excluded (no code block
on these pages shows a command line).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, TimeoutError as PlaywrightTimeout

from core.classroom import classes
from core.data import samples
from core.execute import slot
from core.runs import drafts, leases, queue
from tests.e2e import a11y
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import SLOW, after_rerun, open_page, reruns_asked, settle, whole_runs_quiet, whole_runs_started
from tests.training import probe
from tests.wording import raw_words

pytestmark = pytest.mark.slow
PAGES = ("", "scenario", "backbone", "data", "layers", "train", "evaluate", "predict", "export", "runs", "teacher")
QUIET_S = 0.5  # a rerun loop starts its next run within milliseconds of the last one's end
START_S = 0.5  # a chart point's click that reruns the script has asked for the run by then (Plotly's timers)
SETTLE_S = 30.0  # one click's own runs (a heavy page on a busy 2-core box) end well within this
# Text that is not words: Material icons' ligature names ("account_tree" draws an icon) and code shown as code
# (a run's id to type into the CLI), as tests/wording.py skips text in backticks.
NOT_WORDS = """() => [...document.querySelectorAll(
    "[data-testid='stIconMaterial'], [role='img'][aria-label$=' icon'], code, pre")].map(e => e.innerText)"""
STREAMLIT_WARNING = re.compile(r"^.*\b(WARNING|ERROR)\s+streamlit\S*:.*$|^Traceback.*$", re.M)
SKIP = {  # label (a regex, matched from the start) → why it is not clicked here
    "Run the demo": "trains two runs; the demo's own browser test clicks it",
    "Start training": "queues a run; the walk, refresh and two-student browser tests click it",
    "Freeze sweep": "queues one run per frozen depth",
    "Run the learning-curve lab": "queues two runs per size; its own browser test clicks it",
    "Load sample": "decodes and stores hundreds of images; the walk clicks it",
    "Load and publish": "decodes and stores a sample; the classroom browser test clicks it",
    "Measure my data": "the ImageNet probe over the dataset; tests/app/test_wizard.py clicks it",
    "Measure how generic each stage is": "a probe on every stage; the lab browser test clicks it",
    "Find a learning rate": "an LR sweep (up to a minute); the lab browser test and test_wizard click it",
    "Build and verify": "an export re-scoring the validation images; test_results clicks it",
    "Quantize and measure": "exports, quantizes and times two models (about a minute); test_deploy_pages clicks it",
    "Build the report": "evaluates, draws charts and heat maps (seconds to tens of seconds); test_deploy_pages clicks it",
    "Show the highest-loss training and validation images": "re-scores every image in the server (slow until it "
                                                            "moves to the worker); test_cleaner_page opens it",
    "Delete": "deletes the run the later pages are crawled with; test_results clicks it",
    "Requeue": "queues a student's run again",
    "Cancel": "cancels a student's run",
    "Leave the teacher view": "signs out: the rest of the Teacher page is crawled signed in",
}
DRAW_MS = 15_000
DRAWN = """() => {
  const root = document.querySelector("[data-testid='stMain']");
  return !root.querySelector("[data-testid='stSkeleton'], [data-testid='stSkeletonElement'], [data-stale='true']")
    && [...root.querySelectorAll("[data-testid='stPlotlyChart']")].every(c => c.querySelector('.js-plotly-plot'));
}"""
ENUMERATE = """() => {
  const root = document.querySelector("[data-testid='stMain']"), out = [];
  document.querySelectorAll('[data-crawl]').forEach(el => el.removeAttribute('data-crawl'));  // the last round's
  const shown = el => el.checkVisibility({visibilityProperty: true});  // a closed expander's content: hidden
  const add = (el, kind, label) => {
    if (!shown(el)) return;
    el.setAttribute('data-crawl', String(out.length));
    const off = el.disabled || el.getAttribute('aria-disabled') === 'true' || !!el.closest('[disabled]')
      || !!(el.querySelector && el.querySelector('input:disabled'));
    out.push({index: out.length, kind, label: (label || '').replace(/\\s+/g, ' ').trim().slice(0, 90), off});
  };
  const label = el => { const l = el && el.querySelector("[data-testid='stWidgetLabel']"); return l ? l.innerText : ''; };
  root.querySelectorAll("[data-testid='stButton'] button, [data-testid='stFormSubmitButton'] button, "
                        + "[data-testid='stDownloadButton'] button").forEach(b => add(b, 'button', b.innerText));
  root.querySelectorAll("[data-testid='stTab']").forEach(t => add(t, 'tab', t.innerText));
  root.querySelectorAll("[data-testid='stRadio']").forEach(r =>
    r.querySelectorAll("[role='radiogroup'] label").forEach(o => add(o, 'radio', label(r) + ' = ' + o.innerText)));
  root.querySelectorAll("[data-testid='stCheckbox'] label").forEach(l => add(l, 'toggle', l.innerText));
  root.querySelectorAll("[data-testid='stButtonGroup']").forEach(g =>
    g.querySelectorAll('button').forEach(b => add(b, 'pill', label(g.parentElement) + ' = ' + b.innerText)));
  root.querySelectorAll("[data-testid='stExpander'] summary").forEach(s =>  // its title, not its arrow icon
    add(s, 'expander', (s.querySelector("[data-testid='stMarkdownContainer']") || s).innerText));
  root.querySelectorAll('.js-plotly-plot').forEach((plot, c) => {
    if (!(plot.layout && /select/.test(plot.layout.clickmode || ''))) return;  // a chart that answers clicks
    const points = plot.querySelectorAll('.scatterlayer .trace path.point'), n = points.length;
    const picks = n <= 4 ? [...Array(n).keys()] : [0, Math.floor(n / 3), Math.floor(2 * n / 3), n - 1];
    picks.forEach(k => add(points[k], 'point', `chart ${c}, point ${k} of ${n}`));
  });
  return out;
}"""


@dataclass
class Report:
    clicked: list
    skipped: dict
    repeats: int  # controls not clicked: their family was clicked already (`family`)
    seconds: float
    inaccessible: list  # serious or critical accessibility violations on arrival (tests/e2e/a11y.py)


@pytest.fixture
def log_tail(e2e_home):
    """New lines of the server's log since the last call (the app server and the worker write there)."""
    path = e2e_home / "server.log"
    offset = [path.stat().st_size]

    def read() -> str:
        with open(path, "rb") as fh:
            fh.seek(offset[0])
            text = fh.read().decode(errors="replace")
        offset[0] += len(text.encode())
        return text
    return read


def test_every_page_every_control_fresh_and_trained(server, browser, store_env, log_tail):
    started = time.monotonic()
    fresh = drafts.new()
    trained, key = trained_workspace()
    reports = {}
    tried: dict[str, set] = {path: set() for path in PAGES}  # per page, the families clicked in either workspace
    for name, token in (("trained", trained), ("fresh", fresh)):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        for path in PAGES:
            where = f"{name}/{path or 'home'}"
            reports[where] = crawl(page, f"{server}/{path}?s={token}", log_tail, where, tried[path],
                                   teacher_key=key if path == "teacher" and name == "trained" else None)
            page.screenshot(path=str(ARTIFACTS / f"crawl-{name}-{path or 'home'}.png"), full_page=True)
        context.close()
    clicks = sum(len(r.clicked) for r in reports.values())
    summary = "\n".join(f"{where}: {len(r.clicked)} clicks in {r.seconds:.0f} s, {r.repeats} twins of clicked "
                        f"controls left, skipped {sorted(r.skipped)}\n  "
                        + "\n  ".join(r.clicked) for where, r in reports.items())
    (ARTIFACTS / "crawl.txt").write_text(f"{clicks} clicks in {time.monotonic() - started:.0f} s\n{summary}\n")
    assert clicks > 100, summary  # it really clicked: a crawler that finds nothing proves nothing
    inaccessible = [line for r in reports.values() for line in r.inaccessible]
    assert not inaccessible, "\n".join(inaccessible)  # every page as it opens, fresh and trained (issue 33)
    assert reports["trained/scenario"].clicked and any("point" in c for c in reports["trained/scenario"].clicked)


def trained_workspace() -> tuple[str, str]:
    """A workspace with a dataset, every wizard step done and a finished run (trained here, by an
    in-process worker slot), and a class whose teacher key signs the Teacher page in."""
    token = drafts.new()
    samples.materialize("digits", "crawl-digits", per_class=8, owner=token)
    config = probe("crawl-digits", epochs=2)
    submitted = queue.submit(config, token, hold=True)
    slot.process(leases.claim_specific(submitted["job_id"]))
    drafts.save(token, config, {"scenario": True, "backbone": True, "data": True, "layers": True,
                                "run": submitted["run_id"]})
    made = classes.create("Crawl class")
    classes.join(made["join_code"], "Ada")
    return token, made["teacher_key"]


def family(control: dict) -> str:
    """A control's kind and label with its numbers blanked: "Move to 3" under the third doubted image and
    "Move to 7" under another are one control, run by the same code; a chart's points are each their own
    (the chart's own click handler reads which point it was)."""
    if control["kind"] == "point":
        return control["what"]
    return f"{control['kind']} {re.sub(r'[0-9]+', '#', control['label'])}"


def crawl(page: Page, url: str, log_tail, state: str, tried: set, teacher_key: str | None = None) -> Report:
    began = time.monotonic()
    arrive(page, url, teacher_key)
    where = url.split("?")[0]
    check(page, where, "on opening", log_tail)
    inaccessible = a11y.violations(page, state)
    clicked, skipped, seen, arrival, repeats = [], {}, set(), set(), 0
    while True:
        control = next_control(page, seen, arrival)
        if control is None:
            break
        what = control["what"]
        seen.add(what)
        reason = next((why for label, why in SKIP.items() if re.match(label, control["label"])), None)
        if reason or control["off"]:
            skipped[control["label"]] = reason or "disabled"
            continue
        if family(control) in tried:  # the trained workspace's crawl, or this page, clicked its twin already
            repeats += 1
            continue
        tried.add(family(control))
        clicked.append(what if press(page, control) else f"{what} (asked for no run)")
        check(page, where, f"after {what}", log_tail)
        if page.url.split("?")[0] != where:  # the click moved to another page: come back
            arrive(page, url, teacher_key)
    return Report(clicked, skipped, repeats, time.monotonic() - began, inaccessible)


def arrive(page: Page, url: str, teacher_key: str | None) -> None:
    """Open the page and wait until it is still: the first run can rerun (a page that sets its URL's
    run, a sign-in), and a control read mid-run is a skeleton."""
    open_page(page, url, timeout=SLOW)
    if teacher_key:
        sign_in(page, teacher_key)
    settled(page, "opening", whole_runs_started(page), time.monotonic())


def next_control(page: Page, seen: set, arrival: set) -> dict | None:
    """A control on the page now that has not been tried; those a click revealed (not there on arrival)
    first, so the stage toggles behind "Pick stages to freeze" are tried before the next radio option
    hides them. The same kind and label twice (several "Use" buttons) are told apart by their order."""
    counts: dict[str, int] = {}
    controls = page.evaluate(ENUMERATE)
    for control in controls:
        what = f"{control['kind']} {control['label']!r}"
        counts[what] = counts.get(what, 0) + 1
        control["what"] = f"{what} #{counts[what]}"
    if not arrival:
        arrival.update(c["what"] for c in controls)
    fresh = [c for c in controls if c["what"] not in seen]
    return ([c for c in fresh if c["what"] not in arrival] or fresh or [None])[0]


def press(page: Page, control: dict) -> bool:
    """Click; then, if the click asked for a script run, wait until it started and the page's whole-page
    runs have stopped for QUIET_S. A click that asks for none (a tab, an expander) waits for nothing, but
    a chart point: Plotly reports a selection on its own timers, so it gets START_S to start a run.
    True when the click asked for a run."""
    before, clicked, asked = whole_runs_started(page), time.monotonic(), reruns_asked(page)
    try:
        page.locator(f"[data-crawl='{control['index']}']").click(force=control["kind"] == "point", timeout=10_000)
    except PlaywrightTimeout as exc:
        page.screenshot(path=str(ARTIFACTS / "crawl-stuck.png"), full_page=True)
        raise AssertionError(f"{page.url}: cannot click {control}") from exc
    ran = reruns_asked(page) > asked
    wait = SETTLE_S if ran else START_S if control["kind"] == "point" else 0
    while whole_runs_started(page) == before and time.monotonic() - clicked < wait:
        page.wait_for_timeout(50)
    settled(page, f"after {control['what']}", before, clicked)
    return ran


def settled(page: Page, when: str, before: int, since: float) -> None:
    """Whole-page runs have stopped for QUIET_S (a page still rerunning SETTLE_S after `since` fails),
    and the browser has drawn what they sent: the last message of a run arrives before the page is drawn
    (a chart's library loads on demand, seconds on a busy box), and a control looked for then is missing."""
    while whole_runs_quiet(page) < QUIET_S:
        if time.monotonic() - since > SETTLE_S:
            raise AssertionError(f"{page.url}: the page never settled {when}: "
                                 f"{whole_runs_started(page) - before} script runs in {SETTLE_S:.0f} s")
        page.wait_for_timeout(50)
    try:
        page.wait_for_function(DRAWN, timeout=DRAW_MS)
    except PlaywrightTimeout:
        pass  # drawn or not, what is there is crawled; a page that never draws fails its own checks
    settle(page, DRAW_MS)  # and no run under way that started late (a busy box)


def sign_in(page: Page, key: str) -> None:
    page.get_by_label("Teacher key", exact=True).fill(key)
    after_rerun(page, lambda: page.get_by_role("button", name="Open", exact=True).click())


def check(page: Page, where: str, when: str, log_tail) -> None:
    boxes = page.locator("[data-testid='stException']")
    assert boxes.count() == 0, f"{where} {when}: exception box: {boxes.first.inner_text()[:500]}"
    warned = STREAMLIT_WARNING.findall(log_tail())
    assert not warned, f"{where} {when}: the server logged {warned[:5]}"
    text = page.inner_text("body")
    for shown in sorted(page.evaluate(NOT_WORDS), key=len, reverse=True):
        text = text.replace(shown, " ") if shown.strip() else text
    raw = raw_words(text)
    assert not raw, f"{where} {when}: raw words on the page: {raw[:5]}"

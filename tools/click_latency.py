"""Click latency in the real browser (issue 34): how long a person waits after each click.

Starts the app and its worker on a fresh data home, prepares a trained MNIST run through the CLI (300
digits, EfficientNet-Lite0, S1), then times in Debian's Chromium from the click until the answer is
visible and the script run it caused has finished. Each figure is the median of --repeat clicks; the
clicks whose first time is the point (the feature map's first drawing, the demo, the int8 card) run
--long-repeat times (one by default: a first time happens once per data home; each demo is a new
person). Run it alone on the box (`flock /tmp/heavy.lock`), and read `load_average` beside the figures.

    python tools/click_latency.py --json [--repeat 5] [--long-repeat 1] [--only predict_one_s,...]

first_paint_s is a bare URL on a warm server, once the server says its warm-up is done (`extra.first_paint_cold_s`:
the server's first page ever; `extra.warm_up_s`: from that URL until warm);
predict_one_s is a person's second and later test image with its heat map; featuremap_cached_s is the
Draw button after a page reload (a new session) once the map was drawn (`extra.featuremap_new_browser_s`:
in a new browser); demo_to_model_s runs in a new browser (a new person), `extra.demo_first_sign_s` is the
click → the first sign of progress, `extra.int8_first_sign_s` the int8 card's click → its progress bar.
A section whose click fails is left out and named in `extra.failed`; the others are still measured.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = os.environ.get("TRANSFERLAB_CHROMIUM", "/usr/bin/chromium")
DATASET, PER_CLASS = "digits", 30  # 300 images: the feature map of the issue
KEYS = ("predict_one_s", "heatmap_switch_s", "heatmap_again_s", "page_switch_s", "featuremap_cached_s",
        "featuremap_first_s", "int8_card_s", "demo_to_model_s", "first_paint_s")
LONG = 900_000  # ms: the demo and the int8 card at load 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--repeat", type=int, default=5, help="clicks per figure (the median is reported)")
    parser.add_argument("--long-repeat", type=int, default=1, help="clicks for the demo and the int8 card")
    parser.add_argument("--only", default="", help="comma-separated keys to measure (default: all)")
    args = parser.parse_args()
    wanted = [k for k in args.only.split(",") if k] or list(KEYS)
    home = Path(tempfile.mkdtemp(prefix="click-latency-"))
    os.environ.update(TRANSFERLAB_HOME=str(home), TRANSFERLAB_OFFLINE="1")
    os.environ.pop("TRANSFERLAB_PUBLIC_URL", None)
    load = os.getloadavg()[0]
    token = prepare()
    with serve(home) as url:
        found = measure(url, token, wanted, args)
    result = {**{k: found.get(k) for k in KEYS}, "load_average": round(load, 2),
              "load_average_end": round(os.getloadavg()[0], 2), "extra": found.get("extra", {}),
              "clicks": found.get("clicks", {})}
    print(json.dumps(result, indent=None if args.json else 2))


def prepare() -> str:
    """A workspace token whose draft uses the digits, and a trained run of it, made through the CLI."""
    from core.config import DataSpec, RunConfig
    from core.runs import drafts

    token = drafts.new(RunConfig(data=DataSpec(dataset=DATASET)))
    cli("sample", "mnist", "--name", DATASET, "--per-class", str(PER_CLASS), "--owner", token)
    cli("train", "--dataset", DATASET, "--epochs", "2", "--owner", token)
    return token


def cli(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "core", *args, "--json"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode:
        raise SystemExit(f"python -m core {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


@contextlib.contextmanager
def serve(home: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(home / "server.log", "wb")
    processes = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
                 for command in ([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port",
                                  str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                                  "--browser.gatherUsageStats", "false"],
                                 [sys.executable, "-m", "core", "worker"])]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            time.sleep(0.3)
        yield url
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def measure(url: str, token: str, wanted: list[str], args) -> dict:
    from playwright.sync_api import sync_playwright

    clicks: dict[str, list[float]] = {}
    extra: dict = {}
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                       "--disable-background-networking"])
        fresh = lambda: new_page(browser)
        sections = [
            ({"first_paint_s"}, lambda: first_paints(fresh, url, args.repeat)),
            ({"predict_one_s", "heatmap_switch_s", "heatmap_again_s"},
             lambda: predict_clicks(fresh(), url, token, args.repeat)),
            ({"page_switch_s"}, lambda: {"page_switch_s": page_switches(fresh(), url, token, args.repeat)}),
            ({"featuremap_first_s", "featuremap_cached_s"}, lambda: feature_map(browser, fresh, url, token, args.repeat)),
            ({"int8_card_s"}, lambda: int8_cards(fresh, url, token, args.long_repeat)),
            ({"demo_to_model_s"}, lambda: demos(fresh, url, args.long_repeat))]
        for keys, section in sections:
            if keys & set(wanted):
                try:
                    clicks.update(section())
                except Exception as exc:  # a broken click costs its own figures, not the whole run
                    extra.setdefault("failed", {})[",".join(sorted(keys))] = str(exc).splitlines()[0]
        browser.close()
    found = {k: round(statistics.median(v), 2) for k, v in clicks.items() if v}
    extra.update({k: found.pop(k) for k in list(found) if k not in KEYS})
    return {**found, "extra": extra, "clicks": {k: [round(x, 2) for x in v] for k, v in clicks.items()}}


def new_page(browser):
    """A new browser context's page whose clicks wait up to 2 minutes for their element: at load 12 a button
    of a page still drawing took more than Playwright's 30 s to become stable (the run lost every figure)."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(120_000)
    return page


def timed(page, action, visible, timeout: int = 120_000) -> float:
    """Seconds from `action` until the script run it caused has finished and `visible` shows."""
    from playwright.sync_api import expect

    from tests.e2e.helpers import after_rerun

    started = time.monotonic()
    after_rerun(page, action, timeout=timeout)
    expect(visible).to_be_visible(timeout=timeout)
    return time.monotonic() - started


def first_paints(fresh, url: str, repeat: int) -> dict:
    """The server's very first page imports the engine and starts its warm-up (backbone facts, stage maps, this
    machine's speed: `ui.warm`, tens of seconds of work in the server's process): both said apart,
    `extra.first_paint_cold_s` and `extra.warm_up_s` (from the first URL until the server says it is warm).
    first_paint_s is then timed on a warm server."""
    cold = first_paint(fresh(), url)
    warm_up = cold + wait_warm(Path(os.environ["TRANSFERLAB_HOME"]) / "server.log")
    painted = [first_paint(fresh(), url) for _ in range(repeat)]
    return {"first_paint_cold_s": [cold], "warm_up_s": [warm_up], "first_paint_s": painted}


def wait_warm(log: Path, limit: float = 600) -> float:
    """Seconds until the server's log says it is warm (`ui.warm.DONE`)."""
    from ui.warm import DONE

    started = time.monotonic()
    while time.monotonic() - started < limit:
        if DONE in log.read_text(errors="replace"):
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError(f"the server did not say it was warm within {limit:.0f} s")


def first_paint(page, url: str) -> float:
    """A bare URL in a new browser: until the first script run has drawn the home page."""
    from playwright.sync_api import expect

    from tests.e2e.helpers import open_page

    started = time.monotonic()
    open_page(page, url, timeout=120_000)
    expect(page.get_by_text("In a hurry? Run the demo")).to_be_visible(timeout=120_000)
    spent = time.monotonic() - started
    page.context.close()
    return spent


def predict_clicks(page, url: str, token: str, repeat: int) -> dict:
    """Per test image: pick it (predict_one_s), switch the heat map to Grad-CAM++ (heatmap_switch_s), back to
    the Grad-CAM already drawn (heatmap_again_s); then the pick is removed. One image first as a warm-up:
    the figures are for a person's second and later images."""
    from tests.e2e.helpers import after_rerun, open_page

    open_page(page, f"{url}/predict?s={token}", timeout=300_000)
    page.get_by_role("tab", name="From the test split").click()
    out: dict[str, list[float]] = {"predict_one_s": [], "heatmap_switch_s": [], "heatmap_again_s": []}
    picker = page.locator("[data-testid='stMultiSelect']").filter(has_text="Test images")
    for index in range(repeat + 1):
        picker.click()
        option = page.get_by_role("option").filter(has_not_text="Select all").nth(index)
        answer = page.get_by_text(re.compile(r"^test #\d+ .*→")).first
        one = timed(page, option.click, page.get_by_text(re.compile(r"^Grad-CAM heat map for ")).first)
        page.keyboard.press("Escape")
        answer.wait_for()
        switch = timed(page, lambda: radio(page, "Grad-CAM++"), page.get_by_text(re.compile(r"^Grad-CAM\+\+ heat map for ")).first)
        again = timed(page, lambda: radio(page, "Grad-CAM"), page.get_by_text(re.compile(r"^Grad-CAM heat map for ")).first)
        if index:  # the first image warmed the server (the library's imports, the run's model)
            out["predict_one_s"].append(one)
            out["heatmap_switch_s"].append(switch)
            out["heatmap_again_s"].append(again)
        after_rerun(page, lambda: picker.locator("input").press("Backspace"))
    page.context.close()
    return out


def radio(page, label: str) -> None:
    page.locator("[data-testid='stRadio']").filter(has_text="Heat map").get_by_text(label, exact=True).click()


def page_switches(page, url: str, token: str, repeat: int) -> list[float]:
    """Evaluate ↔ Predict through the sidebar, after one visit to each."""
    from tests.e2e.helpers import open_page

    open_page(page, f"{url}/evaluate?s={token}", timeout=300_000)
    pages = ["7 · Predict", "6 · Evaluate"]
    heads = {"7 · Predict": "7 · Predict", "6 · Evaluate": "6 · Evaluate"}
    spent = []
    for index in range(repeat + 2):
        target = pages[index % 2]
        link = page.locator("[data-testid='stSidebarNav'] a").filter(has_text=target)
        took = timed(page, link.click, page.get_by_role("heading", name=heads[target]), timeout=300_000)
        if index >= 2:
            spent.append(took)
    page.context.close()
    return spent


def feature_map(browser, fresh, url: str, token: str, repeat: int) -> dict:
    """The Data page's feature map: its first drawing (the features computed), then again after a reload of
    the page (a new session: nothing of the drawing kept in it) in the same browser, and once in a new browser
    (`extra`: Plotly's scripts and the page's fetched again)."""
    out = {"featuremap_first_s": [], "featuremap_cached_s": [], "featuremap_new_browser_s": []}
    page = fresh()
    for index in range(repeat + 1):
        out["featuremap_first_s" if index == 0 else "featuremap_cached_s"].append(draw_map(page, url, token))
    page.context.close()
    page = fresh()
    out["featuremap_new_browser_s"].append(draw_map(page, url, token))
    page.context.close()
    return out


def draw_map(page, url: str, token: str) -> float:
    from tests.e2e.helpers import open_page

    open_page(page, f"{url}/data?s={token}", timeout=300_000)
    button = page.get_by_role("button", name="Draw the feature map")
    return timed(page, button.click, page.get_by_text("how well these features separate your classes"), timeout=LONG)


def int8_cards(fresh, url: str, token: str, repeat: int) -> dict:
    cards = [int8_card(fresh(), url, token) for _ in range(repeat)]
    return {"int8_card_s": [c["card"] for c in cards], "int8_first_sign_s": [c["first_sign"] for c in cards]}


def int8_card(page, url: str, token: str) -> dict:
    """The deployment card's button: the first sign of progress (a progress bar), and the card drawn."""
    from playwright.sync_api import expect

    from tests.e2e.helpers import open_page, settle

    open_page(page, f"{url}/export?s={token}", timeout=300_000)
    button = page.get_by_role("button", name="Quantize and measure")
    started = time.monotonic()
    button.click(timeout=LONG)
    expect(page.locator("[data-testid='stProgress']").first).to_be_visible(timeout=LONG)
    first_sign = time.monotonic() - started
    expect(page.get_by_text("agrees with the app").first).to_be_visible(timeout=LONG)
    settle(page, LONG)
    took = time.monotonic() - started
    page.context.close()
    return {"first_sign": first_sign, "card": took}


def demos(fresh, url: str, repeat: int) -> dict:
    found = [demo(fresh(), url) for _ in range(repeat)]
    return {"demo_to_model_s": [d["model"] for d in found], "demo_first_sign_s": [d["first_sign"] for d in found]}


def demo(page, url: str) -> dict:
    """A new person's click on "Run the demo": the first sign of progress, and the trained model."""
    from playwright.sync_api import expect

    from tests.e2e.helpers import open_page

    open_page(page, url, timeout=120_000)
    started = time.monotonic()
    page.get_by_role("button", name="Run the demo").click()
    expect(page.get_by_text(re.compile("Preparing the demo|Demo queued|Loading the sample")).first).to_be_visible(
        timeout=LONG)
    first_sign = time.monotonic() - started
    expect(page.get_by_text(re.compile("Your transfer model is ready|The demo is complete")).first).to_be_visible(
        timeout=LONG)
    model = time.monotonic() - started
    page.context.close()
    return {"first_sign": first_sign, "model": model}


if __name__ == "__main__":
    main()

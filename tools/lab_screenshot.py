"""The README's picture of the learning-curve lab (a tool, not a test): MNIST, sizes 5/10/25/50 per
class, pretrained and from scratch, trained here; then the Train page in Chromium, shot to docs/.

usage: .venv/bin/python tools/lab_screenshot.py [--epochs 4] [--again HOME TOKEN]     prints the points as JSON
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(epochs: int) -> tuple[str, dict]:
    from core.cli.train import run_here
    from core.config import AugmentSpec, DataSpec, RunConfig, TrainSpec
    from core.data import samples
    from core.recipes import datasize
    from core.runs import drafts

    config = RunConfig(data=DataSpec(dataset="digits"), augment=AugmentSpec(preset="none"),
                       train=TrainSpec(head_epochs=epochs, head_lr=3e-3))
    token = drafts.new(config)
    samples.materialize("mnist", "digits", per_class=80, owner=token)
    queued = datasize.sweep(config, token, (5, 10, 25, 50), hold=True)
    started = time.monotonic()
    run_here([p[kind] for kind in datasize.KINDS for p in queued["runs"]])
    drafts.save(token, config, {"datasize": queued["sweep"], "data": True})
    result = datasize.results(queued["sweep"], token)
    return token, {"seconds": round(time.monotonic() - started, 1), "points": [
        {k: p[k] for k in ("per_class", "pretrained", "scratch")} for p in result["points"]]}


def shoot(token: str, out: Path) -> None:
    import subprocess
    import sys
    import urllib.request

    from playwright.sync_api import sync_playwright

    port = 8597
    app = subprocess.Popen([sys.executable, "-m", "ui.serve", "--server.port", str(port), "--server.headless", "true"],
                           cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/train?s={token}")
            page.get_by_text("Pretrained against from scratch").wait_for(timeout=120_000)
            page.locator(".js-plotly-plot").last.wait_for(timeout=60_000)
            page.wait_for_timeout(3000)  # plotly's transitions, and the layout settling below the charts
            top = page.get_by_role("heading", name="Learning-curve lab").bounding_box()
            end = page.get_by_text("Pretrained against from scratch").bounding_box()
            page.screenshot(path=str(out), full_page=True, clip={
                "x": 0, "y": top["y"] - 10, "width": 1300, "height": end["y"] + end["height"] - top["y"] + 20})
            browser.close()
    finally:
        app.terminate()
        app.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "docs" / "learning-curve-lab.png"))
    parser.add_argument("--again", nargs=2, metavar=("HOME", "TOKEN"), help="shoot an earlier run's page again")
    args = parser.parse_args()
    os.environ["TRANSFERLAB_HOME"] = args.again[0] if args.again else tempfile.mkdtemp(prefix="lab-shot-")
    os.environ.setdefault("TRANSFERLAB_OFFLINE", "1")
    token, result = (args.again[1], {}) if args.again else train(args.epochs)
    shoot(token, Path(args.out))
    print(json.dumps({**result, "home": os.environ["TRANSFERLAB_HOME"], "token": token}))


if __name__ == "__main__":
    main()

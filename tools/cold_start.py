"""Benchmark (not a test): N people open the Backbone page of a cold server at the same moment.

usage: .venv/bin/python tools/cold_start.py [--sessions 20] [--plain] [--delay S]     prints one JSON line
A fresh data home and a fresh `streamlit run`; N pages of one Chromium open /backbone at once.
Reported: seconds from the open until each page shows the backbone table and its "Use this backbone"
button, on the cold server, then again with every page reloaded once the server is warm.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def serve(home: str, port: int, plain: bool) -> subprocess.Popen:
    """`make run`'s launcher (warms at server start), or with `plain` a bare `streamlit run`."""
    env = {**os.environ, "TRANSFERLAB_HOME": home, "TRANSFERLAB_OFFLINE": "1"}
    launcher = ["-m", "streamlit", "run", "streamlit_app.py"] if plain else ["-m", "ui.serve"]
    app = subprocess.Popen([sys.executable, *launcher, "--server.port", str(port), "--server.headless", "true"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                return app
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def wave(pages, urls: list[str]) -> dict:
    started = time.perf_counter()
    for page, url in zip(pages, urls):
        page.goto(url, wait_until="commit")
    seconds = []
    for page in pages:
        page.get_by_role("button", name="Use this backbone").wait_for(timeout=600_000)
        seconds.append(time.perf_counter() - started)
    return {"median": round(statistics.median(seconds), 1), "max": round(max(seconds), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--port", type=int, default=8598)
    parser.add_argument("--plain", action="store_true", help="bare `streamlit run` (warming starts with the first page)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between the server's start and the wave")
    parser.add_argument("--prime", action="store_true",
                        help="open the home page once first: the browser caches the app's JavaScript, so the wave "
                             "measures the server's own cold work (each student's browser loads it on its own machine)")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="cold-start-")
    os.environ["TRANSFERLAB_HOME"] = home
    from playwright.sync_api import sync_playwright

    from core.runs import drafts

    urls = [f"http://127.0.0.1:{args.port}/backbone?s={drafts.new()}" for _ in range(args.sessions)]
    app = serve(home, args.port, args.plain)
    time.sleep(args.delay)  # a teacher starts the server some time before the class opens it
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            pages = [context.new_page() for _ in urls]
            if args.prime:
                pages[0].goto(urls[0].replace("/backbone?", "/?"), wait_until="networkidle")
            cold = wave(pages, urls)
            warm = wave(pages, urls)
            browser.close()
    finally:
        app.terminate()
    print(json.dumps({"sessions": args.sessions, "launcher": "streamlit run" if args.plain else "ui.serve",
                      "delay_seconds": args.delay, "primed_browser": args.prime, "cold_seconds": cold, "warm_seconds": warm}))


if __name__ == "__main__":
    main()

"""Benchmark (not a test): what Train pages watching a running job cost the Streamlit server.

usage: .venv/bin/python tools/watch_cost.py [--pages 10] [--seconds 60]     prints one JSON line

A fresh data home, the app server and its worker; one long fine-tuning job; then N pages of one
Chromium sit on that job's Train page. The server's CPU time (utime + stime from /proc) is read over a
window with no page open and over a window with the N pages open; the difference per page and second
is the cost of one watcher in cores. The worker's images/s in both windows shows what training lost.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start(home: str, port: int) -> tuple[subprocess.Popen, subprocess.Popen]:
    env = {**os.environ, "TRANSFERLAB_HOME": home, "TRANSFERLAB_OFFLINE": "1"}
    log = open(Path(home) / "server.log", "wb")
    app = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                            "--server.headless", "true", "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                           stdout=log, stderr=log)
    worker = subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=ROOT, env=env, stdout=log, stderr=log)
    return app, worker


def long_job(owner: str) -> str:
    from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec
    from core.data import samples
    from core.runs import queue

    samples.materialize("mnist", "watch", per_class=20, owner=owner)
    config = RunConfig(backbone="efficientnet_lite0", augment=AugmentSpec(preset="light"),
                       freeze=FreezePlan(mode="first_k", k=3, bn="all_eval"), data=DataSpec(dataset="watch"),
                       train=TrainSpec(head_epochs=1, finetune_epochs=200, batch_size=16))
    return queue.submit(config, owner)["run_id"]


def images_per_second(run_id: str, since: float, until: float) -> float | None:
    from core.runs import store

    rates = [m["images_per_second"] for m in store.metrics(run_id, "step") if since <= m["t"] <= until]
    return round(statistics.median(rates), 1) if rates else None


def window(pid: int, seconds: float) -> tuple[float, float, float]:
    began, cpu = time.time(), cpu_seconds(pid)
    time.sleep(seconds)
    return began, time.time(), cpu_seconds(pid) - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--port", type=int, default=8599)
    parser.add_argument("--profile", help="also record the server with py-spy (collapsed stacks) into this file")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="watch-cost-")
    os.environ["TRANSFERLAB_HOME"] = home
    from core.config import DataSpec, RunConfig
    from core.runs import drafts, store

    token = drafts.new(RunConfig(data=DataSpec(dataset="watch")))  # the Train page needs the draft's dataset
    run_id = long_job(token)
    app, worker = start(home, args.port)
    try:
        while store.run_row(run_id)["status"] != "running" or not store.metrics(run_id, "epoch"):
            time.sleep(1)
        idle = window(app.pid, args.seconds)
        watching = watched(app.pid, args, token, run_id)
    finally:
        for process in (app, worker):
            process.terminate()
    idle_rate, watch_rate = idle[2] / (idle[1] - idle[0]), watching[2] / (watching[1] - watching[0])
    print(json.dumps({
        "pages": args.pages, "window_seconds": args.seconds,
        "server_cores_idle": round(idle_rate, 4), "server_cores_watching": round(watch_rate, 4),
        "cores_per_watching_page": round((watch_rate - idle_rate) / args.pages, 4),
        "training_images_per_second_idle": images_per_second(run_id, idle[0], idle[1]),
        "training_images_per_second_watching": images_per_second(run_id, watching[0], watching[1])}))


def watched(pid: int, args, token: str, run_id: str) -> tuple[float, float, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pages = [context.new_page() for _ in range(args.pages)]
        for page in pages:
            page.goto(f"http://127.0.0.1:{args.port}/train?s={token}&run={run_id}")
        for page in pages:
            page.get_by_text("Epoch").first.wait_for(timeout=120_000)
        time.sleep(5)  # past the first full draws
        spy = subprocess.Popen(["py-spy", "record", "--format", "raw", "-o", args.profile, "-d", str(int(args.seconds)),
                                "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if args.profile else None
        result = window(pid, args.seconds)
        if spy:
            spy.wait(60)
        browser.close()
    return result


if __name__ == "__main__":
    main()

"""Benchmark (not a test): the worker slot's resident memory after 1 and after 10 small jobs.

usage: TRANSFERLAB_HOME=/tmp/rss .venv/bin/python tools/worker_rss.py [--jobs 10]   prints one JSON line
Each job is a 4-epoch fine-tune of a small network on 20 digits per class, so the model, optimizer,
activations and decoded images are all exercised; the slot must hand them back after every job.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import time

from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec
from core.data import samples
from core.execute import service
from core.runs import leases, queue, status, store


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        line = next(line for line in fh if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def job_config() -> RunConfig:
    return RunConfig(backbone="mobilenet_v3_small", weights="none", augment=AugmentSpec(preset="light"),
                     freeze=FreezePlan(mode="none"), data=DataSpec(dataset="rss-digits"),
                     train=TrainSpec(head_epochs=1, finetune_epochs=3, batch_size=32))


def run_one(owner: str) -> str:
    run_id = queue.submit(job_config(), owner)["run_id"]
    while store.run_row(run_id)["status"] in status.ACTIVE:
        time.sleep(0.2)
    return store.run_row(run_id)["status"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10)
    count = parser.parse_args().jobs
    samples.materialize("digits", "rss-digits", per_class=20, owner="rss")
    supervisor = service.ensure_worker()
    try:
        statuses = [run_one("rss")]
        time.sleep(1)
        slot = service.alive_workers()[0]["pid"]
        after_one = rss_mb(slot)
        statuses += [run_one("rss") for _ in range(count - 1)]
        time.sleep(1)
        after_all = rss_mb(slot)
    finally:
        os.kill(supervisor, signal.SIGTERM)
        while leases.pid_alive(supervisor):
            time.sleep(0.1)
    print(json.dumps({"jobs": count, "statuses": sorted(set(statuses)), "slot_rss_mb_after_1": round(after_one, 1),
                      f"slot_rss_mb_after_{count}": round(after_all, 1),
                      "growth_mb": round(after_all - after_one, 1)}))


if __name__ == "__main__":
    main()

"""Benchmark (not a test): N people press "Find a learning rate" at once in one server process.

usage: TRANSFERLAB_HOME=/tmp/gate .venv/bin/python tools/lab_gate_bench.py [--people 4]   prints one JSON line

Each person owns a copy of 20 digits per class and sweeps the head's learning rate on the bundled
EfficientNet-Lite0 (what the Layers page runs in the server). Once all at the same moment in threads
(what the server did before ui/gate.py), once through the gate; each person's seconds from the press
to the answer. Same process, same data, both orders alternated per repeat.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import threading
import time

import torch

from core.config import AugmentSpec, DataSpec, RunConfig
from core.data import samples
from core.training import lr_find
from ui.gate import Gate


def config(dataset: str) -> RunConfig:
    return RunConfig(backbone="efficientnet_lite0", augment=AugmentSpec(preset="none"), data=DataSpec(dataset=dataset))


def press_together(people: list[str], gate: Gate | None) -> list[float]:
    """Each person's seconds from the common start to their answer."""
    done: dict[str, float] = {}
    start = threading.Barrier(len(people))

    def person(owner: str) -> None:
        start.wait()
        began = time.perf_counter()
        with gate.turn() if gate else contextlib.nullcontext():
            lr_find.find(config(owner), owner, "head")
        done[owner] = time.perf_counter() - began

    threads = [threading.Thread(target=person, args=(owner,)) for owner in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(done.values())


def summary(seconds: list[float]) -> dict:
    return {"first": round(seconds[0], 2), "mean": round(statistics.mean(seconds), 2), "last": round(seconds[-1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    people = [f"gate-{i}" for i in range(args.people)]
    for owner in people:
        samples.materialize("digits", owner, per_class=20, owner=owner)
    lr_find.find(config(people[0]), people[0], "head")  # warm: imports, weights, decoded images
    runs: dict[str, list[list[float]]] = {"together": [], "gated": []}
    for repeat in range(args.repeats):
        for mode in (("together", "gated") if repeat % 2 == 0 else ("gated", "together")):
            runs[mode].append(press_together(people, Gate() if mode == "gated" else None))
    out = {mode: summary([statistics.mean(r[i] for r in rounds) for i in range(args.people)])
           for mode, rounds in runs.items()}
    out["mean_wait_ratio"] = round(out["together"]["mean"] / out["gated"]["mean"], 2)
    out["first_answer_ratio"] = round(out["together"]["first"] / out["gated"]["first"], 2)
    print(json.dumps({"people": args.people, "repeats": args.repeats, "torch_threads": torch.get_num_threads(),
                      **out}))


if __name__ == "__main__":
    main()

"""Benchmark (not a test): fp32 against static and dynamic int8 ONNX, for EfficientNet-Lite0 and ResNet-18.

usage: .venv/bin/python tools/quantize_bench.py [--per-class 20] [--home DIR]   prints one JSON object
Trains two runs on MNIST (the bundled sample) in a fresh data home: a linear probe of EfficientNet-Lite0 on its
offline ImageNet weights (8 epochs), and ResNet-18 from random weights (its ImageNet weights are not available
offline), all layers trained for 2 epochs: its size and latency are real, its accuracy is near chance. Then
`core.serving.quantize` builds each int8 graph both ways and measures size, batch-1 latency (median of 30 runs
after 5 warm-ups, threads set to this process's cores), agreement with the app's predictions and accuracy on
the run's pinned test list. Run it on a quiet machine: a second heavy job on 2 cores slows every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())


def runs(per_class: int) -> dict[str, str]:
    from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec
    from core.data import samples
    from core.execute import slot
    from core.runs import leases, queue

    samples.materialize("mnist", "mn", per_class=per_class)
    base = RunConfig(augment=AugmentSpec(preset="none"), data=DataSpec(dataset="mn"))
    configs = {
        "efficientnet_lite0": base.replace(backbone="efficientnet_lite0", weights="imagenet",
                                           train=TrainSpec(head_epochs=8, head_lr=3e-3, batch_size=32)),
        "resnet18": base.replace(backbone="resnet18", weights="none", freeze=FreezePlan(mode="none"),
                                 train=TrainSpec(head_epochs=0, finetune_epochs=2, finetune_lr=1e-3, batch_size=32)),
    }
    made = {}
    for name, config in configs.items():
        submitted = queue.submit(config, "cli")
        slot.process(leases.claim_specific(submitted["job_id"]))
        made[name] = submitted["run_id"]
    return made


def measure(run_id: str, folder: str) -> dict:
    from core.runs import queue, store
    from core.serving import quantize

    out = {}
    for method in quantize.METHODS:
        started = time.perf_counter()
        facts = quantize.quantize(store.run_row(run_id), f"{folder}/{run_id}-{method}.onnx", queue.lists(run_id), method)
        kept = ("size_mb", "fp32_size_mb", "latency_ms", "fp32_latency_ms", "agreement", "accuracy", "fp32_accuracy",
                "images", "fp32_convolutions", "convolutions", "validation_agreement", "search_agreement", "changed",
                "recommended", "judged_on")
        out[method] = {**{k: facts[k] for k in kept if k in facts},
                       "seconds": round(time.perf_counter() - started, 1)}
    out["cpu"], out["threads"], out["load_average"] = facts["cpu"], facts["threads"], round(os.getloadavg()[0], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--home", help="data home (default: a fresh temporary one)")
    args = parser.parse_args()
    os.environ["TRANSFERLAB_HOME"] = args.home or tempfile.mkdtemp(prefix="quantize-bench-")
    os.environ.setdefault("TRANSFERLAB_OFFLINE", "1")
    made = runs(args.per_class)
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps({name: {"run": run_id, **measure(run_id, folder)} for name, run_id in made.items()}, indent=1))


if __name__ == "__main__":
    main()

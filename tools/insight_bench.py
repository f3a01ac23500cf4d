"""Figures for issue 22's note (a benchmark, not in `make test`): the feature map's separation and speed, the
"unknown" rates, and what each class-balance option does to the rare classes' recall. Each part runs in a
fresh data home (a temporary folder), on the CPU, with fixed seeds, and prints one JSON object; the load
average before and after is part of it (the box is shared: a busy one runs 3-4x slower).

usage: .venv/bin/python tools/insight_bench.py separation [--per-class 100]
       .venv/bin/python tools/insight_bench.py embed-time [--sizes 1000 5000]
       .venv/bin/python tools/insight_bench.py unknown [--per-class 50]
       .venv/bin/python tools/insight_bench.py balance

separation: leave-one-out 5-NN accuracy of EfficientNet-Lite0's pooled features, pretrained against random
  initialisation, on scikit-learn digits and MNIST (`--per-class` images per class).
embed-time: seconds for `featuremap.embed` on N MNIST images: the first call extracts the features, the second
  finds them in the feature cache (PCA, then t-SNE on cached features; UMAP too, twice, where umap-learn is
  importable: its first call compiles numba code).
unknown: a linear-probe run on digits and one on MNIST (the run's own threshold); the share of its own test
  images and of scikit-image's natural photos called "unknown".
balance: MNIST, 10 classes, 24 training images in five and 3 in the other five, a balanced test list of 6
  per class; a 6-epoch linear probe per option; mean recall of the rare and the common classes.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TRANSFERLAB_OFFLINE", "1")
os.environ["TRANSFERLAB_HOME"] = tempfile.mkdtemp(prefix="insight-bench-")

from core.config import AugmentSpec, DataSpec, RunConfig, TrainSpec
from core.data import samples, store

FOREIGN = ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "moon", "page", "horse",
           "hubble_deep_field", "immunohistochemistry", "cell", "retina", "cat", "brick", "grass",
           "gravel", "text", "clock", "logo", "colorwheel")


def probe(dataset: str, epochs: int = 12, **train) -> RunConfig:
    """As tests/training.probe: a linear probe of EfficientNet-Lite0 on cached features."""
    return RunConfig(backbone="efficientnet_lite0", augment=AugmentSpec(preset="none"), data=DataSpec(dataset=dataset),
                     train=TrainSpec(head_epochs=epochs, head_lr=3e-3, batch_size=32, **train))


def separation(per_class: int) -> dict:
    from core.serving import featuremap

    out = {}
    for sample in ("digits", "mnist"):
        samples.materialize(sample, sample, per_class=per_class)
        out[sample] = {w: featuremap.embed(sample, weights=w)["separation"]["knn_accuracy"] for w in ("imagenet", "none")}
        out[sample]["images"] = len(store.records(sample))
    return out


def embed_time(sizes: list[int]) -> list[dict]:
    from core.serving import featuremap
    from core.training import feature_cache

    rows = []
    for n in sizes:
        name = f"mnist{n}"
        samples.materialize("mnist", name, per_class=n // 10)
        feature_cache.shared().clear()
        row = {"images": len(store.records(name))}
        methods = [("first_pca", "pca"), ("cached_pca", "pca"), ("cached_tsne", "tsne")]
        if importlib.util.find_spec("umap"):  # only where umap-learn is installed (it is no dependency)
            methods += [("cached_umap_first_call", "umap"), ("cached_umap", "umap")]
        for label, method in methods:
            started = time.perf_counter()
            featuremap.embed(name, method=method)
            row[f"{label}_seconds"] = round(time.perf_counter() - started, 2)
        rows.append(row)
    return rows


def unknown(per_class: int) -> dict:
    import numpy as np
    from PIL import Image
    from skimage import data as photos

    from core.data import read_bytes
    from core.data.images import decode
    from core.execute import slot
    from core.runs import leases, queue
    from core.serving import predict

    foreign = []
    for name in FOREIGN:
        pixels = getattr(photos, name)()
        pixels = (pixels * 255).astype(np.uint8) if pixels.dtype == bool else pixels
        foreign.append(Image.fromarray(pixels[..., :3] if pixels.ndim == 3 else pixels).convert("RGB"))
    out = {}
    for sample in ("digits", "mnist"):
        samples.materialize(sample, sample, per_class=per_class)
        submitted = queue.submit(probe(sample), "cli")
        slot.process(leases.claim_specific(submitted["job_id"]))
        run_id = submitted["run_id"]
        own = [decode(read_bytes(r.sha256)) for r in queue.lists(run_id, "cli").test]
        rate = lambda pictures, run=run_id: float(np.mean([r["unknown"] for r in predict.judge(run, pictures)]))
        meta = json.loads((Path(os.environ["TRANSFERLAB_HOME"]) / "runs" / run_id / "meta.json").read_text())
        out[sample] = {"own_test_images": len(own), "own_unknown_rate": round(rate(own), 3),
                       "foreign_photos": len(foreign), "foreign_unknown_rate": round(rate(foreign), 3),
                       "threshold": meta["unknown"]["threshold"], "not_sure": meta["not_sure"],
                       "test_accuracy": queue.run(run_id, "cli")["summary"]["test_accuracy"]}
    return out


def balance() -> dict:
    from core.data.splits import Splits
    from core.training.trainer import fit

    common, rare_n, tested = 24, 3, 6
    samples.materialize("mnist", "imb", per_class=common + tested)
    names = store.class_names("imb")
    rare = names[5:]
    by = {c: [r for r in store.records("imb") if r.class_name == c] for c in names}
    splits = Splits(names, [r for c in names for r in by[c][:rare_n if c in rare else common]], [],
                    [r for c in names for r in by[c][-tested:]])
    out = {}
    for option in ("none", "weighted_loss", "balanced_sampler"):
        per_class = fit(probe("imb", epochs=6, class_balance=option), splits=splits)["evaluation"]
        recall = {p["class"]: p["recall"] for p in per_class["per_class"]}
        out[option] = {"rare_recall": round(sum(recall[c] for c in rare) / len(rare), 3),
                       "common_recall": round(sum(recall[c] for c in names if c not in rare) / (len(names) - len(rare)), 3),
                       "balanced_accuracy": round(per_class["balanced_accuracy"], 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("separation", "embed-time", "unknown", "balance"))
    parser.add_argument("--per-class", type=int, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    args = parser.parse_args()
    load_before, started = os.getloadavg(), time.perf_counter()
    if args.part == "separation":
        result = separation(args.per_class or 100)
    elif args.part == "embed-time":
        result = embed_time(args.sizes)
    elif args.part == "unknown":
        result = unknown(args.per_class or 50)
    else:
        result = balance()
    print(json.dumps({"part": args.part, "result": result, "seconds": round(time.perf_counter() - started, 1),
                      "load_before": [round(v, 2) for v in load_before],
                      "load_after": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()

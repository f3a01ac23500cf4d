"""The learning-curve lab: one config trained on growing training subsets, pretrained and from scratch.

Transfer learning's first claim is that a pretrained start helps most when images are few. The lab
makes it measurable on the learner's own data: the same config, split and seed on nested subsets of
the training images (5, 10, 25, 50 … per class: every smaller subset is inside every larger one), each
beside a from-scratch twin, all judged on the one fixed validation and test lists. With a frozen
backbone the pretrained runs share one feature extraction (`training.feature_cache`).
"""
from __future__ import annotations

import dataclasses
import random
import uuid
from collections import defaultdict

from core.config import MULTILABEL, RunConfig
from core.data.store import ImageRecord, require_single_label
from core.errors import UserError
from core.paths import env_owner
from core.runs import leases, queue, status, store
from core.training import curves

SIZES = (5, 10, 25, 50)
KINDS = ("pretrained", "scratch")
PREFIX = "datasize-"


def parse_sizes(text: str) -> tuple[int, ...]:
    """"5,10,25,50" (or with "all") → sorted positive sizes; "all" is every training image (0 here)."""
    sizes = set()
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        if part == "all":
            sizes.add(0)
        elif part.isdigit() and int(part) > 0:
            sizes.add(int(part))
        else:
            raise UserError(f"sizes: {part!r} is not a positive number of images per class (or 'all')")
    if not sizes:
        raise UserError("sizes: give at least one number of images per class, e.g. 5,10,25,50")
    return tuple(sorted(sizes, key=lambda n: (n == 0, n)))


def nested_subsets(train: list[ImageRecord], sizes: tuple[int, ...], seed: int) -> dict[int, list[ImageRecord]]:
    """Per size, up to that many training images of each class (0: all). One seeded order per class,
    cut at each size, so smaller subsets lie inside larger ones; sizes that select the same images
    (a class has fewer than asked) collapse to one entry, keyed by the largest class's count."""
    by_class: dict[int, list[ImageRecord]] = defaultdict(list)
    for record in sorted(train, key=lambda r: r.sha256):  # independent of the order the store returns
        by_class[record.label].append(record)
    for label, records in by_class.items():
        random.Random(f"{seed}:{label}").shuffle(records)
    largest = max((len(r) for r in by_class.values()), default=0)
    out: dict[int, list[ImageRecord]] = {}
    for size in sizes:
        n = largest if size == 0 else min(size, largest)
        chosen = {r.sha256 for records in by_class.values() for r in records[:n]}
        out.setdefault(n, [r for r in train if r.sha256 in chosen])  # the split's own order
    return out


def sweep(config: RunConfig, owner: str | None = None, sizes: tuple[int, ...] = SIZES, hold: bool = False) -> dict:
    """Queue a pretrained and a from-scratch run per subset size. Pretrained runs go first: they share
    one feature extraction and give the learner a curve within seconds."""
    owner = owner or env_owner()
    lab = "the learning-curve lab (it counts training images per class)"
    if config.task == MULTILABEL:
        raise UserError(f"{lab} works on one-class-per-image data only; this run is multi-label")
    if config.data.dataset:
        require_single_label(config.data.dataset, owner, lab)
    lists = queue.check(config, owner, jobs=0)
    subsets = nested_subsets(lists.train, sizes, config.data.split_seed)
    queue.make_room(owner, len(KINDS) * len(subsets))
    group, holder = f"{PREFIX}{uuid.uuid4().hex[:8]}", leases.identity() if hold else None
    variants = {"pretrained": dataclasses.replace(config, baselines=()), "scratch": queue.scratch_config(config)}
    runs: dict[int, dict[str, str]] = defaultdict(dict)
    for kind in KINDS:
        for n, train in subsets.items():
            subset = dataclasses.replace(lists, train=train)
            runs[n][kind] = queue.enqueue(variants[kind], owner, subset, group, f"size:{n}:{kind}", holder)[0]
    return {"sweep": group, "runs": [{"per_class": n, **ids} for n, ids in sorted(runs.items())]}


def results(group: str, owner: str | None = None) -> dict:
    """{"points": [{"per_class", "pretrained", "scratch" (test accuracies), "runs", "status"}, ...],
    "tested": the test images every run of the sweep is scored on}; a point's accuracy is None until its
    run has finished."""
    rows = store.list_runs(owner or env_owner(), parent=group)
    if not rows:
        raise UserError(f"no data-size sweep {group!r}")
    points: dict[int, dict] = defaultdict(lambda: {"runs": {}, "status": {}})
    for row in rows:
        _, n, kind = row["role"].split(":")
        point = points[int(n)]
        point[kind] = row["test_accuracy"] if row["status"] == status.Status.SUCCEEDED else None
        point["runs"][kind], point["status"][kind] = row["id"], row["status"]
    return {"sweep": group, "tested": len(queue.lists(rows[0]["id"], owner or env_owner()).test),  # one list for all
            "points": [{"per_class": n, "pretrained": p.get("pretrained"), "scratch": p.get("scratch"),
                        "runs": p["runs"], "status": p["status"]} for n, p in sorted(points.items())]}


def shapes(point: dict) -> dict | None:
    """One size's two learning curves and the classic comparison: higher start, slope, asymptote."""
    if set(point["runs"]) != set(KINDS):
        return None
    series = {kind: curves.epoch_series(store.metrics(point["runs"][kind], "epoch")) for kind in KINDS}
    return {"series": series, "compare": curves.compare(series["pretrained"], series["scratch"])}


def done(result: dict) -> bool:
    return all(status.is_final(s) for p in result["points"] for s in p["status"].values())


"""The freeze sweep: one run per freeze depth (0..N stages frozen from the input) on the same data,
split and seed, so accuracy and time can be read against depth. Early stages are generic, late ones
specific: the sweep shows where freezing stops paying on the learner's own data."""
from __future__ import annotations

import dataclasses
import uuid

from core import models
from core.config import FreezePlan, RunConfig
from core.runs import leases, queue, store

PREFIX = "sweep-"


def sweep(config: RunConfig, owner: str | None = None, stage_count: int | None = None, hold: bool = False) -> dict:
    """One run per freeze depth; each trains the head first, then fine-tunes what its depth leaves
    open. `hold=True`: the runs belong to this process (trained in it)."""
    owner = owner or queue.default_owner()
    stages = stage_count or models.stage_count(config.backbone)
    lists = queue.check(config, owner, jobs=stages + 1)
    train = dataclasses.replace(config.train, head_epochs=max(1, config.train.head_epochs),
                                finetune_epochs=max(1, config.train.finetune_epochs))
    group, holder = f"{PREFIX}{uuid.uuid4().hex[:8]}", leases.identity() if hold else None
    ids = []
    for k in range(stages + 1):
        variant = dataclasses.replace(config, freeze=FreezePlan(mode="first_k", k=k, bn=config.freeze.bn),
                                      train=train, baselines=())
        ids.append(queue.enqueue(variant, owner, lists, group, f"sweep:{k}", holder)[0])
    return {"sweep": group, "runs": ids}


def sweep_results(group: str, owner: str | None = None) -> list[dict]:
    """One row per depth: frozen stages, run, status, accuracies, seconds (None until it finished)."""
    rows = store.list_runs(owner or queue.default_owner(), parent=group)
    out = [{"frozen_stages": int(r["role"].split(":")[1]), "run_id": r["id"], "status": r["status"],
            "test_accuracy": r["test_accuracy"], "val_accuracy": r["val_accuracy"], "seconds": r["seconds"]}
           for r in rows]
    return sorted(out, key=lambda r: r["frozen_stages"])

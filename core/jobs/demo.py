"""The one-click demo: an offline sample, the scenario it measures as, the recommended backbone
and preset, trained beside a from-scratch baseline. Sized to finish in about a minute on a
2-core CPU: few images per class, and epochs capped."""
from __future__ import annotations

import dataclasses
import time

from core import data, models, presets
from core.config import DataSpec, RunConfig
from core.data import samples
from core.jobs import leases, queue, store, worker
from core.models import imagenet

SAMPLE, PER_CLASS, PROBE_IMAGES = "mnist", 12, 32
HEAD_EPOCHS, FINETUNE_EPOCHS, HEAD_LR = 8, 2, 3e-3  # head epochs on cached features cost ~nothing


def dataset_name() -> str:
    return f"demo-{SAMPLE}-{PER_CLASS}"


def prepare(owner: str) -> tuple[RunConfig, dict]:
    """The demo's RunConfig and what was measured on the way (the sample becomes the owner's)."""
    name = dataset_name()
    if data.store.own(name, owner) is None:
        samples.materialize(SAMPLE, name, per_class=PER_CLASS, owner=owner)
    measured = imagenet.measure(name, "efficientnet_lite0", PROBE_IMAGES, owner=owner)
    picks = presets.recommend(measured["scenario"], models.list_backbones(), count=3)
    choice = "efficientnet_lite0" if "efficientnet_lite0" in picks else picks[0]
    config = presets.preset(measured["scenario"], choice, models.stage_count(choice),
                            RunConfig(data=DataSpec(dataset=name)))
    train = dataclasses.replace(config.train, head_epochs=HEAD_EPOCHS, head_lr=HEAD_LR,
                                finetune_epochs=FINETUNE_EPOCHS if config.train.finetune_epochs else 0)
    return dataclasses.replace(config, train=train, baselines=("scratch",)), {**measured, "backbone": choice}


def run_in_process(owner: str = "demo") -> dict:
    """The whole demo without the UI, timed: what `python -m core demo` reports."""
    started = time.monotonic()
    config, measured = prepare(owner)
    submitted = queue.submit(config, owner, hold=True)
    for run_id in [submitted["run_id"], *submitted["companions"].values()]:
        worker.process(leases.claim_specific(store.latest_job(run_id)["id"]))
    rows = {role: store.run_row(rid) for role, rid in [("main", submitted["run_id"]), *submitted["companions"].items()]}
    return {"seconds": round(time.monotonic() - started, 1), "scenario": config.scenario, "measured": measured,
            "runs": {role: {"run_id": r["id"], "status": r["status"],
                            "test_accuracy": (r.get("summary") or {}).get("test_accuracy"),
                            "seconds": (r.get("summary") or {}).get("seconds")} for role, r in rows.items()}}

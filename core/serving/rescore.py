"""A finished run judged again on its own pinned test list (validation if it has no test images),
with the model rebuilt from its files: what `evaluate --run ID` reports."""
from __future__ import annotations

import torch

from core.data.cache import ImageSet
from core.data.splits import Splits
from core.data.transforms import normalize
from core.errors import UserError
from core.serving.predict import load_run
from core.training.evaluate import report

BATCH = 32


def evaluate_run(run_id: str, lists: Splits) -> dict:
    split = "test" if lists.test else "val"
    records = getattr(lists, split)
    if not records:
        raise UserError(f"run {run_id} has no test or validation images to evaluate on")
    loaded = load_run(run_id)
    images = ImageSet(records, loaded.pre)
    logits = []
    with loaded.lock, torch.inference_mode():
        for start in range(0, len(images), BATCH):
            batch = torch.stack([images[i][0] for i in range(start, min(start + BATCH, len(images)))])
            logits.append(loaded.model(normalize(batch, loaded.pre)).float())
    labels = torch.tensor([r.label for r in records])
    return {"run_id": run_id, "split": split, **report(torch.cat(logits), labels, loaded.classes, [r.id for r in records])}

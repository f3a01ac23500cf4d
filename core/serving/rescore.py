"""A finished run judged again with the model rebuilt from its files: on its own pinned test list
(validation if it has no test images), what `evaluate --run ID` reports; and its highest-loss
training and validation images, where the cleaner looks for label errors (ranked by the training
itself since `training.loss_ranking`; computed here only for a run trained before)."""
from __future__ import annotations

import torch

from core.data.cache import ImageSet
from core.data.splits import Splits
from core.data.store import ImageRecord
from core.data.transforms import normalize
from core.errors import UserError
from core.paths import run_dir
from core.serving.predict import load_run
from core.training import loss_ranking, tasks

BATCH = 32


def evaluate_run(run_id: str, lists: Splits) -> dict:
    split = "test" if lists.test else "val"
    records = getattr(lists, split)
    if not records:
        raise UserError(f"run {run_id} has no test or validation images to evaluate on")
    loaded = load_run(run_id)
    labels = ImageSet(records, loaded.pre).labels()
    found = tasks.for_name(loaded.config.task).report(_logits(loaded, records), labels, loaded.classes,
                                                      [r.id for r in records], loaded.meta.get("thresholds"))
    return {"run_id": run_id, "split": split, **found}


def highest_losses(run_id: str, lists: Splits, top: int = 24) -> list[dict]:
    """The run's training and validation images by cross-entropy under the finished model, highest
    first, with the label it was trained on and what the model says instead: the ranking its training
    kept (`training.loss_ranking`), or for a run trained before that, the model run over them here."""
    kept = loss_ranking.load(run_dir(run_id), top)
    if kept is not None:
        return kept
    records = lists.train + lists.val
    if not records:
        return []
    loaded = load_run(run_id)
    return loss_ranking.rank(_logits(loaded, records), lists.train, lists.val, loaded.classes, top)


def needs_scoring(run_id: str) -> bool:
    """Whether `highest_losses` has to run the model (a run trained before rankings were kept)."""
    return not (run_dir(run_id) / loss_ranking.FILE).exists()


def _logits(loaded, records: list[ImageRecord]) -> torch.Tensor:
    images = ImageSet(records, loaded.pre)
    logits = []
    with loaded.lock, torch.inference_mode():
        for start in range(0, len(images), BATCH):
            batch = torch.stack([images[i][0] for i in range(start, min(start + BATCH, len(images)))])
            logits.append(loaded.model(normalize(batch, loaded.pre)).float())
    return torch.cat(logits)

""""Unknown" and "not sure", both measured on the run's own validation images when training ends.

Unknown (out of distribution): a picture's score is the cosine distance from its pooled trunk features to
the nearest training image's (deep nearest neighbours, Sun et al. 2022: no extra training, works with
any head, and with a handful of images per class where a per-class covariance (Mahalanobis) cannot be
estimated in 1,280 dimensions). The threshold is the score that QUANTILE of the validation images stay
under: 5 % of the run's own kind of pictures are called unknown, and everything further from every
training image than they are. The training features travel with the run (`ood.safetensors`, fp16).

Not sure (known classes, low confidence): the suggested threshold is the lowest confidence at which the
validation predictions kept (confidence at or above it) reach TARGET_PRECISION."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

QUANTILE = 0.95
TARGET_PRECISION = 0.95
BANK_FILE = "ood.safetensors"
CHUNK = 1024  # query rows per similarity matrix: 1024 × 5,000 training images is 20 MB


def normalised(features: torch.Tensor) -> torch.Tensor:
    return F.normalize(features.float().cpu(), dim=-1)


def scores(features: torch.Tensor, bank: torch.Tensor, skip_self: bool = False) -> torch.Tensor:
    """Cosine distance from each row of `features` to its nearest row of `bank` (both unit rows);
    `skip_self`: features *are* the bank, each row's own match is left out."""
    out = []
    for start in range(0, len(features), CHUNK):
        sims = features[start:start + CHUNK] @ bank.float().T
        if skip_self:
            sims[torch.arange(len(sims)), torch.arange(start, start + len(sims))] = -2.0
        out.append(1.0 - sims.max(-1).values)
    return torch.cat(out) if out else torch.empty(0)


def reference(train: torch.Tensor, val: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The bank (unit training features) and the threshold facts, from validation images (or, without
    any, each training image against the others)."""
    bank = normalised(train)
    held_out = len(val) > 0
    measured = scores(normalised(val), bank) if held_out else scores(bank, bank, skip_self=True)
    threshold = float(torch.quantile(measured, QUANTILE)) if len(measured) else 1.0
    return bank, {"threshold": round(threshold, 6), "quantile": QUANTILE, "reference_images": len(bank),
                  "measured_on": "validation" if held_out else "training (each against the others)",
                  "images": len(measured)}


def suggest_confidence(logits: torch.Tensor, labels: torch.Tensor, target: float = TARGET_PRECISION) -> dict | None:
    """The lowest confidence whose kept predictions reach `target` precision on validation (None: no
    validation images, or no threshold reaches it)."""
    if not len(labels):
        return None
    conf, pred = logits.float().softmax(-1).max(-1)
    order = conf.argsort(descending=True)
    right = (pred[order] == labels[order]).float().cumsum(0)
    precision = right / torch.arange(1, len(order) + 1)
    reached = (precision >= target).nonzero()
    if not len(reached):
        return None
    last = int(reached[-1])  # the most predictions kept at the target precision
    return {"confidence": round(float(conf[order][last]), 4), "precision": target,
            "kept": round((last + 1) / len(order), 4)}


def save_bank(folder: Path, bank: torch.Tensor) -> None:
    save_file({"features": bank.half().contiguous()}, str(folder / BANK_FILE))


def load_bank(folder: Path) -> torch.Tensor | None:
    path = Path(folder) / BANK_FILE
    return load_file(str(path))["features"].float() if path.exists() else None

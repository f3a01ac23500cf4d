"""What a classifier's output means to a person: the top-k classes with their probabilities."""
from __future__ import annotations

import torch


def top_k(probs: torch.Tensor, labels: list[str], k: int = 5) -> list[list[dict]]:
    """One list per image of {"index", "label", "prob"}, most probable first."""
    values, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [[{"index": int(i), "label": labels[int(i)], "prob": round(float(v), 6)}
             for v, i in zip(row_v, row_i)] for row_v, row_i in zip(values, indices)]

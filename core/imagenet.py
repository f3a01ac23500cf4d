"""What the pretrained network itself sees in an image: its own ImageNet top-k.

Also how the app probes "similarity to ImageNet": confident predictions mean the images look like
the photos the backbone learned from.
"""
from __future__ import annotations

import functools

import torch

from core import backbones
from core.preprocess import batch


@functools.lru_cache(maxsize=1)
def labels() -> list[str]:
    """ImageNet-1k class names, shipped with torchvision (the same order for every 1k model)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


@functools.lru_cache(maxsize=2)
def pretrained_network(name: str):
    """Read-only: built once per process, used under inference_mode only."""
    return backbones.get(name).network(pretrained=True)


def probabilities(name: str, images: list, chunk: int = 16) -> torch.Tensor:
    """Softmax over the 1000 ImageNet classes for each PIL image."""
    entry = backbones.get(name)
    net, pre = pretrained_network(name), entry.preprocess()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), chunk):
            out.append(net(batch(images[start:start + chunk], pre)).float().softmax(-1))
    return torch.cat(out) if out else torch.empty(0, 1000)


def top_k(probs: torch.Tensor, k: int = 5) -> list[list[dict]]:
    names = labels()
    values, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [[{"index": int(i), "label": names[int(i)], "prob": round(float(v), 6)}
             for v, i in zip(row_v, row_i)] for row_v, row_i in zip(values, indices)]


def similarity(probs: torch.Tensor) -> dict:
    """Mean top-1 confidence and mean normalised entropy (0 = certain, 1 = uniform)."""
    if len(probs) == 0:
        return {"mean_top1": 0.0, "mean_entropy": 1.0, "images": 0}
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1) / torch.log(torch.tensor(probs.shape[-1]))
    return {"mean_top1": round(float(probs.max(-1).values.mean()), 4),
            "mean_entropy": round(float(entropy.mean()), 4), "images": len(probs)}

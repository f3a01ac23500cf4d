"""What the pretrained network itself sees in an image: its own ImageNet top-k.

Also how the app probes "similarity to ImageNet": confident predictions mean the images look like
the photos the backbone learned from; `measure` places a stored dataset on the scenario grid.
"""
from __future__ import annotations

import functools
import threading

import torch

from core import scenarios
from core.data import store
from core.data.images import decode
from core.data.transforms import model_input
from core.models import registry
from core.models.outputs import top_k as _top_k

_build_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def labels() -> list[str]:
    """ImageNet-1k class names, shipped with torchvision (the same order for every 1k model)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def pretrained_network(name: str):
    """Read-only: built once per process (under a lock: sessions share the process), then used
    only under inference_mode, which changes no state."""
    with _build_lock:
        return _network(name)


@functools.lru_cache(maxsize=2)
def _network(name: str):
    return registry.get(name).network(pretrained=True)


def probabilities(name: str, images: list, chunk: int = 16) -> torch.Tensor:
    """Softmax over the 1000 ImageNet classes for each PIL image."""
    net, pre = pretrained_network(name), registry.get(name).preprocess()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), chunk):
            out.append(net(model_input(images[start:start + chunk], pre)).float().softmax(-1))
    return torch.cat(out) if out else torch.empty(0, 1000)


def top_k(probs: torch.Tensor, k: int = 5) -> list[list[dict]]:
    return _top_k(probs, labels(), k)


def similarity(probs: torch.Tensor) -> dict:
    """Mean top-1 confidence and mean normalised entropy (0 = certain, 1 = uniform)."""
    if len(probs) == 0:
        return {"mean_top1": 0.0, "mean_entropy": 1.0, "images": 0}
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1) / torch.log(torch.tensor(probs.shape[-1]))
    return {"mean_top1": round(float(probs.max(-1).values.mean()), 4),
            "mean_entropy": round(float(entropy.mean()), 4), "images": len(probs)}


def measure(dataset: str, probe: str = "efficientnet_lite0", sample: int = 32, owner: str | None = None) -> dict:
    """Where a stored dataset sits on the grid: images per class, and the probe network's mean
    ImageNet top-1 confidence over an evenly spread sample of its images."""
    records = store.records(dataset, owner)
    step = max(1, len(records) // sample)
    pictures = [decode(store.read_bytes(r.sha256)) for r in records[::step][:sample]]
    found = similarity(probabilities(probe, pictures))
    counts = [n for n in store.class_counts(dataset, owner).values() if n]
    per_class = sum(counts) / max(len(counts), 1)
    return {"per_class": per_class, "similarity": found["mean_top1"], "entropy": found["mean_entropy"],
            "images": found["images"], "scenario": scenarios.place(per_class, found["mean_top1"]),
            "dataset": dataset, "probe": probe}

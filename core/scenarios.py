"""The four transfer-learning scenarios: where a dataset sits on the size × similarity grid, and
what that means for freezing and learning rates.

Thresholds (documented, tunable in one place):
- SMALL_PER_CLASS: a dataset with fewer labelled images per class than this is "small". Below a few
  hundred images per class, fine-tuning millions of weights overfits; the pretrained features are
  worth more than what the data can teach.
- SIMILAR_CONFIDENCE: the pretrained model's mean top-1 ImageNet probability over a sample of the
  images. Photos of everyday objects score high; digits, X-rays or satellite tiles score low because
  no ImageNet class fits them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.config import AugmentSpec, FreezePlan, RunConfig

SMALL_PER_CLASS = 250
SIMILAR_CONFIDENCE = 0.35
# Fine-tuning pretrained stages with BatchNorm in train mode lets small, unlike batches rewrite the
# ImageNet statistics: measured on 120 MNIST digits (S2, Lite0) train accuracy fell from 0.96 to 0.25
# at the switch to fine-tuning; with every BatchNorm kept in eval mode it stayed at 0.90+.
SMALL_DATA_BN = "all_eval"


@dataclass(frozen=True)
class Scenario:
    code: str
    title: str
    size: str  # "small" | "large"
    similarity: str  # "similar" | "dissimilar"
    strategy: str
    explanation: str
    freezing: str
    learning_rate: str


SCENARIOS = {
    "S1": Scenario(
        "S1", "Small dataset, similar to ImageNet", "small", "similar", "Feature extraction",
        "Your images look like the photos the backbone learned from, and there are few of them. "
        "Its features already describe your classes well; only a new head has to learn how to "
        "combine them. Training more than the head would mostly memorise your few images.",
        "Freeze the whole backbone; train only the new head.",
        "A normal learning rate for the head (1e-3). Fast: features can be computed once."),
    "S2": Scenario(
        "S2", "Small dataset, different from ImageNet", "small", "dissimilar", "Fine-tune the top",
        "Your images differ from everyday photos, and there are few of them. The early stages "
        "(edges, textures) still transfer; the later stages encode ImageNet-specific parts and "
        "objects, so they are retrained while the early stages stay frozen to avoid overfitting.",
        "Freeze the early stages; retrain the higher stages and the head.",
        "Train the head first, then fine-tune the open stages at a lower rate (3e-4)."),
    "S3": Scenario(
        "S3", "Large dataset, different from ImageNet", "large", "dissimilar", "Train everything",
        "You have plenty of images and they differ from ImageNet. The data can support training "
        "every layer; pretrained weights are still a good starting point, and a from-scratch run "
        "beside it shows how much the transfer helps.",
        "Freeze nothing; compare against training from scratch.",
        "A higher fine-tune rate (1e-3) with the same rate for every stage."),
    "S4": Scenario(
        "S4", "Large dataset, similar to ImageNet", "large", "similar", "Fine-tune everything gently",
        "You have plenty of images that resemble ImageNet photos. Every layer can adapt a little "
        "without forgetting what it knows, so the whole network is fine-tuned at a low rate.",
        "Freeze nothing after a short head-only warm-up.",
        "A low rate (1e-4), lower still for early stages (discriminative rates)."),
}


def measure(dataset: str, probe: str = "efficientnet_lite0", sample: int = 32) -> dict:
    """Where a stored dataset sits on the grid: images per class, and the probe network's mean
    ImageNet top-1 confidence over an evenly spread sample of its images."""
    from core import data, imagenet
    from core.images import decode

    records = data.records(dataset)
    step = max(1, len(records) // sample)
    pictures = [decode(data.read_bytes(r.sha256)) for r in records[::step][:sample]]
    similarity = imagenet.similarity(imagenet.probabilities(probe, pictures))
    counts = [n for n in data.class_counts(dataset).values() if n]
    per_class = sum(counts) / max(len(counts), 1)
    return {"per_class": per_class, "similarity": similarity["mean_top1"], "entropy": similarity["mean_entropy"],
            "images": similarity["images"], "scenario": place(per_class, similarity["mean_top1"]),
            "dataset": dataset, "probe": probe}


def place(images_per_class: float, similarity: float) -> str:
    """The scenario for a dataset's size and measured similarity."""
    small = images_per_class < SMALL_PER_CLASS
    similar = similarity >= SIMILAR_CONFIDENCE
    return {(True, True): "S1", (True, False): "S2", (False, False): "S3", (False, True): "S4"}[(small, similar)]


def preset(code: str, backbone: str = "efficientnet_lite0", stage_count: int | None = None,
           base: RunConfig | None = None) -> RunConfig:
    """A runnable RunConfig for the scenario; `stage_count` (backbone stages) sizes S2's freeze."""
    base = base or RunConfig()
    if code not in SCENARIOS:
        from core.errors import ConfigError

        raise ConfigError("scenario", f"'{code}' is not one of {', '.join(SCENARIOS)}")
    train, freeze, extra = _recipe(code, stage_count)
    return dataclasses.replace(base, scenario=code, backbone=backbone, freeze=freeze,
                               train=dataclasses.replace(base.train, **train), **extra)


def _recipe(code: str, stage_count: int | None):
    if code == "S1":
        return ({"head_epochs": 8, "finetune_epochs": 0, "head_lr": 1e-3},
                FreezePlan(mode="all_but_head"), {"augment": AugmentSpec(preset="none")})
    if code == "S2":
        k = max(1, (stage_count or 4) // 2)
        return ({"head_epochs": 3, "finetune_epochs": 6, "head_lr": 1e-3, "finetune_lr": 3e-4,
                 "lr_factor": 0.5}, FreezePlan(mode="first_k", k=k, bn=SMALL_DATA_BN),
                {"augment": AugmentSpec(preset="light")})
    if code == "S3":
        return ({"head_epochs": 1, "finetune_epochs": 10, "head_lr": 1e-3, "finetune_lr": 1e-3,
                 "lr_factor": 1.0}, FreezePlan(mode="none"),
                {"augment": AugmentSpec(preset="strong"), "baselines": ("scratch",)})
    return ({"head_epochs": 2, "finetune_epochs": 6, "head_lr": 1e-3, "finetune_lr": 1e-4,
             "lr_factor": 0.3}, FreezePlan(mode="none", bn=SMALL_DATA_BN), {"augment": AugmentSpec(preset="light")})


def describe_all() -> list[dict]:
    return [dataclasses.asdict(s) for s in SCENARIOS.values()]




AVAILABLE = ("bundled", "cached", "download", "trained")
RECOMMEND_MAX_PARAMS = {"S1": 30e6, "S2": 30e6, "S3": 100e6, "S4": 100e6}


def recommend(code: str, infos: list, count: int = 3) -> list[str]:
    """Backbones to suggest: weights usable right now, small enough for the scenario's data
    (small datasets overfit big networks), best published ImageNet top-1 first; a bundled
    backbone is always among them so the suggestion works offline."""
    limit = RECOMMEND_MAX_PARAMS.get(code, 30e6)
    usable = [b for b in infos if b.weights in AVAILABLE and b.source != "run" and (b.params or 0) <= limit]
    ranked = sorted(usable, key=lambda b: (b.top1 is None, -(b.top1 or 0), b.params or 0))
    picks = [b.name for b in ranked if b.top1 is not None][:count]
    bundled = [b.name for b in usable if b.weights == "bundled"]
    if bundled and not set(bundled) & set(picks):
        picks = picks[:count - 1] + [bundled[0]]
    return picks or bundled[:count]

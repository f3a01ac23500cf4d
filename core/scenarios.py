"""The four transfer-learning scenarios: where a dataset sits on the size × similarity grid, and
what that means for freezing and learning rates. A leaf: plain data and rules only.

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

SMALL_PER_CLASS = 250
SIMILAR_CONFIDENCE = 0.35


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
CODES = tuple(SCENARIOS)


def place(images_per_class: float, similarity: float) -> str:
    """The scenario for a dataset's size and measured similarity."""
    small = images_per_class < SMALL_PER_CLASS
    similar = similarity >= SIMILAR_CONFIDENCE
    return {(True, True): "S1", (True, False): "S2", (False, False): "S3", (False, True): "S4"}[(small, similar)]


def size_bucket(images_per_class: float) -> str:
    return "small" if images_per_class < SMALL_PER_CLASS else "large"


def s2_frozen_stages(stage_count: int | None) -> int:
    """S2 freezes the early half of the backbone (at least one stage): the generic edge and texture
    stages stay, the ImageNet-specific later half is retrained."""
    return max(1, (stage_count or 4) // 2)


def describe_all() -> list[dict]:
    return [dataclasses.asdict(s) for s in SCENARIOS.values()]

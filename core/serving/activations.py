"""What each stage sees: the feature maps a backbone's stages hand on for one image, and how generic
each stage is for a dataset's classes.

A stage's view is the last spatial tensor produced while that stage runs, found with forward hooks:
modules whose parameters all belong to one stage (from `entry.stage_list()`) belong to it, and the
parameter-free modules that run after them (ReLU, max-pool) ride with the stage that started last, so
ResNet's stem ends after its max-pool, as the next stage receives it. Global pools (1×1 maps) and the
pre-logits vectors some classifiers keep count only where a stage has nothing else (MobileNetV3's last
stage is its pre-logits layer: a 1×1 view). Token stages (ViT) are shown on
their patch grid, the class and register tokens dropped.

How generic a stage is: a linear probe (logistic regression) on the stage's globally pooled features,
cross-validated on the dataset's *training* images (at most `PROBE_PER_CLASS` per class; validation
and test images are never touched). The freeze recommendation points at the earliest stage whose
probe accuracy is within `NEAR_BEST` of the best stage's: everything up to it already separates the
classes as well as anything later, so it stays frozen and the later, more ImageNet-specific stages are
retrained (S2); when that stage is the last one, the whole backbone stays frozen (S1).
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from core.config import WEIGHTS, DataSpec
from core.data.cache import ImageSet
from core.data.splits import for_spec
from core.data.transforms import model_input, normalize
from core.errors import UserError
from core.models import registry
from core.models.weights import read_state_dict

TOP_MAPS = 6  # strongest channels shown per stage
MAP_SIDE = 56  # larger maps are averaged down to this: the UI shows thumbnails
PROBE_PER_CLASS = 20  # training images per class the probe sees: seconds on a CPU, not minutes
PROBE_FOLDS = 4
NEAR_BEST = 0.03  # probe accuracy this close to the best stage's counts as "as good"
MAX_PREFIX_TOKENS = 8  # class + distillation + register tokens before the patch grid
BATCH = 16


def trunk_for(backbone: str, weights: str = "imagenet") -> tuple[nn.Module, list, object]:
    """A fresh trunk (never shared: hooks go on it), its stages and its preprocessing. `weights` as
    in RunConfig: 'imagenet' (for `run:ID` the run's trained weights), 'none' (random) or 'file:PATH'."""
    if weights not in WEIGHTS and not weights.startswith("file:"):
        raise UserError(f"weights must be {', '.join(WEIGHTS)} or file:PATH, got {weights!r}")
    entry = registry.get(backbone)
    if weights.startswith("file:"):
        path = weights[len("file:"):]
        anatomy = entry.anatomy(False, state=read_state_dict(path), source=os.path.basename(path))
    else:
        anatomy = entry.anatomy(pretrained=weights == "imagenet")
    return anatomy.trunk.eval(), anatomy.stages, entry.preprocess()


def as_map(tensor) -> torch.Tensor | None:
    """A stage output as (N, C, H, W): NCHW as is, NHWC (Swin) permuted, tokens (N, T, C) on their
    patch grid without the prefix tokens, vectors (N, C) as 1×1 maps (the pre-logits layers some
    classifiers keep form a stage of their own); None for anything else. Inputs are square crops, so
    a 4-D map whose last two sides differ is channels-last."""
    if not torch.is_tensor(tensor) or not tensor.is_floating_point():
        return None
    if tensor.dim() == 2:
        return tensor[:, :, None, None]
    if tensor.dim() == 4:
        return tensor if tensor.shape[2] == tensor.shape[3] else tensor.permute(0, 3, 1, 2)
    if tensor.dim() == 3:
        side = math.isqrt(tensor.shape[1])
        prefix = tensor.shape[1] - side * side
        if side < 2 or prefix > MAX_PREFIX_TOKENS:
            return None
        grid = tensor[:, prefix:, :].reshape(tensor.shape[0], side, side, tensor.shape[2])
        return grid.permute(0, 3, 1, 2)
    return None


class StageTaps:
    """Forward hooks that keep, per stage, the last spatial map produced while that stage runs."""

    def __init__(self, trunk: nn.Module, stages: list):
        self.names = [s.name for s in stages]
        self.owner = _module_stages(trunk, stages)
        self.spanning = _containers_of(self.owner)
        self.current, self.views, self.handles = 0, {}, []
        for name, module in trunk.named_modules():
            if name:
                self.handles.append(module.register_forward_pre_hook(self._started(name)))
                self.handles.append(module.register_forward_hook(self._finished(name)))

    def _started(self, name: str):
        def hook(_module, _inputs):
            if name in self.owner:
                self.current = max(self.current, self.owner[name])
        return hook

    def _finished(self, name: str):
        def hook(_module, _inputs, output):
            stage = self.owner.get(name, self.current)
            if name not in self.spanning:
                self._keep(stage, as_map(output))
        return hook

    def _keep(self, stage: int, fmap: torch.Tensor | None) -> None:
        if fmap is None:
            return
        held = self.views.get(stage)
        if held is not None and fmap.shape[2] * fmap.shape[3] == 1 < held.shape[2] * held.shape[3]:
            return  # a global pool or a pre-logits vector after the stage's real last map
        self.views[stage] = fmap

    def run(self, trunk: nn.Module, batch: torch.Tensor) -> list[torch.Tensor]:
        """One map per stage, input → output order, for this batch."""
        self.current, self.views = 0, {}
        with torch.inference_mode():
            trunk(batch)
        missing = [self.names[i] for i in range(len(self.names)) if i not in self.views]
        if missing:
            raise UserError(f"no feature map found for stage(s) {', '.join(missing)} of this backbone")
        return [self.views[i] for i in range(len(self.names))]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _module_stages(trunk: nn.Module, stages: list) -> dict[str, int]:
    """Module name → stage, for modules whose parameters all belong to one stage."""
    owner = {p: i for i, s in enumerate(stages) for p in s.params}
    out = {}
    for name, module in trunk.named_modules():
        found = {owner.get(f"{name}.{p}") for p, _ in module.named_parameters()}
        if name and len(found) == 1 and None not in found:
            out[name] = found.pop()
    return out


def _containers_of(owner: dict[str, int]) -> set[str]:
    """Modules above stage modules that belong to no one stage (`features`, `blocks`): their output
    is no one stage's view."""
    return {name.rsplit(".", depth)[0] for name in owner for depth in range(1, name.count(".") + 1)} - set(owner)


# ---- one image: the strongest maps of each stage ----------------------------------------------------
def stage_views(backbone: str, picture: Image.Image, weights: str = "imagenet", top: int = TOP_MAPS) -> list[dict]:
    """One entry per stage (stem → last; not the head): name, height, width, channels and the `top`
    channels with the highest mean activation, each as a small uint8 grid."""
    trunk, stages, pre = trunk_for(backbone, weights)
    taps = StageTaps(trunk, stages)
    try:
        maps = taps.run(trunk, model_input([picture.convert("RGB")], pre))
    finally:
        taps.remove()
    return [_describe(stage.name, fmap[0], top) for stage, fmap in zip(stages, maps)]


def _describe(name: str, fmap: torch.Tensor, top: int) -> dict:
    channels, height, width = fmap.shape
    scores = fmap.float().mean(dim=(1, 2))
    strongest = scores.topk(min(top, channels)).indices.tolist()
    return {"name": name, "height": int(height), "width": int(width), "channels": int(channels),
            "maps": [{"channel": c, "score": round(float(scores[c]), 5), "grid": _grid(fmap[c])} for c in strongest]}


def _grid(plane: torch.Tensor) -> np.ndarray:
    """A map as uint8 (0 = its weakest response, 255 = its strongest), at most MAP_SIDE a side."""
    plane = plane.float()
    if max(plane.shape) > MAP_SIDE:
        plane = F.adaptive_avg_pool2d(plane[None, None], (MAP_SIDE, MAP_SIDE))[0, 0]
    low, span = plane.min(), (plane.max() - plane.min()).clamp_min(1e-8)
    return ((plane - low) / span * 255).round().to(torch.uint8).numpy()


# ---- a dataset: how well each stage's features separate its classes --------------------------------
def probe_stages(backbone: str, dataset: str, owner: str | None = None, weights: str = "imagenet",
                 per_class: int = PROBE_PER_CLASS) -> list[dict]:
    """Per stage: cross-validated accuracy of a linear probe on its pooled features, on at most
    `per_class` training images per class of `dataset` (the split the runs use, default fractions)."""
    splits = for_spec(DataSpec(dataset=dataset, per_class_limit=per_class), owner, tool="the per-stage class probe")
    labels = np.array([r.label for r in splits.train])
    folds = min(PROBE_FOLDS, int(np.bincount(labels, minlength=len(splits.classes)).min()))
    if folds < 2:
        raise UserError(f"dataset {dataset!r}: the probe needs at least 2 training images in every class")
    features = _pooled_features(backbone, splits.train, weights)
    return [{"name": name, "probe_accuracy": _probe_accuracy(x, labels, folds)} for name, x in features]


def _pooled_features(backbone: str, records: list, weights: str) -> list[tuple[str, np.ndarray]]:
    """Each stage's globally averaged features for every record, in stage order."""
    trunk, stages, pre = trunk_for(backbone, weights)
    images, taps = ImageSet(records, pre), StageTaps(trunk, stages)
    pooled: list[list[torch.Tensor]] = [[] for _ in stages]
    try:
        for start in range(0, len(images), BATCH):
            batch = torch.stack([images[i][0] for i in range(start, min(start + BATCH, len(images)))])
            for i, fmap in enumerate(taps.run(trunk, normalize(batch, pre))):
                pooled[i].append(fmap.float().mean(dim=(2, 3)))
    finally:
        taps.remove()
    return [(stage.name, torch.cat(chunks).numpy()) for stage, chunks in zip(stages, pooled)]


def _probe_accuracy(features: np.ndarray, labels: np.ndarray, folds: int) -> float:
    """Stratified k-fold accuracy of a standardised logistic regression: deterministic (no shuffle)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=0.5))
    scores = cross_val_score(probe, features, labels, cv=StratifiedKFold(folds))
    return round(float(scores.mean()), 4)


def recommend(probes: list[dict]) -> dict:
    """The freeze plan the probe points at (see the module docstring): first_k up to the earliest
    stage within NEAR_BEST of the best, or the whole backbone when that is the last stage. `verdict` says
    the same in one clause, for a caption: both sentences a page shows come from this one rule."""
    accuracies = [p["probe_accuracy"] for p in probes]
    best = max(accuracies)
    index = next(i for i, a in enumerate(accuracies) if a >= best - NEAR_BEST)
    stage = probes[index]["name"]
    if index == len(probes) - 1:
        return {"mode": "all_but_head", "k": len(probes), "stage": stage,
                "verdict": "the deepest features already serve your classes: freezing the backbone loses little",
                "reason": f"the last stage, {stage}, separates your classes best ({best:.0%}): keep the whole "
                          "backbone frozen and train the head (feature extraction)"}
    later = [p["name"] for p in probes[index + 1:]]
    return {"mode": "first_k", "k": index + 1, "stage": stage,
            "verdict": f"{stage} already serves your classes about as well as any later stage, so the later "
                       f"{'stage, ' if len(later) == 1 else 'stages, '}{_span(later)}, "
                       f"{'is' if len(later) == 1 else 'are'} the one{'' if len(later) == 1 else 's'} to retrain",
            "reason": f"{_why_stage(probes, index)}: keep {probes[0]['name']}..{stage} frozen and retrain the "
                      "later, more ImageNet-specific stages"}


def _span(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"


def _why_stage(probes: list[dict], index: int) -> str:
    accuracies = [p["probe_accuracy"] for p in probes]
    stage, best, last = probes[index]["name"], max(accuracies), probes[-1]
    if accuracies[index] == best:
        return (f"{stage} separates your classes best ({best:.0%}); the last stage, {last['name']}, "
                f"reaches {last['probe_accuracy']:.0%}")
    best_name = probes[accuracies.index(best)]["name"]
    return (f"{stage} already separates your classes about as well ({accuracies[index]:.0%}) as the best stage, "
            f"{best_name} ({best:.0%})")


def what_stages_see(backbone: str, picture: Image.Image, dataset: str | None = None, owner: str | None = None,
                    weights: str = "imagenet", top: int = TOP_MAPS) -> dict:
    """The stage views for one image; with a dataset, each stage's probe accuracy and the freeze
    recommendation as well."""
    views = stage_views(backbone, picture, weights, top)
    if not dataset:
        return {"backbone": backbone, "stages": views}
    probes = probe_stages(backbone, dataset, owner, weights)
    for view, probe in zip(views, probes):
        view["probe_accuracy"] = probe["probe_accuracy"]
    return {"backbone": backbone, "stages": views, "recommendation": recommend(probes)}

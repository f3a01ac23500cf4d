"""Predictions from a finished run, rebuilt from its files alone (config.json, meta.json,
model.safetensors)."""
from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict

import numpy as np
import torch
from safetensors.torch import load_file

from core.config import RunConfig
from core.data.transforms import Preprocess, model_input
from core.errors import UserError
from core.models.outputs import top_k as _top_k
from core.models.transfer import TransferModel, build_model
from core.paths import run_dir
from core.serving.explain import class_map, overlay
from core.training import ood, tasks

CACHED_RUNS = 4  # models kept per process; each is a few MB to a few hundred


@dataclasses.dataclass
class LoadedRun:
    """A run's model, shared by every session of the server: `lock` serialises each use (a forward
    pass, or Grad-CAM with its hooks and backward pass), so no request sees another's activations."""

    model: TransferModel
    classes: list[str]
    pre: Preprocess
    config: RunConfig
    bank: torch.Tensor | None = None  # unit training features for "unknown" (`training.ood`); None: an older run
    meta: dict = dataclasses.field(default_factory=dict)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)


_cache: OrderedDict[str, LoadedRun] = OrderedDict()
_cache_lock = threading.Lock()
_loading: dict[str, threading.Lock] = {}


def load_run(run_id: str) -> LoadedRun:
    """The run's model from a per-process cache (built once even when sessions ask at once)."""
    with _cache_lock:
        if run_id in _cache:
            _cache.move_to_end(run_id)
            return _cache[run_id]
        loading = _loading.setdefault(run_id, threading.Lock())
    with loading:
        with _cache_lock:
            if run_id in _cache:
                return _cache[run_id]
        loaded = _load(run_id)
        with _cache_lock:
            _cache[run_id] = loaded
            while len(_cache) > CACHED_RUNS:
                _cache.popitem(last=False)
        return loaded


def _load(run_id: str) -> LoadedRun:
    folder = run_dir(run_id)
    if not (folder / "model.safetensors").exists():
        raise UserError(f"run {run_id} has no trained model (it has not finished successfully)")
    return rebuild(folder)


def rebuild(folder) -> LoadedRun:
    """A run's network from its files alone: config.json, meta.json, model.safetensors."""
    config = RunConfig.from_json((folder / "config.json").read_text())
    meta = json.loads((folder / "meta.json").read_text())
    skeleton = dataclasses.replace(config, weights="none")  # the weights come from the run's own file
    model = build_model(skeleton, len(meta["classes"]))
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    pre = Preprocess.from_dict(meta["preprocess"])
    return LoadedRun(model.eval(), meta["classes"], pre, config, ood.load_bank(folder), meta)


def probabilities(run_id: str, images: list) -> torch.Tensor:
    loaded = load_run(run_id)
    batch = model_input(images, loaded.pre)
    with loaded.lock, torch.inference_mode():
        return tasks.for_name(loaded.config.task).probabilities(loaded.model(batch))


def top_k(run_id: str, images: list, k: int = 5) -> list[list[dict]]:
    return _top_k(probabilities(run_id, images), load_run(run_id).classes, k)


def judge(run_id: str, images: list, k: int = 5) -> list[dict]:
    """Per picture: its top-k (a multi-label run: also each label's probability against its threshold, `labels`,
    and `none` when no label passes), and whether it looks like none of the classes: `unknown` when its features are
    further (`ood_score`) from every training image's than the run's threshold (`ood_threshold`, set on its
    validation images). A run trained before the check has no threshold: never unknown, score None."""
    loaded = load_run(run_id)
    batch = model_input(images, loaded.pre)
    with loaded.lock, torch.inference_mode():
        features = loaded.model.trunk(batch)
        task = tasks.for_name(loaded.config.task)
        probs = task.probabilities(loaded.model.head(features))
    looks = unknown(loaded, features)
    return [{**row, **look} for row, look in zip(task.judged(probs, loaded.classes, loaded.meta, k), looks)]


def unknown(loaded: LoadedRun, features: torch.Tensor) -> list[dict]:
    threshold = (loaded.meta.get("unknown") or {}).get("threshold")
    if loaded.bank is None or threshold is None:
        return [{"unknown": False, "ood_score": None, "ood_threshold": None} for _ in range(len(features))]
    found = ood.scores(ood.normalised(features), loaded.bank)
    return [{"unknown": bool(score > threshold), "ood_score": round(float(score), 6), "ood_threshold": threshold}
            for score in found]


def suggested_confidence(run_id: str) -> dict | None:
    """The "not sure" threshold suggested on the run's validation images (`training.ood.suggest_confidence`)."""
    return load_run(run_id).meta.get("not_sure")


def explain(run_id: str, picture, class_index: int | None = None, method: str = "gradcam", k: int = 5) -> dict:
    """A class activation map for one PIL image (`method`: one of explain.METHODS): the cropped picture
    the model saw, the heat map over it, the class explained and its probability, and `judged`: what
    `judge` says of the picture (top-k, unknown), read from the map's own forward pass, so a picture shown
    with its map costs one pass through the network, not two."""
    loaded = load_run(run_id)
    task = tasks.for_name(loaded.config.task)
    x = model_input([picture], loaded.pre)
    features: list[torch.Tensor] = []
    with loaded.lock:
        hook = loaded.model.trunk.register_forward_hook(lambda _m, _i, out: features.append(out.detach()))
        try:
            found = class_map(loaded.model, x, class_index, method=method, probabilities=task.probabilities)
        finally:
            hook.remove()
    heat, index, prob = found["heat"], found["index"], found["prob"]
    mean, std = torch.tensor(loaded.pre.mean).view(3, 1, 1), torch.tensor(loaded.pre.std).view(3, 1, 1)
    seen = ((x[0] * std + mean).clamp(0, 1) * 255).permute(1, 2, 0).numpy().astype(np.uint8)
    judged = {**task.judged(found["probs"][None], loaded.classes, loaded.meta, k)[0], **unknown(loaded, features[-1])[0]}
    return {"picture": seen, "overlay": overlay(seen, heat), "heat": heat, "index": index,
            "label": loaded.classes[index], "prob": prob, "judged": judged}

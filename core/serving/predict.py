"""Predictions from a finished run, rebuilt from its files alone (config.json, meta.json,
model.safetensors)."""
from __future__ import annotations

import dataclasses
import functools
import json
import threading

import numpy as np
import torch
from safetensors.torch import load_file

from core.config import RunConfig
from core.data.transforms import Preprocess, model_input
from core.errors import UserError
from core.models.outputs import top_k as _top_k
from core.models.transfer import TransferModel, build_model
from core.paths import run_dir
from core.serving.explain import grad_cam, overlay


_explain_lock = threading.Lock()  # Grad-CAM hooks and backward passes on a model shared by sessions


@dataclasses.dataclass
class LoadedRun:
    model: TransferModel
    classes: list[str]
    pre: Preprocess
    config: RunConfig


@functools.lru_cache(maxsize=4)
def load_run(run_id: str) -> LoadedRun:
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
    return LoadedRun(model.eval(), meta["classes"], pre, config)


def probabilities(run_id: str, images: list) -> torch.Tensor:
    loaded = load_run(run_id)
    with torch.inference_mode():
        return loaded.model(model_input(images, loaded.pre)).float().softmax(-1)


def top_k(run_id: str, images: list, k: int = 5) -> list[list[dict]]:
    return _top_k(probabilities(run_id, images), load_run(run_id).classes, k)


def explain(run_id: str, picture, class_index: int | None = None) -> dict:
    """Grad-CAM for one PIL image: the cropped picture the model saw, the heat map over it, the
    class explained and its probability."""
    loaded = load_run(run_id)
    x = model_input([picture], loaded.pre)
    with _explain_lock:
        heat, index = grad_cam(loaded.model, x, class_index)
    mean, std = torch.tensor(loaded.pre.mean).view(3, 1, 1), torch.tensor(loaded.pre.std).view(3, 1, 1)
    seen = ((x[0] * std + mean).clamp(0, 1) * 255).permute(1, 2, 0).numpy().astype(np.uint8)
    with torch.inference_mode():
        prob = float(loaded.model(x).softmax(-1)[0, index])
    return {"picture": seen, "overlay": overlay(seen, heat), "heat": heat, "index": index,
            "label": loaded.classes[index], "prob": prob}

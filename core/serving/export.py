"""Export a finished run: TorchScript, ONNX (preprocessing inside the graph), safetensors +
RunConfig JSON. Each export is verified by re-scoring the validation split with the exported
artefact and comparing with the app's own predictions (top-1 agreement, max probability
difference). A model card (markdown) describes data, backbone, freezing, training and metrics."""
from __future__ import annotations

import copy
import json
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.config import EXPORT_FORMATS
from core.data.cache import ImageSet
from core.data.splits import Splits
from core.errors import UserError
from core.paths import run_dir
from core.serving.predict import LoadedRun, load_run, rebuild


class Packaged(nn.Module):
    """uint8-range image batch (N, 3, H, W, values 0..255) → class probabilities: the weights'
    scaling and normalisation travel inside the exported graph."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model((image.float() - self.mean) / self.std).softmax(-1)


def export(run: dict, fmt: str, out: str | Path, lists: Splits) -> dict:
    """`run`: the run as the job store gives it (config, summary, evaluation); `lists`: its pinned
    image lists, whose validation images (test if none) verify the export."""
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    run_id = run["id"]
    loaded = load_run(run_id)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with loaded.lock:  # tracing and exporting take seconds: work on a copy, not the model sessions share
        packaged = Packaged(copy.deepcopy(loaded.model), loaded.pre.mean, loaded.pre.std).eval()
    images, reference = _validation_batch(run_id, loaded, lists)
    score = {"onnx": _onnx, "torchscript": _torchscript, "safetensors": _safetensors}[fmt]
    probs = score(packaged, run, images, out)
    return {"path": str(out), "format": fmt, "images": len(images), **_agreement(reference, probs)}


def _validation_batch(run_id: str, loaded, lists: Splits) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's validation images (test if it has none) as the app sees them, and the app's own
    probabilities for them."""
    records = lists.val or lists.test
    if not records:
        raise UserError(f"run {run_id} has no validation or test images to verify the export on")
    image_set = ImageSet(records, loaded.pre)
    images = torch.stack([image_set[i][0] for i in range(len(image_set))]).float()
    with loaded.lock, torch.inference_mode():
        reference = Packaged(loaded.model, loaded.pre.mean, loaded.pre.std).eval()(images)
    return images, reference


def _onnx(packaged: nn.Module, run: dict, images: torch.Tensor, out: Path) -> torch.Tensor:
    import onnxruntime as ort

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter warns that it is the old one
        torch.onnx.export(packaged, (images[:1],), str(out), dynamo=False, input_names=["image"],
                          output_names=["probabilities"], dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
                          opset_version=17)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    chunks = [session.run(None, {"image": images[i:i + 32].numpy()})[0] for i in range(0, len(images), 32)]
    return torch.from_numpy(np.concatenate(chunks))


def _torchscript(packaged: nn.Module, run: dict, images: torch.Tensor, out: Path) -> torch.Tensor:
    with torch.inference_mode():
        traced = torch.jit.trace(packaged, images[:1], check_trace=False)
    traced.save(str(out))
    reloaded = torch.jit.load(str(out))
    with torch.inference_mode():
        return torch.cat([reloaded(images[i:i + 32]) for i in range(0, len(images), 32)])


def _safetensors(packaged: nn.Module, run: dict, images: torch.Tensor, out: Path) -> torch.Tensor:
    """A zip of model.safetensors + config.json + meta.json, re-loaded through the app's own loader."""
    folder = run_dir(run["id"])
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name in ("model.safetensors", "config.json", "meta.json"):
            bundle.write(folder / name, name)
        bundle.writestr("MODEL_CARD.md", model_card(run))
    return _rescore_bundle(out, images)


def _rescore_bundle(bundle: Path, images: torch.Tensor) -> torch.Tensor:
    tmp = bundle.with_suffix(".check")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp)  # our own archive, just written: safe to extract
    try:
        loaded: LoadedRun = rebuild(tmp)
        with torch.inference_mode():
            return Packaged(loaded.model, loaded.pre.mean, loaded.pre.std).eval()(images)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _agreement(reference: torch.Tensor, probs: torch.Tensor) -> dict:
    agree = (reference.argmax(-1) == probs.argmax(-1)).float().mean()
    return {"agreement": round(float(agree), 6), "max_prob_diff": float((reference - probs).abs().max())}


def model_card(run: dict) -> str:
    run_id = run["id"]
    cfg, summary, evaluation = run["config"], run.get("summary") or {}, run.get("evaluation") or {}
    meta = json.loads((run_dir(run_id) / "meta.json").read_text())
    lines = [f"# Model card: run {run_id}", "",
             "## Data", f"- dataset: **{cfg['data']['dataset']}**, classes ({len(meta['classes'])}): "
             f"{', '.join(meta['classes'])}",
             f"- split: val {cfg['data']['val_fraction']}, test {cfg['data']['test_fraction']}, seed {cfg['data']['split_seed']}",
             "", "## Backbone and weights", f"- backbone: **{cfg['backbone']}**, weights: {cfg['weights']}",
             f"- input: {meta['preprocess']['crop']} px, mean {meta['preprocess']['mean']}, std {meta['preprocess']['std']}",
             f"- scenario: {cfg['scenario']}", "", "## Freezing and head",
             f"- freeze plan (fine-tuning): {cfg['freeze']['mode']} (k={cfg['freeze']['k']}, stages {cfg['freeze']['stages']})",
             f"- head: pool {cfg['head']['pool']}, hidden {cfg['head']['hidden']}, activation {cfg['head']['activation']}, "
             f"dropout {cfg['head']['dropout']}", "", "## Training",
             f"- phase 1 (head): {cfg['train']['head_epochs']} epochs at LR {cfg['train']['head_lr']}",
             f"- phase 2 (fine-tune): {cfg['train']['finetune_epochs']} epochs at LR {cfg['train']['finetune_lr']}, "
             f"per-stage factor {cfg['train']['lr_factor']}",
             f"- optimizer {cfg['train']['optimizer']}, schedule {cfg['train']['schedule']}, batch {cfg['train']['batch_size']}, "
             f"augmentation {cfg['augment']['preset']}, seed {cfg['seed']}", "", "## Metrics",
             f"- validation accuracy: {summary.get('val_accuracy')}", f"- test accuracy: {summary.get('test_accuracy')}",
             f"- calibration (ECE): {(evaluation.get('calibration') or {}).get('ece')}",
             f"- training time: {summary.get('seconds')} s on {summary.get('device')}", "", "## Limitations",
             f"- Trained on {sum(c['support'] for c in evaluation.get('per_class', [])) or 'few'} test images' worth of "
             "evidence; accuracy on other sources (cameras, lighting, backgrounds) is unknown.",
             "- It only knows these classes: anything else is forced into one of them; use a confidence threshold.",
             "- Inherits the biases of the pretraining data (ImageNet) and of this dataset."]
    return "\n".join(lines) + "\n"

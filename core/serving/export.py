"""Export a finished run: TorchScript, ONNX (preprocessing inside the graph), safetensors +
RunConfig JSON. Each export is verified by re-scoring the validation split with the exported
artefact and comparing with the app's own predictions (top-1 agreement, max probability
difference; a multi-label run's: the same labels on per image, each at its threshold, and sigmoid
probabilities out, with the label names and thresholds in the ONNX file's metadata). A model card (markdown, `card.model_card`: data, backbone, freezing, training, metrics,
deployment figures once measured) travels in the safetensors bundle."""
from __future__ import annotations

import copy
import json
import re
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
from core.serving.card import model_card
from core.serving.predict import LoadedRun, load_run, rebuild
from core.training import tasks


class Packaged(nn.Module):
    """uint8-range image batch (N, 3, H, W, values 0..255) → class probabilities (softmax; a multi-label
    run's `output="sigmoid"`: each label's own): the weights' scaling and normalisation travel inside the
    exported graph."""

    def __init__(self, model: nn.Module, mean, std, output: str = "softmax"):
        super().__init__()
        self.model, self.sigmoid = model, output == "sigmoid"
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.model((image.float() - self.mean) / self.std)
        return logits.sigmoid() if self.sigmoid else logits.softmax(-1)


def packaged(loaded: LoadedRun, model: nn.Module | None = None) -> Packaged:
    """The run's model (or `model`, a copy of it) as an exported graph computes: pixels in, probabilities out."""
    output = tasks.for_name(loaded.config.task).output
    return Packaged(loaded.model if model is None else model, loaded.pre.mean, loaded.pre.std, output).eval()


def export(run: dict, fmt: str, out: str | Path, lists: Splits, quick: bool = False) -> dict:
    """`run`: the run as the job store gives it (config, summary, evaluation); `lists`: its pinned
    image lists, whose validation images (test if none) verify the export. `quick`: ONNX through the
    TorchScript-based exporter first (the int8 card's intermediate graph, `quantize`: the dynamo export
    took 42 s of its 99 s, the TorchScript one under a second, both verified the same way)."""
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    run_id = run["id"]
    loaded = load_run(run_id)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with loaded.lock:  # tracing and exporting take seconds: work on a copy, not the model sessions share
        graph = packaged(loaded, copy.deepcopy(loaded.model))
    images, reference = _validation_batch(run_id, loaded, lists)
    agree = lambda reference, probs: _agreement(reference, probs, loaded.meta)
    score = {"onnx": lambda: _onnx(graph, images, reference, out, quick, agree, _metadata(loaded)),
             "torchscript": lambda: _torchscript(graph, images, out),
             "safetensors": lambda: _safetensors(run, images, out)}[fmt]
    probs, facts = score()
    return {"path": str(out), "format": fmt, "images": len(images), **agree(reference, probs), **facts}


def _metadata(loaded: LoadedRun) -> dict[str, str]:
    """What travels in an ONNX file's metadata: the task, the label names in output order, and a multi-label
    run's thresholds (a label is on when its probability is at least its threshold)."""
    found = {"task": loaded.config.task, "labels": json.dumps(loaded.classes)}
    if loaded.meta.get("thresholds"):
        found["thresholds"] = json.dumps({t["label"]: t["threshold"] for t in loaded.meta["thresholds"]})
    return found


def _validation_batch(run_id: str, loaded, lists: Splits) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's validation images (test if it has none) as the app sees them, and the app's own
    probabilities for them."""
    records = lists.val or lists.test
    if not records:
        raise UserError(f"run {run_id} has no validation or test images to verify the export on")
    return app_batch(loaded, records)


def app_batch(loaded: LoadedRun, records: list) -> tuple[torch.Tensor, torch.Tensor]:
    """`records` as an exported graph takes them (uint8-range crops, N×3×H×W float) and the app's own
    probabilities for them: the same tensors predict's path builds (tests/test_architecture.py)."""
    image_set = ImageSet(records, loaded.pre)
    images = torch.stack([image_set[i][0] for i in range(len(image_set))]).float()
    with loaded.lock, torch.inference_mode():
        reference = packaged(loaded)(fast_layout(images))
    return images, reference


def fast_layout(images: torch.Tensor) -> torch.Tensor:
    """The same values, stored channels-last, as training feeds them (`sources`): oneDNN's convolutions run
    on that layout; a channels-first batch cost Lite0 70-80 ms an image here instead of 42-50."""
    return images.contiguous(memory_format=torch.channels_last)


def _onnx(packaged: nn.Module, images: torch.Tensor, reference: torch.Tensor, out: Path,
          quick: bool = False, agree=None, metadata: dict | None = None) -> tuple[torch.Tensor, dict]:
    """torch.export-based (dynamo) ONNX first; the TorchScript-based exporter when it fails or its graph
    agrees with the app on fewer than 99% of the images (`quick`: the other way round).

    Measured (torch 2.14, onnxscript 0.7.2, onnxruntime 1.30, 2-core CPU; 40 random images, 5 classes,
    random weights but Lite0's): both graphs agree 1.000 with the model for EfficientNet-Lite0,
    ResNet-18, MobileNetV3-S, ConvNeXt-T, Swin-T, DenseNet-121, Inception-v3, ViT-Ti and DeiT-Ti (max
    probability difference ≤ 5e-7 either way), and the export test's trained probe agrees 1.000. The
    price is time: 1.7–13 s to export instead of 0.2–1.7 s (Lite0 6.4 s vs 0.3 s, Swin-T 13 s vs
    1.7 s), and files 0.1–0.9 MB larger. It is the exporter PyTorch develops (the default since 2.9);
    the TorchScript-based one is deprecated. In a process's first export of a trained Lite0 (the int8 card's
    click) the dynamo export took 42 s at load 1, most of it tracing and decomposing the program."""
    order = [("torchscript", _export_torchscript), ("dynamo", _export_dynamo)]
    first, second = order if quick else order[::-1]
    agree = agree or _agreement
    try:
        first[1](packaged, images, out)
        _add_metadata(out, metadata)
        probs = _onnx_probabilities(out, images)
        agreement = agree(reference, probs)["agreement"]
        if agreement >= 0.99:
            return probs, {"exporter": first[0]}
        why = f"the {first[0]} graph agreed with the app on only {agreement:.2%} of the images"
    except Exception as exc:  # an op it cannot translate, a torch too old for it: the other one may
        why = f"the {first[0]} exporter failed: {type(exc).__name__}: {_first_line(exc)}"
    try:
        second[1](packaged, images, out)
        _add_metadata(out, metadata)
    except Exception as exc:
        raise RuntimeError(f"ONNX export: {why}; the {_named(second[0])} exporter failed as well: "
                           f"{type(exc).__name__}: {_first_line(exc)}") from exc
    return _onnx_probabilities(out, images), {"exporter": second[0], "fallback_reason": why}


def _add_metadata(out: Path, metadata: dict | None) -> None:
    if not metadata:
        return
    import onnx

    model = onnx.load(str(out))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(out))


def _named(exporter: str) -> str:
    return "TorchScript-based" if exporter == "torchscript" else exporter


def _first_line(exc: Exception) -> str:
    """The gist of an exporter's error: its first line without terminal colours, at most 200 characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    return (text.splitlines() or [""])[0][:200]


def _export_dynamo(packaged: nn.Module, images: torch.Tensor, out: Path) -> None:
    """One self-contained file (external_data=False); verbose=False keeps stdout clean for --json. The
    example is a batch of two: from a batch of one torch.export specialises the batch size on some
    models (ConvNeXt, Swin: 'Constraints violated (batch)') and the export fails."""
    example = images[:2] if len(images) > 1 else images[:1].repeat(2, 1, 1, 1)
    torch.onnx.export(packaged, (example,), str(out), dynamo=True, external_data=False, verbose=False,
                      input_names=["image"], output_names=["probabilities"],
                      dynamic_shapes=({0: torch.export.Dim("batch")},))


def _export_torchscript(packaged: nn.Module, images: torch.Tensor, out: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter warns that it is the old one
        torch.onnx.export(packaged, (images[:1],), str(out), dynamo=False, input_names=["image"],
                          output_names=["probabilities"], dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
                          opset_version=17)


def _onnx_probabilities(out: Path, images: torch.Tensor) -> torch.Tensor:
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    chunks = [session.run(None, {"image": images[i:i + 32].numpy()})[0] for i in range(0, len(images), 32)]
    return torch.from_numpy(np.concatenate(chunks))


def _torchscript(packaged: nn.Module, images: torch.Tensor, out: Path) -> tuple[torch.Tensor, dict]:
    with torch.inference_mode():
        traced = torch.jit.trace(packaged, images[:1], check_trace=False)
    traced.save(str(out))
    reloaded = torch.jit.load(str(out))
    with torch.inference_mode():
        return torch.cat([reloaded(images[i:i + 32]) for i in range(0, len(images), 32)]), {}


def _safetensors(run: dict, images: torch.Tensor, out: Path) -> tuple[torch.Tensor, dict]:
    """A zip of model.safetensors + config.json + meta.json, re-loaded through the app's own loader."""
    folder = run_dir(run["id"])
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name in ("model.safetensors", "config.json", "meta.json"):
            bundle.write(folder / name, name)
        bundle.writestr("MODEL_CARD.md", model_card(run))
    return _rescore_bundle(out, images), {}


def _rescore_bundle(bundle: Path, images: torch.Tensor) -> torch.Tensor:
    tmp = bundle.with_suffix(".check")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp)  # our own archive, just written: safe to extract
    try:
        loaded: LoadedRun = rebuild(tmp)
        with torch.inference_mode():
            return packaged(loaded)(images)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _agreement(reference: torch.Tensor, probs: torch.Tensor, meta: dict | None = None) -> dict:
    """Top-1 agreement (a multi-label run: the same labels on per image) and the largest probability gap."""
    task = tasks.for_name((meta or {}).get("task") or "single_label")
    return {**task.agreement(reference, probs, meta or {}), "max_prob_diff": float((reference - probs).abs().max())}

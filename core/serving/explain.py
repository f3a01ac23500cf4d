"""Grad-CAM with torch hooks: where in the image the evidence for a class sits.

The target layer is found from the network itself: the last trunk module (in execution order)
whose output is a spatial feature map larger than 1×1. Transformers without such a map get a
clear message instead."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.errors import UserError
from core.models.transfer import TransferModel


def target_layer(model: TransferModel, size: int) -> torch.nn.Module:
    found: list[torch.nn.Module] = []

    def record(module, _inputs, output):
        if torch.is_tensor(output) and output.dim() == 4 and output.shape[2] == output.shape[3] > 1:
            found.append(module)  # containers finish after their children: the last is the deepest map

    hooks = [m.register_forward_hook(record) for m in model.trunk.modules() if m is not model.trunk]
    try:
        with torch.no_grad():
            model.trunk(torch.zeros(1, 3, size, size))
    finally:
        for h in hooks:
            h.remove()
    if not found:
        raise UserError("Grad-CAM needs a convolutional feature map; this backbone has none (a transformer?)")
    return found[-1]


def grad_cam(model: TransferModel, image: torch.Tensor, class_index: int | None = None,
             layer: torch.nn.Module | None = None) -> tuple[np.ndarray, int]:
    """Heat map in [0, 1] at the input's size for one normalised image (1, 3, H, W)."""
    layer = layer or target_layer(model, image.shape[-1])
    saved: dict[str, torch.Tensor] = {}
    forward = layer.register_forward_hook(lambda m, i, o: saved.__setitem__("act", o))
    backward = layer.register_full_backward_hook(lambda m, gi, go: saved.__setitem__("grad", go[0]))
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            x = image.clone().requires_grad_(True)  # gradients must flow even through frozen stages
            logits = model(x)
            index = int(logits.argmax(-1)) if class_index is None else class_index
            model.zero_grad(set_to_none=True)
            logits[0, index].backward()
    finally:
        forward.remove()
        backward.remove()
        model.train(was_training)
    weights = saved["grad"].mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * saved["act"]).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    return (cam / cam.max().clamp_min(1e-8)).detach().numpy(), index


def overlay(picture: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a heat map (red = strong evidence) over an HWC uint8 picture of the same size."""
    colors = np.stack([heat, np.clip(1.5 * heat - 0.5, 0, 1) * 0.6, 1 - heat], axis=-1) * 255
    heat_img = Image.fromarray(colors.astype(np.uint8)).resize((picture.shape[1], picture.shape[0]))
    return (picture * (1 - alpha) + np.asarray(heat_img) * alpha).astype(np.uint8)

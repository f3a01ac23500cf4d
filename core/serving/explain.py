"""Class activation maps through `grad-cam` (pytorch-grad-cam): where in the image the evidence for a
class sits. Methods: Grad-CAM, Grad-CAM++ and EigenCAM (gradient-free: the first principal component
of the target layer's activations, the same map whatever the class).

The target layer is found from the network itself. Convolutional trunks: the last module (in
execution order) whose output is a spatial feature map larger than 1×1. Transformers (ViT, DeiT):
the last block's first norm (`norm1`, torchvision's `ln_1`), whose tokens are laid back on the patch
grid with the class (and register) tokens dropped; the final norm would do no good, since only the
class token is read from it and every patch token's gradient there is zero.

Measured against the hand-written Grad-CAM (forward/backward hooks) this module used before: on the
bright-patch detector of tests/test_export_explain.py (32×32, an 8×8 bright patch) the same map (mean
heat on the patch 0.8403 vs 0.8403, largest heat far from it 0.0 vs 0.0, within 2e-7; with a second,
dimmer patch both 0.84 / 0.40); on the skimage cat through pretrained EfficientNet-Lite0 and random
ResNet-18, ConvNeXt-T, Swin-T and GoogLeNet the same class and maps within 8e-7. DenseNet-121 now gets
a map where the old hooks raised (its in-place ReLU on a hooked view), and ViT / DeiT get one where the
old code refused. Grad-CAM++ gives the patch map of the bright-patch test; EigenCAM 0.8296 on the
patch, 0.0 far from it. The library's first use costs ~1 s of imports (OpenCV, ttach).
"""
from __future__ import annotations

import math
import threading
import weakref

import numpy as np
import torch
from PIL import Image

from core.config import CAM_METHODS
from core.errors import UserError
from core.models.transfer import TransferModel

METHODS = CAM_METHODS
TOKEN_NORMS = ("norm1", "ln_1")  # timm / torchvision names of a transformer block's first norm
MAX_PREFIX_TOKENS = 8


_layers: "weakref.WeakKeyDictionary[torch.nn.Module, dict[int, torch.nn.Module]]" = weakref.WeakKeyDictionary()
_layers_lock = threading.Lock()


def target_layer(model: TransferModel, size: int) -> torch.nn.Module:
    """The layer to explain: the deepest spatial map, or for transformers the last block's norm1.
    Found once per model and input size: finding it runs the trunk with a hook on every module, which
    cost as much as the map itself on every click of the Predict page (0.3-2 s on 2 loaded cores)."""
    with _layers_lock:
        known = _layers.get(model, {}).get(size)
    if known is None:
        known = _find_target_layer(model, size)
        with _layers_lock:
            _layers.setdefault(model, {})[size] = known
    return known


def _find_target_layer(model: TransferModel, size: int) -> torch.nn.Module:
    maps, tokens = _shaped_modules(model, size)
    if tokens and (not maps or tokens[-1][0] > maps[-1][0]):
        norms = [module for _, name, module in tokens if name.rsplit(".", 1)[-1] in TOKEN_NORMS]
        return norms[-1] if norms else tokens[-1][2]
    if not maps:
        raise UserError("Grad-CAM needs a convolutional feature map or transformer tokens on a patch grid; "
                        "this backbone has neither")
    return maps[-1][2]


def _shaped_modules(model: TransferModel, size: int) -> tuple[list, list]:
    """(order, name, module) of trunk modules with a square NCHW map output, and with token output."""
    maps, tokens, order = [], [], [0]

    def record(name, module):
        def hook(_module, _inputs, output):
            order[0] += 1  # containers finish after their children: later means deeper
            if torch.is_tensor(output) and output.dim() == 4 and output.shape[2] == output.shape[3] > 1:
                maps.append((order[0], name, module))
            elif torch.is_tensor(output) and _token_grid(output) is not None:
                tokens.append((order[0], name, module))
        return hook

    hooks = [m.register_forward_hook(record(n, m)) for n, m in model.trunk.named_modules() if n]
    was_training = model.training
    try:
        with torch.no_grad():  # in eval mode: a blank image must not move BatchNorm statistics
            model.eval().trunk(torch.zeros(1, 3, size, size, device=_device(model)))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return maps, tokens


def _token_grid(tensor: torch.Tensor) -> tuple[int, int] | None:
    """(prefix tokens, grid side) for (N, tokens, C) on a square patch grid, else None."""
    if tensor.dim() != 3:
        return None
    side = math.isqrt(tensor.shape[1])
    prefix = tensor.shape[1] - side * side
    return (prefix, side) if side > 1 and prefix <= MAX_PREFIX_TOKENS else None


def tokens_to_map(tensor: torch.Tensor) -> torch.Tensor:
    """`reshape_transform` for the library: tokens (N, T, C) → (N, C, side, side); maps pass through."""
    grid = _token_grid(tensor)
    if grid is None:
        return tensor
    prefix, side = grid
    return tensor[:, prefix:, :].reshape(tensor.shape[0], side, side, tensor.shape[2]).permute(0, 3, 1, 2)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def grad_cam(model: TransferModel, image: torch.Tensor, class_index: int | None = None,
             layer: torch.nn.Module | None = None, method: str = "gradcam") -> tuple[np.ndarray, int]:
    """Heat map in [0, 1] at the input's size for one normalised image (1, 3, H, W), and the class
    explained (the top class unless `class_index` is given). Not thread-safe on a shared model: the
    caller holds the model's lock (hooks and a backward pass)."""
    found = class_map(model, image, class_index, layer, method)
    return found["heat"], found["index"]


def class_map(model: TransferModel, image: torch.Tensor, class_index: int | None = None,
              layer: torch.nn.Module | None = None, method: str = "gradcam", probabilities=None) -> dict:
    """`grad_cam`'s heat map and class, with the class's probability read from the same forward pass
    (a second pass for it doubled the cost of a map; `probabilities`: logits → probabilities, softmax unless
    given: a multi-label run's are each label's sigmoid). The caller holds the model's lock."""
    cam_class = _method(method)
    layer = layer or target_layer(model, image.shape[-1])
    was_training = model.training
    cam = cam_class(model=model, target_layers=[layer], reshape_transform=tokens_to_map)
    try:
        with torch.enable_grad():
            x = image.clone().requires_grad_(True)  # gradients must flow even through frozen stages
            heat, index = _run(cam, x, class_index)
        logits = cam.outputs.detach().float()
        probs = (probabilities(logits) if probabilities else logits.softmax(-1))[0]
    finally:
        cam.activations_and_grads.release()  # not `with cam`: its __exit__ swallows IndexError
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return {"heat": heat, "index": index, "prob": float(probs[index]), "probs": probs}


def _method(method: str):
    if method not in METHODS:
        raise UserError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus

    return {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "eigencam": EigenCAM}[method]


def _run(cam, x: torch.Tensor, class_index: int | None) -> tuple[np.ndarray, int]:
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    targets = None if class_index is None else [ClassifierOutputTarget(class_index)]
    heat = cam(input_tensor=x, targets=targets)[0]  # the library picks the top class when targets is None
    index = int(cam.outputs.argmax(-1)[0]) if class_index is None else class_index
    return np.nan_to_num(heat.astype(np.float32)), index


def overlay(picture: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a heat map (red = strong evidence) over an HWC uint8 picture of the same size."""
    colors = np.stack([heat, np.clip(1.5 * heat - 0.5, 0, 1) * 0.6, 1 - heat], axis=-1) * 255
    heat_img = Image.fromarray(colors.astype(np.uint8)).resize((picture.shape[1], picture.shape[0]))
    return (picture * (1 - alpha) + np.asarray(heat_img) * alpha).astype(np.uint8)


def summary(heat: np.ndarray, hot: float = 0.5) -> dict:
    """A heat map in numbers for the command line: where its peak is (row, column as fractions of the
    height and width, 0 = top/left) and how much of the picture is at least `hot` (a tight map is small)."""
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return {"peak": {"row": round((row + 0.5) / heat.shape[0], 4), "col": round((col + 0.5) / heat.shape[1], 4)},
            "hot_fraction": round(float((heat >= hot).mean()), 4)}

"""Rough time per epoch on this machine, from a short timing of the backbone itself.

A GFLOPs figure times one CPU rate was no guide across architectures: ResNet-18 has 4.7 times Lite0's GFLOPs
yet ran about as fast on this 2-core CPU (Lite0's depthwise convolutions do little work per byte they move),
and the GFLOPs estimate said 5.9 times ResNet-18's measured feature extraction. So each backbone is timed
itself: a forward pass (a feature extraction) or a training step (forward and backward) on a small batch,
the better of two after a warm-up, once per process and backbone. Only a heavy backbone, whose training step
alone would take the page many seconds on a CPU, is still scaled from Lite0's timing by its GFLOPs. The
Streamlit process never touches the GPU: a CPU figure, which core/runs/speeds.py scales by what this
server's own runs measured."""
from __future__ import annotations

import time

import torch

from core.models import registry

PROBE = "efficientnet_lite0"  # warmed at start-up: the default choice, and the heavy backbones' yardstick
PROBE_BATCH = 8  # at 4 the small MobileNet's per-call overhead doubled its figure
HEAVY_GFLOPS = 5.0  # above this, a timed training step of 8 images costs seconds on a 2-core CPU


def timed_itself(name: str) -> bool:
    """Whether `name` is timed itself; a heavy one is scaled from Lite0's timing by its GFLOPs instead."""
    gflops = registry.get(name).info().gflops
    return name == PROBE or not gflops or gflops <= HEAVY_GFLOPS


@registry.once  # once per process and backbone, even when sessions ask at the same moment
def seconds_per_image(name: str, trunk_frozen: bool) -> float:
    if not timed_itself(name):
        return seconds_per_image(PROBE, trunk_frozen) * registry.get(name).info().gflops / registry.get(PROBE).info().gflops
    return _timed(name, trunk_frozen) / PROBE_BATCH


def _timed(name: str, trunk_frozen: bool) -> float:
    entry = registry.get(name)
    net = entry.network(pretrained=False)
    size = entry.preprocess().crop
    x = torch.randn(PROBE_BATCH, 3, size, size)
    net.train(not trunk_frozen)
    with torch.inference_mode(trunk_frozen):
        _pass(net, x, trunk_frozen)  # warm-up: the first pass allocates
        return min(_pass(net, x, trunk_frozen) for _ in range(2))


def _pass(net: torch.nn.Module, x: torch.Tensor, trunk_frozen: bool) -> float:
    started = time.perf_counter()
    out = net(x)
    if not trunk_frozen:
        out.float().sum().backward()
        net.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def epoch_seconds(name: str, images: int, trunk_frozen: bool) -> dict:
    """Seconds for one epoch over `images`: a feature-extraction pass when the trunk is frozen
    (later head epochs are nearly free), a full training epoch otherwise."""
    if images <= 0:
        return {"seconds": None, "device": "cpu", "basis": "no images"}
    per_image = seconds_per_image(name, trunk_frozen)
    timed = name if timed_itself(name) else f"{PROBE} (scaled by {name}'s GFLOPs)"
    return {"seconds": round(images * per_image, 1), "device": "cpu",
            "basis": f"{timed} timed on a batch of {PROBE_BATCH} on this machine's CPU"}

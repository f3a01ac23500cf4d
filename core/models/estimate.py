"""Rough time per epoch on this machine's device, from a backbone's GFLOPs and a measured rate.

The rate is measured once per process: a few forward passes of the bundled EfficientNet-Lite0 on
the CPU (the Streamlit process never touches the GPU; the worker's device may be faster, so the
estimate says which device it is for)."""
from __future__ import annotations

import time

import torch

from core.models import registry

PROBE = "efficientnet_lite0"
TRAIN_COST = 3.0  # a training step costs about forward + backward = 3 forwards


@registry.once  # measured once per process, even when sessions ask at the same moment
def cpu_gflops_per_second() -> float:
    entry = registry.get(PROBE)
    net = entry.network(pretrained=False)
    size = entry.preprocess().crop
    x = torch.randn(8, 3, size, size)
    with torch.inference_mode():
        net(x)  # warm-up
        started = time.perf_counter()
        net(x)
        seconds = time.perf_counter() - started
    flops = 2 * entry.info().gflops * len(x)  # GFLOPs are multiply-adds
    return flops / max(seconds, 1e-6)


def epoch_seconds(name: str, images: int, trunk_frozen: bool) -> dict:
    """Seconds for one epoch over `images`: a feature-extraction pass when the trunk is frozen
    (later head epochs are nearly free), a full training epoch otherwise."""
    gflops = registry.get(name).info().gflops
    if not gflops or images <= 0:
        return {"seconds": None, "device": "cpu", "basis": "no GFLOPs figure for this backbone"}
    per_image = 2 * gflops * (1.0 if trunk_frozen else TRAIN_COST)
    seconds = images * per_image / cpu_gflops_per_second()
    return {"seconds": round(seconds, 1), "device": "cpu",
            "basis": f"{gflops} GMACs/image at a measured {cpu_gflops_per_second():.0f} GFLOP/s"}

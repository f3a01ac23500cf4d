"""Which device trains, the precision it trains in, and the cuDNN policy."""
from __future__ import annotations

import os

import torch

from core.errors import UserError


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise UserError("device: 'cuda' was asked for, but no CUDA GPU is visible")
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if preference == "mps" or (preference == "auto" and mps is not None and mps.is_available()):
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device: torch.device):
    """bf16 on CUDA (tensor cores, no loss scaling needed); plain fp32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def configure(device: torch.device) -> None:
    """The cuDNN policy: `cudnn.benchmark` on (autotune each conv shape once per process), unless
    TRANSFERLAB_CUDNN_BENCHMARK says `off`, or a number N: on, trying at most N algorithms per shape
    (`cudnn.benchmark_limit`, cuDNN v8 API).

    Why on, for now: the engine gives each phase one batch shape (training batches always full,
    evaluation and extraction padded to twice the training batch: `batches`), so a fit tunes two conv
    shapes per backbone where it tuned four before (train, the partial last batch, eval, the partial
    eval batch, the partial ones different for every split size), and a warm worker slot keeps the
    plans between jobs. Autotuning then costs once per shape and slot, and buys the fastest kernels for
    every later step. Off, cuDNN's heuristics pick without trying: no warm-up, possibly slower steps.

    This choice awaits a GPU measurement, which has not been made (no GPU was lent when it was written):
    in a fresh process on the H200, EfficientNet-Lite0 and ResNet-50, batch 64, bf16, channels_last, for
    `on`, `off` and `1`, the bench's `first_epoch_over_steady` and steady fine-tuning images/s
    (`python -m core bench --json`, keys under fine_tuning.light / fine_tuning.none). Keep `on` if its
    steady rate is clearly higher and its first epoch reaches half of steady; otherwise prefer `off`
    (or a small limit) for the short jobs a class submits.
    """
    if device.type != "cuda":
        return
    policy = os.environ.get("TRANSFERLAB_CUDNN_BENCHMARK", "on").strip().lower()
    torch.backends.cudnn.benchmark = policy not in ("off", "0", "false", "no")
    if policy.isdigit() and int(policy) > 0:
        torch.backends.cudnn.benchmark_limit = int(policy)

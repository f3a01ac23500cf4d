"""Which device trains, and the precision it trains in."""
from __future__ import annotations

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

"""Benchmark (not a test): augmenting one training batch three ways on this machine's CPU (or CUDA).

usage: .venv/bin/python tools/augment_bench.py [--batch 32] [--preset light] [--repeats 10]   prints one JSON line
- `per_sample_v2`: torchvision v2 per image (RandomResizedCrop with antialias, flip, rotation, ColorJitter
  with hue, RandomGrayscale), as the engine did before batched augmentation;
- `batched_grid`: this engine's BatchAugment (one affine grid per image, per-image colour arithmetic);
- `kornia`: kornia.augmentation with the same toggles, `same_on_batch=False` (only if kornia is installed).
Images/s of the fastest of `--repeats` batches of 256 px uint8 squares → 224 px float crops, after one warm-up batch.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())

import torch
from torchvision.transforms import v2

from core.config import AugmentSpec
from core.data.augment import resolved
from core.data.batch_augment import BatchAugment

SIZE, CROP = 256, 224


def per_sample(s: AugmentSpec):
    steps = [v2.RandomResizedCrop(CROP, scale=(0.5 if s.rotation else 0.6, 1.0), antialias=True)
             if s.random_resized_crop else v2.CenterCrop(CROP)]
    steps += [v2.RandomHorizontalFlip()] if s.flip else []
    steps += [v2.RandomRotation(s.rotation)] if s.rotation else []
    c = s.color_jitter
    steps += [v2.ColorJitter(brightness=c, contrast=c, saturation=c, hue=min(0.5, c / 4))] if c else []
    steps += [v2.RandomGrayscale(p=s.grayscale)] if s.grayscale else []
    compose = v2.Compose(steps)
    return lambda batch, g: torch.stack([compose(img) for img in batch]).float().div_(255)


def kornia_pipeline(s: AugmentSpec, device):
    import kornia.augmentation as K
    steps = [K.RandomResizedCrop((CROP, CROP), scale=(0.5 if s.rotation else 0.6, 1.0))
             if s.random_resized_crop else K.CenterCrop(CROP)]
    steps += [K.RandomHorizontalFlip()] if s.flip else []
    steps += [K.RandomRotation(s.rotation)] if s.rotation else []
    c = s.color_jitter
    steps += [K.ColorJitter(c, c, c, min(0.5, c / 4), p=1.0)] if c else []
    steps += [K.RandomGrayscale(p=s.grayscale)] if s.grayscale else []
    seq = K.AugmentationSequential(*steps, same_on_batch=False).to(device)
    return lambda batch, g: seq(batch.float().div_(255))


def timed(fn, batch, repeats, device) -> float:
    """Images/s of the fastest of `repeats` batches: the other engineers' jobs on the same cores only
    ever slow a batch down, so the minimum is the least disturbed figure."""
    g = torch.Generator().manual_seed(0)
    fn(batch, g)
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        fn(batch, g)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return round(len(batch) / best, 1)


def main() -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--preset", default="light")
    p.add_argument("--repeats", type=int, default=10)
    a = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    spec = resolved(AugmentSpec(preset=a.preset))
    batch = torch.randint(0, 256, (a.batch, 3, SIZE, SIZE), dtype=torch.uint8, device=device)
    out = {"device": str(device), "threads": torch.get_num_threads(), "batch": a.batch, "preset": a.preset,
           "load": os.getloadavg()[0], "images_per_s": {}}
    ways = {"batched_grid": BatchAugment(spec, CROP)}
    if device.type == "cpu":
        ways["per_sample_v2"] = per_sample(spec)
    try:
        ways["kornia"] = kornia_pipeline(spec, device)
    except ImportError:
        out["kornia"] = "not installed"
    for name, fn in ways.items():
        out["images_per_s"][name] = timed(fn, batch, a.repeats, device)
    return out


if __name__ == "__main__":
    print(json.dumps(main()))

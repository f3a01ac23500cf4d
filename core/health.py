"""Dataset health: what to fix before training, as plain data for the UI and the CLI.

Class balance, exact duplicates (found at ingestion), near-duplicates across splits (leaks, by a
perceptual hash), tiny images, the grayscale/colour mix, and the size bucket that places
the dataset on the scenario grid.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from core import data
from core.scenarios import SMALL_PER_CLASS

TINY_SIDE = 32
NEAR_DUPLICATE_BITS = 3  # of 63: a recompressed or slightly cropped copy stays within this
MAX_LEAK_IMAGES = 20_000  # all pairs of more would be slow; larger sets are sampled
LIST_LIMIT = 50


def _dct_matrix(n: int = 32) -> np.ndarray:
    k, x = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    scale = np.where(k == 0, np.sqrt(1 / n), np.sqrt(2 / n))
    return scale * np.cos(np.pi * (2 * x + 1) * k / (2 * n))


_DCT = _dct_matrix()


def perceptual_hash(image: Image.Image) -> str:
    """pHash: signs of the 8×8 lowest DCT frequencies (no DC) of a 32×32 grayscale thumbnail
    against their median. Survives recompression, resizing and small crops; a difference hash was
    tried first and called too many distinct MNIST digits duplicates."""
    small = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT @ small @ _DCT.T)[:8, :8].flatten()[1:]
    bits = low > np.median(low)
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def is_grayscale(image: Image.Image) -> bool:
    if image.mode in ("L", "1", "I", "I;16", "F"):
        return True
    arr = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.int16)
    return bool(np.abs(arr[..., 0] - arr[..., 1]).max() <= 2 and np.abs(arr[..., 1] - arr[..., 2]).max() <= 2)


def check(dataset: str) -> dict:
    rows = data.image_rows(dataset)
    counts = data.class_counts(dataset)
    nonzero = [n for n in counts.values() if n > 0]
    per_class = float(np.mean(nonzero)) if nonzero else 0.0
    return {
        "dataset": dataset,
        "images": len(rows),
        "classes": counts,
        "empty_classes": [c for c, n in counts.items() if n == 0],
        "imbalance_ratio": round(max(nonzero) / min(nonzero), 2) if nonzero else None,
        "splits": data.split_counts(dataset),
        "splits_by_class": _splits_by_class(rows),
        "duplicates": data.duplicate_rows(dataset),
        "leaks": _leaks(rows),
        "tiny": _limited([r["original"] for r in rows if min(r["width"], r["height"]) < TINY_SIDE]),
        "grayscale": sum(r["gray"] for r in rows),
        "color": len(rows) - sum(r["gray"] for r in rows),
        "mixed_color": 0 < sum(r["gray"] for r in rows) < len(rows),
        "images_per_class": round(per_class, 1),
        "size_bucket": "small" if per_class < SMALL_PER_CLASS else "large",
        "trainable": _trainable(dataset),
    }


def _trainable(dataset: str) -> dict:
    try:
        data.check_trainable(dataset)
        return {"ok": True, "message": ""}
    except Exception as exc:
        return {"ok": False, "message": str(exc)}


def _splits_by_class(rows: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        per = out.setdefault(r["class_name"], {s: 0 for s in data.SPLITS})
        if r["split"]:
            per[r["split"]] += 1
    return out


def _limited(items: list) -> dict:
    return {"count": len(items), "examples": items[:LIST_LIMIT]}


def _leaks(rows: list[dict]) -> dict:
    """Near-identical images that sit in different splits: the test score would flatter."""
    rows = [r for r in rows if r["split"]]
    if len(rows) > MAX_LEAK_IMAGES:
        rng = np.random.default_rng(0)
        rows = [rows[i] for i in sorted(rng.choice(len(rows), MAX_LEAK_IMAGES, replace=False))]
    if len(rows) < 2:
        return {"count": 0, "pairs": []}
    hashes = np.array([int(r["phash"], 16) for r in rows], dtype=np.uint64)
    splits = np.array([r["split"] for r in rows])
    pairs = []
    for i in range(len(rows) - 1):
        distance = _popcount(hashes[i] ^ hashes[i + 1:])
        for j in np.nonzero((distance <= NEAR_DUPLICATE_BITS) & (splits[i + 1:] != splits[i]))[0]:
            other = rows[i + 1 + j]
            pairs.append({"a": rows[i]["original"], "a_split": rows[i]["split"], "b": other["original"],
                          "b_split": other["split"], "distance": int(distance[j])})
    return {"count": len(pairs), "pairs": pairs[:LIST_LIMIT]}


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(values: np.ndarray) -> np.ndarray:
    as_bytes = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    return _BYTE_BITS[as_bytes].sum(axis=1)

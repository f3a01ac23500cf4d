"""Facts about an image's content computed once at ingestion: a perceptual hash (near-duplicates
and leaks across splits) and whether it is grayscale."""
from __future__ import annotations

import numpy as np
from PIL import Image


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


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (the distance between two hashes once XORed)."""
    as_bytes = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    return _BYTE_BITS[as_bytes].sum(axis=1)

"""Decode one image file safely into an RGB Pillow image, or say plainly why not.

Only image formats are opened (no EPS/PostScript or other formats that run code or tools); the
pixel count is checked from the header before anything is decoded, so a decompression bomb is an
error, never a warning; every mode (L, P, RGBA, CMYK, I;16, …) becomes RGB, transparency composited
on white; the EXIF orientation is applied.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
MAX_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000  # about 6300 × 6300


def mib(size: int) -> str:
    """Sizes in the unit the limits are set in: MiB (1024 × 1024 bytes)."""
    return f"{size / 2**20:.1f} MiB"


class ImageRejected(ValueError):
    """The file is not usable; str(exc) is a plain reason for a person."""


def decode(data: bytes, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Image.Image:
    if not data:
        raise ImageRejected("empty file (0 bytes)")
    if len(data) > max_bytes:
        raise ImageRejected(f"too large: {mib(len(data))} (limit {mib(max_bytes)})")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open(data, max_pixels)
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as exc:
            raise ImageRejected(f"truncated or corrupt image data ({_short(exc)})") from None
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not cost the picture itself
        pass
    return to_rgb(image)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise ImageRejected("not an image (or a format other than JPEG, PNG, WEBP, BMP, GIF, TIFF)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(f"too many pixels (decompression bomb; limit {max_pixels:,})") from None
    except Exception as exc:  # malformed headers raise all sorts of errors
        raise ImageRejected(f"corrupt image header ({_short(exc)})") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejected(f"image has no pixels ({width}×{height})")
    if width * height > max_pixels:
        raise ImageRejected(f"too many pixels: {width}×{height} (limit {max_pixels:,}; a decompression bomb?)")
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _wide_to_rgb(image)
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _wide_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit / 32-bit / float grayscale: stretch the used range onto 0..255."""
    arr = np.asarray(image, dtype=np.float64)
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
    gray = Image.fromarray(np.nan_to_num(scaled).astype(np.uint8))
    return gray.convert("RGB")


def load_path(path: str) -> Image.Image:
    with open(path, "rb") as fh:
        return decode(fh.read())


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]

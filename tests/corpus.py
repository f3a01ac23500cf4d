"""A generated corpus of good and hostile inputs for ingestion tests."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def photo(seed: int = 0, size=(48, 40)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def jpeg(seed: int = 0, size=(48, 40)) -> bytes:
    return encode(photo(seed, size), "JPEG", quality=90)


def png(seed: int = 0, size=(48, 40)) -> bytes:
    return encode(photo(seed, size), "PNG")


def truncated_jpeg() -> bytes:
    full = jpeg(1, (200, 160))
    return full[: len(full) // 2]


def png_bomb() -> bytes:
    """A small file that decodes to 100 million pixels."""
    return encode(Image.new("1", (10_000, 10_000)), "PNG")


def huge_header_png() -> bytes:
    """A PNG whose header claims 100000×100000 pixels, with almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def cmyk_jpeg() -> bytes:
    return encode(photo(2).convert("CMYK"), "JPEG")


def png16() -> bytes:
    arr = (np.linspace(0, 65535, 40 * 48).reshape(40, 48)).astype(np.uint16)
    return encode(Image.fromarray(arr), "PNG")


def rgba_png() -> bytes:
    """Left half fully transparent (must become white), right half opaque red."""
    arr = np.zeros((40, 48, 4), dtype=np.uint8)
    arr[:, 24:] = (255, 0, 0, 255)
    return encode(Image.fromarray(arr), "PNG")


def animated_gif() -> bytes:
    frames = [Image.new("P", (32, 32), color=i * 40) for i in range(3)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def exif_rotated_jpeg() -> bytes:
    """Stored 60 wide × 20 tall with EXIF orientation 6: shown 20 wide × 60 tall."""
    image = photo(3, (60, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif.tobytes())


def zip_of(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            archive.writestr(info, content)
    return buffer.getvalue()


def zip_bomb() -> bytes:
    return zip_of({"cats/bomb.png": b"\0" * (30 * 1024 * 1024)})


def red_and_blue_squares(root, n: int, seed: int = 0):
    """A multi-label folder: grey noise with a red square (label red) and/or a blue one (label blue), or neither
    (every 2nd image red, every 3rd blue), named img0.png …, and its labels.csv. Returns the folder."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = ["file,labels"]
    for i in range(n):
        red, blue = i % 2 == 0, i % 3 == 0
        pixels = (rng.random((32, 32, 3)) * 60 + 100).astype(np.uint8)
        if red:
            pixels[2:14, 2:14] = [230, 20, 20]
        if blue:
            pixels[18:30, 18:30] = [20, 20, 230]
        Image.fromarray(pixels).save(root / f"img{i}.png")
        rows.append(f"img{i}.png," + ";".join(name for name, on in (("red", red), ("blue", blue)) if on))
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root

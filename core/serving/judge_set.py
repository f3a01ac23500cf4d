"""The images an int8 graph is chosen and judged on (`quantize`): every validation and test image of the run,
then augmented views of its training images until there are MIN_IMAGES. Agreement on the 20 to 30 test images
of a small run moved by a whole image per 3 to 5 points: the Lite0 test's graph agreed on 16 of 20 (0.80) in
one clone and on every one in another. Views come from a seeded generator ("light" augmentation: crops,
flips, a little colour), so the same run gets the same set on any machine."""
from __future__ import annotations

import dataclasses

import torch

from core.config import AugmentSpec
from core.data.augment import train_transform
from core.data.cache import ImageSet
from core.data.splits import Splits
from core.errors import UserError
from core.serving import export

MIN_IMAGES = 200
SEED = 0
CHUNK = 32  # training squares augmented at once (3 × 256² uint8 each)


@dataclasses.dataclass
class JudgeSet:
    images: torch.Tensor  # uint8-range crops, as an exported graph takes them
    reference: torch.Tensor  # the app's own class for each (the PyTorch model, as predict serves it)
    counts: dict  # how many of each kind: validation, test, augmented training views

    def __len__(self) -> int:
        return len(self.images)


def build(loaded, lists: Splits, least: int = MIN_IMAGES) -> JudgeSet:
    """Validation + test images, then augmented training views up to `least` (fewer only without training images)."""
    held_out = lists.val + lists.test
    views = _views(loaded, lists.train, max(0, least - len(held_out)))
    if not held_out and views is None:
        raise UserError("this run has no images to judge the int8 model on")
    parts = ([crops(loaded, held_out)] if held_out else []) + ([views] if views is not None else [])
    images = torch.cat(parts)
    counts = {"validation": len(lists.val), "test": len(lists.test),
              "augmented training views": 0 if views is None else len(views)}
    return JudgeSet(images, _app_says(loaded, images), counts)


def crops(loaded, records: list) -> torch.Tensor:
    """The eval centre crops, as `export.app_batch` builds them (uint8 values as floats)."""
    image_set = ImageSet(records, loaded.pre)
    return torch.stack([image_set[i][0] for i in range(len(image_set))]).float()


def _views(loaded, train: list, count: int) -> torch.Tensor | None:
    """`count` augmented views of the training images, cycling through them (None: none asked or possible)."""
    if not count or not train:
        return None
    augment = train_transform(AugmentSpec(preset="light"), loaded.pre)
    image_set = ImageSet(train, loaded.pre)
    generator = torch.Generator().manual_seed(SEED)
    order = [i % len(train) for i in range(count)]
    out = []
    for start in range(0, count, CHUNK):
        squares = image_set.stack(order[start:start + CHUNK])
        out.append((augment(squares, generator) * 255).round())
    return torch.cat(out)


def _app_says(loaded, images: torch.Tensor) -> torch.Tensor:
    with loaded.lock, torch.inference_mode():
        packaged = export.packaged(loaded)
        return torch.cat([packaged(export.fast_layout(images[i:i + CHUNK])).argmax(-1)
                          for i in range(0, len(images), CHUNK)])

"""Where a job's decoded images live while it trains, and the order and shape of its batches.

Where the squares live. A job's uint8 squares are gathered once into one tensor on the training device
when they fit under `TRANSFERLAB_DEVICE_IMAGES_MB` (default 2048 MB: about 10,900 squares of 256 px,
13,000 of 232 px); a batch is then one index operation on the device. A job too big for that streams:
each batch is stacked on the host from the decoded cache (into pinned memory on CUDA) and copied with
`non_blocking`, and the next batch is prepared before the current one is handed out (`one_ahead`), so
its gathering overlaps the step the device is still running. On the CPU the "device" is host memory:
the same bound decides between one gathered tensor and per-batch stacking, and nothing is pinned.

One batch shape per phase (cuDNN tunes each new shape once per process, see `device.configure`):
- training batches are always full. The last one is topped up with the first samples of the epoch's own
  shuffled order rather than dropped: dropping would leave up to batch−1 images unseen in every epoch,
  which on the small datasets this app is made for (a class's 20 images per class: 140 training images,
  batch 32, 12 dropped = 9 %) is a real loss of data; topping up shows a few images twice instead. A
  training set smaller than one batch trains in batches of its own size (the batch size clamps to it):
  resampling 5 images up to 32 would weight each image by chance.
- evaluation batches are padded to the one evaluation batch size on CUDA (the padding rows repeat the
  first image, and their outputs are cut off before anything reads them: in eval mode every output row
  depends on its own input only, BatchNorm included). On the CPU there is no per-shape tuning, so
  padding would only cost compute and evaluation is not padded.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Iterator

import torch

from core.data.cache import ImageSet
from core.data.transforms import to_device

DEFAULT_DEVICE_IMAGES_MB = 2048
GATHER_CHUNK = 256  # squares stacked on the host per copy while a set is moved to the device


# ---- the order and shape of batches ----------------------------------------------------------------
def train_batch_size(n: int, batch_size: int) -> int:
    """The batch size a training phase really uses: the configured one, or the whole set when smaller."""
    return max(1, min(batch_size, n))


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / train_batch_size(n, batch_size)) if n else 0


def train_plan(n: int, batch_size: int, generator: torch.Generator,
               weights: torch.Tensor | None = None) -> torch.Tensor:
    """(steps, b) sample indices for one training epoch: a fresh shuffle, every row full. With `weights`
    (`balance.sample_weights`) the epoch's n indices are drawn with replacement in proportion to them."""
    if n == 0:
        return torch.empty(0, 0, dtype=torch.long)
    b = train_batch_size(n, batch_size)
    order = torch.randperm(n, generator=generator) if weights is None else \
        torch.multinomial(weights, n, replacement=True, generator=generator)
    short = (-n) % b
    return torch.cat([order, order[:short]]).view(-1, b)


def eval_plan(n: int, batch_size: int, pad: bool) -> Iterator[tuple[torch.Tensor, int]]:
    """(indices, real count) in order; with `pad` every index row has `batch_size` entries, the rows
    after the real count repeating image 0."""
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        idx = torch.arange(start, start + count)
        if pad and count < batch_size:
            idx = torch.cat([idx, torch.zeros(batch_size - count, dtype=torch.long)])
        yield idx, count


def pads_eval(device: torch.device) -> bool:
    """Fixed evaluation shapes matter where kernels are tuned per shape (cuDNN); elsewhere padding is waste."""
    return device.type == "cuda"


def one_ahead(items: Iterable) -> Iterator:
    """Yields what `items` yields, but always takes the next item before handing out the current one:
    a batch being gathered and copied while the consumer's step for the previous one runs."""
    it = iter(items)
    try:
        current = next(it)
    except StopIteration:
        return
    for upcoming in it:
        yield current
        current = upcoming
    yield current


# ---- where the squares live ------------------------------------------------------------------------
def device_images_bound() -> int:
    """Bytes of uint8 squares a job may keep on its training device (`TRANSFERLAB_DEVICE_IMAGES_MB`)."""
    return int(float(os.environ.get("TRANSFERLAB_DEVICE_IMAGES_MB", DEFAULT_DEVICE_IMAGES_MB)) * 2**20)


def set_bytes(images: ImageSet) -> int:
    return len(images) * 3 * images.pre.resize ** 2


class Resident:
    """All squares in one tensor on the device: a batch is an index operation there."""

    def __init__(self, images: ImageSet, device: torch.device):
        self.squares = _gather(images, device)
        self.labels = images.labels().to(device)

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx = to_device(idx, self.squares.device)
        return self.squares[idx], self.labels[idx]


class Streamed:
    """Squares stay in the host's decoded cache; each batch is stacked there (pinned for CUDA) and
    copied without waiting."""

    def __init__(self, images: ImageSet, device: torch.device):
        self.images, self.device = images, device
        self.pin = device.type == "cuda"
        self.labels = images.labels().to(device)

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.images.pre.resize
        host = torch.empty(len(idx), 3, size, size, dtype=torch.uint8, pin_memory=self.pin)
        self.images.stack(idx.tolist(), out=host)
        return host.to(self.device, non_blocking=True), self.labels[to_device(idx, self.device)]


def place(images: ImageSet, device: torch.device) -> Resident | Streamed:
    """Resident when the set fits under the device bound, else streamed."""
    if set_bytes(images) <= device_images_bound():
        return Resident(images, device)
    return Streamed(images, device)


class Placement:
    """A split's place on the device, made on first use (inside the first epoch that needs it, where its
    cost belongs) and shared by every view of the split (plain, augmented)."""

    def __init__(self, images: ImageSet, device: torch.device):
        self.images, self.device = images, device
        self._placed: Resident | Streamed | None = None

    def get(self) -> Resident | Streamed:
        if self._placed is None:
            self._placed = place(self.images, self.device)
        return self._placed


def _gather(images: ImageSet, device: torch.device) -> torch.Tensor:
    """One (n, 3, S, S) uint8 tensor on `device`, filled from the decoded cache in pinned chunks."""
    size, n = images.pre.resize, len(images)
    if device.type != "cuda":
        return images.stack(list(range(n))) if n else torch.empty(0, 3, size, size, dtype=torch.uint8)
    out = torch.empty(n, 3, size, size, dtype=torch.uint8, device=device)
    for start in range(0, n, GATHER_CHUNK):
        chunk = list(range(start, min(n, start + GATHER_CHUNK)))
        host = images.stack(chunk, out=torch.empty(len(chunk), 3, size, size, dtype=torch.uint8, pin_memory=True))
        out[start:start + len(chunk)].copy_(host, non_blocking=True)
    return out

"""Batches of one shape per phase: training batches always full (the last topped up, a tiny set in one
batch of its own size), evaluation padded without changing a logit; images placed on the device once,
a batch gathered by indexing, the same batches whether the images are resident or streamed."""
import pytest
import torch

from core import data
from core.config import AugmentSpec, DataSpec, FreezePlan, TrainSpec
from core.data.augment import train_transform
from core.data.batch_augment import BatchAugment
from core.data.cache import DecodedCache, ImageSet
from core.data.transforms import normalize
from core.data.uploads import from_uploads
from core.models.transfer import build_model
from core.training import batches, trainer as trainer_module
from core.training.sources import FeatureBatches, ImageBatches
from core.training.trainer import Trainer, fit
from tests import corpus
from tests.training import digits, finetune, probe

CPU = torch.device("cpu")


def image_set(n: int, backbone_pre, augment=None) -> ImageSet:
    pairs = [(f"c{i % 3}/{i}.png", corpus.png(500 + i, (40, 36))) for i in range(n)]
    data.ingest("b", from_uploads(pairs))
    records = data.records("b")
    assert len(records) == n
    return ImageSet(records, backbone_pre, augment, DecodedCache(2**30))


@pytest.fixture
def pre():
    from core import models
    return models.get("mobilenet_v3_small").preprocess()


@pytest.mark.parametrize("n, batch, rows, size", [(23, 8, 3, 8), (24, 8, 3, 8), (5, 8, 1, 5), (1, 4, 1, 1)])
def test_every_training_batch_is_full_and_every_sample_is_seen(n, batch, rows, size):
    plan = batches.train_plan(n, batch, torch.Generator().manual_seed(0))
    assert tuple(plan.shape) == (rows, size)
    counts = torch.bincount(plan.flatten(), minlength=n)
    assert bool((counts >= 1).all()) and int(counts.max()) <= 2  # all seen; a top-up repeats at most once
    assert batches.steps_per_epoch(n, batch) == rows


def test_image_and_feature_batches_have_the_configured_size(pre):
    images = ImageBatches(image_set(11, pre, train_transform(AugmentSpec(preset="light"), pre)), pre, CPU)
    sizes = [(len(x), len(y)) for x, y in images.iterate(4, torch.Generator().manual_seed(0))]
    assert sizes == [(4, 4)] * 3
    features = FeatureBatches([torch.randn(11, 6)], torch.arange(11))
    assert [len(x) for x, _ in features.iterate(4, torch.Generator().manual_seed(0))] == [4, 4, 4]
    assert [len(x) for x, _ in features.iterate(4)] == [4, 4, 3]  # in order, unpadded: the head tunes nothing


def test_a_fit_trains_only_on_full_batches(monkeypatch):
    """Head epochs on cached features, then fine-tuning on images: 60 training images in batches of 16
    (the old engine's last batch had 12)."""
    seen = []
    original = Trainer._step

    def spy(self, optimizer, source, x, y):
        seen.append(len(y))
        return original(self, optimizer, source, x, y)
    monkeypatch.setattr(Trainer, "_step", spy)
    ds = digits(per_class=10)
    fit(finetune(ds).replace(augment=AugmentSpec(preset="none"), train=TrainSpec(
        head_epochs=1, finetune_epochs=1, finetune_lr=1e-3, batch_size=16)))
    assert len(data.for_spec(DataSpec(dataset=ds)).train) % 16 != 0
    assert len(seen) == 2 * 4 and set(seen) == {16}, seen


def test_padded_evaluation_equals_unpadded_with_batchnorm_in_eval_mode(pre):
    images = image_set(11, pre)
    config = finetune("b")
    torch.manual_seed(0)
    model = build_model(config, 3).to(memory_format=torch.channels_last)
    model.train()
    with torch.no_grad():  # give BatchNorm running statistics of its own, so eval mode really uses them
        for _ in range(3):
            model(torch.randn(6, 3, pre.crop, pre.crop))

    def logits(pad: bool, train_mode: bool = False):
        model.train(train_mode)
        source = ImageBatches(images, pre, CPU, pad_eval=pad)
        with torch.no_grad():
            out = [model(x)[:len(y)] for x, y in source.iterate(8)]
            shapes = {len(x) for x, _ in source.iterate(8)}
        return torch.cat(out), shapes

    padded, padded_shapes = logits(True)
    plain, plain_shapes = logits(False)
    assert padded_shapes == {8} and plain_shapes == {8, 3}  # one shape when padded
    assert padded.shape == plain.shape == (11, 3)
    assert torch.allclose(padded, plain, atol=1e-5)
    # the check can fail: in train mode the padding rows enter BatchNorm's batch statistics
    assert not torch.allclose(logits(True, train_mode=True)[0], logits(False, train_mode=True)[0], atol=1e-3)


def test_padded_evaluation_gives_the_same_report_from_the_trainer(monkeypatch):
    ds = digits(per_class=6)
    config = finetune(ds).replace(train=TrainSpec(head_epochs=0, finetune_epochs=1, finetune_lr=1e-3, batch_size=4))
    plain = fit(config)["evaluation"]
    monkeypatch.setattr(batches, "pads_eval", lambda device: True)
    padded = fit(config)["evaluation"]
    assert padded["accuracy"] == plain["accuracy"] and padded["confusion"] == plain["confusion"]
    assert [p["pred"] for p in padded["predictions"]] == [p["pred"] for p in plain["predictions"]]
    for a, b in zip(padded["predictions"], plain["predictions"], strict=True):
        assert a["prob"] == pytest.approx(b["prob"], abs=1e-3)


def test_resident_and_streamed_images_give_the_same_batches(pre, monkeypatch):
    augment = train_transform(AugmentSpec(preset="strong"), pre)
    resident = ImageBatches(image_set(9, pre, augment), pre, CPU)
    assert isinstance(resident.placed(), batches.Resident)
    monkeypatch.setenv("TRANSFERLAB_DEVICE_IMAGES_MB", "0.1")  # below 9 squares of 256 px
    streamed = ImageBatches(image_set(9, pre, augment), pre, CPU)
    assert isinstance(streamed.placed(), batches.Streamed)
    for (xa, ya), (xb, yb) in zip(resident.iterate(4, torch.Generator().manual_seed(3)),
                                  streamed.iterate(4, torch.Generator().manual_seed(3)), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    for (xa, ya), (xb, yb) in zip(resident.iterate(4), streamed.iterate(4), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_a_training_batch_is_the_augmented_gather_of_its_indices(pre):
    """What training gets is the augmentation (the one the preview shows) of exactly the indexed images."""
    augment = train_transform(AugmentSpec(preset="light"), pre)
    images = image_set(7, pre, augment)
    source = ImageBatches(images, pre, CPU)
    generator = torch.Generator().manual_seed(5)
    x, y = next(iter(source.iterate(4, generator)))
    replay = torch.Generator().manual_seed(5)
    idx = batches.train_plan(7, 4, replay)[0]
    expected = normalize(augment(images.stack(idx.tolist()), replay), pre)
    assert torch.equal(x, expected.contiguous(memory_format=torch.channels_last))
    assert torch.equal(y, images.labels()[idx])


def test_images_are_placed_once_per_fit_and_leave_with_it(monkeypatch):
    placed = []
    original = batches.place
    monkeypatch.setattr(batches, "place", lambda images, device: placed.append(len(images)) or original(images, device))
    ds = digits(per_class=6)
    trainer = Trainer(finetune(ds).replace(train=TrainSpec(head_epochs=1, finetune_epochs=1, finetune_lr=1e-3,
                                                           batch_size=16)))
    trainer.fit()
    sizes = data.for_spec(DataSpec(dataset=ds))
    assert sorted(placed) == sorted([len(sizes.train), len(sizes.val), len(sizes.test)])  # each split once
    assert trainer._sources == {}


def test_the_head_phase_with_live_augmentation_augments(monkeypatch):
    """A frozen trunk with augmentation and no cached views runs the backbone every epoch: on augmented
    images (the engine used to feed it the plain crops)."""
    calls = []
    original = BatchAugment.__call__
    monkeypatch.setattr(BatchAugment, "__call__", lambda self, squares, g: calls.append(len(squares)) or
                        original(self, squares, g))
    ds = digits(per_class=6)
    fit(finetune(ds).replace(freeze=FreezePlan(mode="all_but_head"), train=TrainSpec(head_epochs=1, batch_size=16)))
    assert calls


def test_cached_augmented_views_differ_from_each_other_and_from_the_plain_view(pre):
    images = image_set(5, pre)
    plain = ImageBatches(images, pre, CPU)
    augment = train_transform(AugmentSpec(preset="light"), pre)
    view = lambda seed: torch.cat([x for x, _ in plain.with_augment(augment, torch.Generator().manual_seed(seed))
                                   .iterate(4)])
    exact = torch.cat([x for x, _ in plain.iterate(4)])
    assert view(1).shape == exact.shape
    assert torch.equal(view(1), view(1)) and not torch.equal(view(1), view(2)) and not torch.equal(view(1), exact)


def test_one_ahead_takes_the_next_item_before_handing_out_the_current():
    log = []

    def items():
        for i in range(3):
            log.append(f"made {i}")
            yield i
    for item in batches.one_ahead(items()):
        log.append(f"used {item}")
    assert log == ["made 0", "made 1", "used 0", "made 2", "used 1", "used 2"]


def test_the_device_bound_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_DEVICE_IMAGES_MB", "3")
    assert batches.device_images_bound() == 3 * 2**20
    monkeypatch.delenv("TRANSFERLAB_DEVICE_IMAGES_MB")
    assert batches.device_images_bound() == batches.DEFAULT_DEVICE_IMAGES_MB * 2**20


def test_a_non_finite_loss_is_still_caught_without_a_wait_per_step(monkeypatch):
    """The loss is read back only at step events and the epoch's end: a NaN still fails the run clearly."""
    monkeypatch.setattr(trainer_module, "STEP_EVENT_SECONDS", 1e9)  # no step event: only the epoch's end reads it
    monkeypatch.setattr(trainer_module.tasks.F, "cross_entropy",
                        lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(trainer_module.TrainingFailed, match="loss became nan.*learning rate"):
        fit(probe(digits(per_class=6), epochs=1))

import pytest
import torch

from core import data, models
from core.config import AugmentSpec, DataSpec
from core.data import health, samples, splits
from core.data.augment import is_identity, preview, train_transform
from core.data.cache import DecodedCache, ImageSet
from core.data.fingerprint import perceptual_hash
from core.data.transforms import decode_square
from core.data.uploads import from_uploads
from core.errors import UserError
from tests import corpus


def make_dataset(name="split", counts=(10, 7, 2, 1), seed_base=0):
    pairs = [(f"c{k}/{i}.png", corpus.png(seed_base + 100 * k + i)) for k, n in enumerate(counts) for i in range(n)]
    return data.ingest(name, from_uploads(pairs))


@pytest.mark.parametrize("n, expected", [(1, (1, 0, 0)), (2, (1, 1, 0)), (3, (1, 1, 1)), (10, (6, 2, 2)),
                                         (100, (70, 15, 15))])
def test_split_sizes_keep_a_val_image_per_class(n, expected):
    assert splits.split_sizes(n, 0.15, 0.15) == expected


def assignment(dataset: str, seed: int = 0, val: float = 0.15, test: float = 0.15) -> dict[str, str]:
    lists = data.for_spec(DataSpec(dataset=dataset, split_seed=seed, val_fraction=val, test_fraction=test))
    return {r.original: r.split for split in data.SPLITS for r in getattr(lists, split)}


def test_split_is_stratified_and_deterministic():
    make_dataset()
    first = assignment("split")
    per_class = health.check("split")["splits_by_class"]
    assert per_class["c0"] == {"train": 6, "val": 2, "test": 2}
    assert per_class["c2"] == {"train": 1, "val": 1, "test": 0}
    assert per_class["c3"] == {"train": 1, "val": 0, "test": 0}
    assert assignment("split", seed=1) != first  # another seed is another (equally sticky) assignment
    assert assignment("split", seed=0) == first


def test_split_does_not_depend_on_upload_order():
    pairs = [(f"c{k}/{i}.png", corpus.png(100 * k + i)) for k in range(2) for i in range(8)]
    data.ingest("a", from_uploads(pairs))
    data.ingest("b", from_uploads(list(reversed(pairs))))
    assert assignment("a") == assignment("b")


def test_adding_images_never_moves_an_existing_one_and_classes_stay_within_one_of_their_fractions():
    """Reproduces the reshuffle: ingesting more images used to re-split the whole dataset, so a
    finished run's test images could land in training."""
    before, grown = {}, []
    for step in range(6):  # a classroom dataset growing in small uploads: 3 new images per class each time
        pairs = [(f"c{k}/{step}-{i}.png", corpus.png(1000 * k + 10 * step + i)) for k in range(4) for i in range(3)]
        data.ingest("grow", from_uploads(pairs))
        now = assignment("grow", val=0.2, test=0.2)
        assert {name: now[name] for name in before} == before  # nobody moved
        before = now
        grown.append(now)
        for k in range(4):
            counts = {s: sum(1 for name, split in now.items() if name.startswith(f"c{k}/") and split == s)
                      for s in data.SPLITS}
            n = sum(counts.values())
            assert abs(counts["val"] - 0.2 * n) <= 1 and abs(counts["test"] - 0.2 * n) <= 1, (step, k, counts)
    assert len(grown[-1]) == 4 * 18


def test_decoded_cache_is_bounded_in_bytes():
    make_dataset("cache", counts=(6, 6))
    recs = data.records("cache")
    one = 3 * 32 * 32
    cache = DecodedCache(max_bytes=4 * one)
    for r in recs:
        tensor = cache.get(r.sha256, 32)
        assert tensor.shape == (3, 32, 32) and tensor.dtype == torch.uint8
    assert len(cache) == 4 and cache.bytes <= 4 * one
    cache.get(recs[-1].sha256, 32)
    assert cache.hits == 1
    bicubic = cache.get(recs[-1].sha256, 32, "bicubic")
    assert cache.hits == 1 and not torch.equal(bicubic, cache.get(recs[-1].sha256, 32))  # no mixing


def test_augmentation_draws_per_sample_not_per_batch():
    pre = models.get("efficientnet_lite0").preprocess()
    base = decode_square(corpus.jpeg(7, (300, 260)), pre.resize)
    transform = train_transform(AugmentSpec(preset="strong"), pre)
    batch = transform(base.expand(8, -1, -1, -1), torch.Generator().manual_seed(0))  # one batch of 8 copies
    assert batch.shape == (8, 3, pre.crop, pre.crop)
    distinct = {hash(v.numpy().tobytes()) for v in batch}
    assert len(distinct) == 8


def test_image_set_yields_crops_and_labels():
    make_dataset("set", counts=(3, 3))
    pre = models.get("resnet18").preprocess()
    recs = data.for_spec(DataSpec(dataset="set")).train
    x, y = ImageSet(recs, pre)[0]
    assert x.shape == (3, 224, 224) and x.dtype == torch.uint8 and y == recs[0].label


def test_preview_returns_n_views_and_none_preset_is_identity():
    pre = models.get("resnet18").preprocess()
    views = preview(corpus.jpeg(3, (300, 300)), AugmentSpec(preset="light"), pre, n=8)
    assert len(views) == 8 and views[0].shape == (224, 224, 3)
    assert is_identity(AugmentSpec(preset="none")) and not is_identity(AugmentSpec(preset="light"))


def test_health_reports_balance_tiny_gray_and_leaks():
    pairs = [(f"big/{i}.png", corpus.png(i, (64, 64))) for i in range(12)]
    pairs += [(f"small/{i}.png", corpus.encode(corpus.photo(50 + i, (16, 16)).convert("L"), "PNG")) for i in range(3)]
    make_dataset("h", counts=())
    data.ingest("h", from_uploads(pairs))
    info = health.check("h")
    assert info["imbalance_ratio"] == 4.0
    assert info["tiny"]["count"] == 3 and info["grayscale"] == 3 and info["mixed_color"]
    assert info["size_bucket"] == "small"
    original = corpus.photo(1, (128, 128))
    near = corpus.encode(original, "JPEG", quality=60)
    rows = [{"original": "a.png", "split": "train", "phash": perceptual_hash(original)},
            {"original": "a_copy.jpg", "split": "test", "phash": perceptual_hash(
                __import__("core.data.images", fromlist=["decode"]).decode(near))},
            {"original": "other.png", "split": "test", "phash": perceptual_hash(corpus.photo(2, (128, 128)))}]
    leaks = health._leaks(rows)
    assert leaks["count"] == 1 and {leaks["pairs"][0]["a"], leaks["pairs"][0]["b"]} == {"a.png", "a_copy.jpg"}


def test_offline_samples_materialise_and_online_ones_say_why_not(monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_OFFLINE", "1")
    catalog = {s["name"]: s for s in samples.catalog()}
    assert catalog["mnist"]["available"] and catalog["digits"]["available"]
    assert not catalog["flowers102"]["available"] and "needs internet" in catalog["flowers102"]["note"]
    report = samples.materialize("digits", "dg", per_class=5)
    assert report.stored == 50 and report.classes == {str(d): 5 for d in range(10)}
    with pytest.raises(UserError, match="needs internet"):
        samples.materialize("pets", per_class=2)

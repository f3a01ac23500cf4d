"""Batched augmentation: per-sample random parameters in one batch, the geometry it claims (a crop is
that crop, a flip mirrors, a rotation turns), its colour arithmetic, and the preview showing exactly
what training gets."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core import models
from core.config import AugmentSpec
from core.data import augment
from core.data.augment import preview, resolved, to_uint8, train_transform
from core.data.batch_augment import BatchAugment, Draw, hue_matrices, jitter, luma
from core.data.transforms import center_crop, decode_square, normalize
from tests import corpus

PRE = models.get("efficientnet_lite0").preprocess()  # 256 px squares, 224 px crops


def square(seed: int = 7) -> torch.Tensor:
    """A decoded photo-like square: no symmetry, so a flip or another crop shows."""
    return decode_square(corpus.jpeg(seed, (300, 260)), PRE.resize)


def copies(n: int, seed: int = 7) -> torch.Tensor:
    return square(seed).expand(n, -1, -1, -1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def only(**toggles) -> BatchAugment:
    spec = AugmentSpec("custom", flip=False, rotation=0, random_resized_crop=False, color_jitter=0, grayscale=0)
    return BatchAugment(AugmentSpec(**{**spec.__dict__, **toggles}), PRE.crop)


def test_one_batch_draws_its_crops_and_flips_per_sample_and_a_seed_repeats_the_batch():
    transform = train_transform(AugmentSpec(preset="light"), PRE)
    draw = transform.draw(16, PRE.resize, gen(0))
    assert len({tuple(box.tolist()) for box in draw.boxes}) == 16  # sixteen different crops
    assert 0 < int(draw.flips.sum()) < 16  # some mirrored, some not: not one coin for the batch
    assert len({tuple(c.tolist()) for c in draw.colour}) == 16
    batch = transform(copies(16), gen(0))
    assert len({v.numpy().tobytes() for v in batch}) == 16  # sixteen copies of one image, sixteen views
    assert torch.equal(batch, transform(copies(16), gen(0)))  # same seed, same batch
    assert not torch.equal(batch, transform(copies(16), gen(1)))


def test_augmentation_never_touches_the_global_rng():
    state = torch.get_rng_state()
    train_transform(AugmentSpec(preset="strong"), PRE)(copies(4), gen(0))
    preview(corpus.jpeg(3, (300, 300)), AugmentSpec(preset="strong"), PRE, n=4)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("preset", ["none", "light", "strong"])
def test_output_is_float_crops_in_the_unit_range(preset):
    out = train_transform(AugmentSpec(preset=preset), PRE)(copies(6), gen(2))
    assert out.shape == (6, 3, PRE.crop, PRE.crop) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert float(out.std()) > 0.05  # a picture, not a blank


def test_none_is_the_evaluation_crop_exactly():
    out = train_transform(AugmentSpec(preset="none"), PRE)(copies(3), gen(0))
    expected = center_crop(copies(3), PRE.crop).float() / 255
    assert torch.equal(out, expected)
    assert torch.equal(normalize(out, PRE), normalize(center_crop(copies(3), PRE.crop), PRE))


def test_a_flip_mirrors_the_pixels():
    transform = only(flip=True)
    draw = transform.draw(12, PRE.resize, gen(0))
    out = transform.apply(copies(12), draw)
    crop = center_crop(square(), PRE.crop).float() / 255
    for view, flipped in zip(out, draw.flips.tolist(), strict=True):
        assert torch.equal(view, crop.flip(-1) if flipped else crop)
    assert 0 < int(draw.flips.sum()) < 12


def test_a_flip_mirrors_a_random_crop_too():
    """The geometric path (one affine grid per image): the same crop with the flip bit set is the
    mirror image of the crop without it."""
    transform = train_transform(AugmentSpec(preset="light"), PRE)
    draw = transform.draw(6, PRE.resize, gen(3))
    plain = Draw(draw.boxes, draw.angles, torch.zeros(6, dtype=torch.bool), torch.tensor([[1.0, 1, 1, 0]] * 6),
                 draw.gray)
    mirrored = Draw(draw.boxes, draw.angles, torch.ones(6, dtype=torch.bool), plain.colour, draw.gray)
    a, b = transform.apply(copies(6), plain), transform.apply(copies(6), mirrored)
    assert torch.allclose(a.flip(-1), b, atol=1e-5)
    assert not torch.allclose(a, b, atol=1e-2)


def test_a_crop_box_is_that_part_of_the_square():
    """A box over the whole square is the square resized (bilinear); a box over its left half is the
    left half resized (but for the last column, which sees the right half's first pixels, as a crop of
    the whole picture should)."""
    transform = only(random_resized_crop=True)
    x = square().unsqueeze(0)

    def with_box(cx, cy, w, h):
        return transform.apply(x, Draw(torch.tensor([[cx, cy, w, h]]), torch.zeros(1), torch.zeros(1, dtype=torch.bool),
                                       torch.tensor([[1.0, 1, 1, 0]]), torch.zeros(1, dtype=torch.bool)))
    whole = F.interpolate(x.float() / 255, size=(PRE.crop, PRE.crop), mode="bilinear", align_corners=False)
    assert torch.allclose(with_box(0, 0, 1, 1), whole, atol=1e-4)  # float rounding of the grid only
    half = F.interpolate(x[..., :, : PRE.resize // 2].float() / 255, size=(PRE.crop, PRE.crop), mode="bilinear",
                         align_corners=False)
    assert torch.allclose(with_box(-0.5, 0, 0.5, 1)[..., :-1], half[..., :-1], atol=1e-4)


def test_crops_keep_within_the_square_and_their_area():
    draw = train_transform(AugmentSpec(preset="light"), PRE).draw(500, PRE.resize, gen(5))
    cx, cy, w, h = draw.boxes.unbind(1)
    assert bool(((cx.abs() + w) <= 1 + 1e-6).all() and ((cy.abs() + h) <= 1 + 1e-6).all())
    area = w * h  # fraction of the square (half sides in [-1, 1] coordinates)
    assert float(area.min()) >= 0.45 and float(area.max()) <= 1.0 + 1e-6


def test_a_quarter_turn_turns_the_picture():
    transform = BatchAugment(resolved(AugmentSpec("custom", flip=False, rotation=90)), PRE.resize)  # crop = square
    x = square().unsqueeze(0)
    turned = transform.apply(x, Draw(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([math.pi / 2]),
                                     torch.zeros(1, dtype=torch.bool), torch.tensor([[1.0, 1, 1, 0]]),
                                     torch.zeros(1, dtype=torch.bool)))
    unit = x.float() / 255
    assert any(torch.allclose(turned, torch.rot90(unit, k, dims=(-2, -1)), atol=1e-4) for k in (1, -1))


def test_colour_jitter_at_neutral_factors_is_identity_and_hue_keeps_luma():
    x = train_transform(AugmentSpec(preset="none"), PRE)(copies(2), gen(0))
    neutral = jitter(x.clone(), torch.ones(2, 3), hue_matrices(torch.zeros(2)))
    assert torch.allclose(neutral, x, atol=1e-6)
    mid = 0.25 + 0.5 * x  # away from 0 and 1: no clamping
    turned = jitter(mid.clone(), torch.ones(2, 3), hue_matrices(torch.tensor([0.05, -0.05])))
    assert torch.allclose(luma(turned), luma(mid), atol=1e-4) and not torch.allclose(turned, mid, atol=1e-3)
    darker = jitter(x.clone(), torch.tensor([[0.5, 1, 1], [1, 1, 1]]), hue_matrices(torch.zeros(2)))
    assert torch.allclose(darker[0], x[0] * 0.5, atol=1e-6) and torch.allclose(darker[1], x[1], atol=1e-6)


def test_grayscale_makes_the_chosen_samples_gray_only():
    transform = only(grayscale=0.5)
    draw = transform.draw(16, PRE.resize, gen(1))
    out = transform.apply(copies(16), draw)
    for view, gray in zip(out, draw.gray.tolist(), strict=True):
        assert torch.equal(view[0], view[1]) == gray
    assert 0 < int(draw.gray.sum()) < 16


def test_the_preview_is_the_training_transform_for_the_same_seed():
    raw = corpus.jpeg(3, (300, 300))
    spec = AugmentSpec(preset="strong")
    views = preview(raw, spec, PRE, n=6, seed=4)
    base = decode_square(raw, PRE.resize, PRE.interpolation)
    trained = to_uint8(train_transform(spec, PRE)(base.expand(6, -1, -1, -1), gen(4)))
    assert np.array_equal(np.stack(views), trained.permute(0, 2, 3, 1).numpy())
    assert views[0].shape == (PRE.crop, PRE.crop, 3) and views[0].dtype == np.uint8
    assert not np.array_equal(views[0], views[1])


def test_presets_keep_their_toggles():
    light, strong = resolved(AugmentSpec(preset="light")), resolved(AugmentSpec(preset="strong"))
    assert (light.flip, light.random_resized_crop, light.color_jitter, light.rotation) == (True, True, 0.1, 0)
    assert (strong.rotation, strong.grayscale, strong.color_jitter) == (15, 0.1, 0.3)
    assert augment.is_identity(AugmentSpec(preset="none"))

"""Every generated sentence that compares numbers, on both sides of its condition (issue 29 item 8)."""
from __future__ import annotations

from core import words
from core.training import curves
from ui import learning_curve


def test_balanced_accuracy_says_neglect_only_when_it_is_well_below_the_accuracy():
    below = words.balanced_sentence(0.90, 0.70)
    assert below.startswith("20 points below the accuracy: the model neglects small classes"), below
    equal = words.balanced_sentence(0.825, 0.825)  # it said "Far below the accuracy" here
    assert equal == "About the same as the accuracy: no class is neglected for being small."
    assert "neglects" not in words.balanced_sentence(0.80, 0.76)  # 4 points: within the margin
    assert words.balanced_sentence(0.70, 0.80).startswith("10 points above the accuracy")


def test_the_interval_sentence_says_too_few_images_only_when_it_is_wide():
    low, high = words.wilson(8, 10)
    assert "too few images" in words.interval_sentence(10, low, high)
    low, high = words.wilson(800, 1000)
    said = words.interval_sentence(1000, low, high)
    assert "too few" not in said and said.endswith("(Wilson interval).")


def _series(*accuracies: float) -> list[dict]:
    return curves.epoch_series([{"phase": "head", "epoch": i, "val_accuracy": a} for i, a in enumerate(accuracies)])


def test_one_epoch_has_no_slope_and_two_do():
    one = learning_curve.compare_caption("the from scratch baseline", _series(0.5, 0.7, 0.8), _series(0.3))
    assert "no slope yet (one epoch)" in one and "points per epoch" not in one and "same slope" not in one, one
    two = learning_curve.compare_caption("the from scratch baseline", _series(0.5, 0.7), _series(0.3, 0.35))
    assert "higher slope" in two and "slope +15.0 points per epoch" in two, two
    assert "lower start" in learning_curve.compare_caption("x", _series(0.2, 0.3), _series(0.3, 0.4))


def test_the_wording_check_catches_the_shapes_issue_29_saw_and_passes_plain_words():
    """Ids, snake_case field names and Python's e-notation, each seen on a page (issue 29 item 13)."""
    from tests.wording import raw_words
    for seen in ("0c8edf5cd6a6 · efficientnet_lite0 · main run", "a_split, b_split, distance", "loss 1.4e-06",
                 "val_accuracy", "frozen: first_k", "a batch (N, 3, H, W)"):
        assert raw_words(seen), seen
    for plain in ("run of today 12:04 · backbone efficientnet_lite0 · main run", "backbone convnext_tiny",
                  "learning rate 1e-4", "freeze.unfreeze_at[0]: expected a stage", "timm/convnext_atto.d2_in1k",
                  "digits-30", "under 0.001", "IMG_20240101_123456_portrait.png", "in split", "2024-01-01"):
        assert raw_words(plain) == [], plain


def test_a_tiny_number_is_said_in_words_not_in_e_notation():
    assert words.number(1.4e-06) == "under 0.001" and words.number(-2e-05) == "just under 0"
    assert words.number(0.0452) == "0.045" and words.number(0.001) == "0.001" and words.number(0) == "0"


def test_code_shown_as_code_is_not_jargon():
    from tests.wording import raw_words
    assert raw_words("Run `0c8edf5cd6a6` on the command line.") == []
    assert raw_words("Run 0c8edf5cd6a6 on the command line.")

import pytest

from core import presets, scenarios
from core.config import RunConfig


@pytest.mark.parametrize("per_class, similarity, code", [
    (20, 0.8, "S1"), (20, 0.05, "S2"), (5000, 0.05, "S3"), (5000, 0.8, "S4")])
def test_place_on_the_grid(per_class, similarity, code):
    assert scenarios.place(per_class, similarity) == code


def test_presets_are_valid_and_follow_the_recipe():
    s1, s2, s3, s4 = (presets.preset(c, stage_count=6) for c in ("S1", "S2", "S3", "S4"))
    assert s1.freeze.mode == "all_but_head" and s1.train.finetune_epochs == 0
    assert s2.freeze.mode == "first_k" and s2.freeze.k == 3 and s2.train.finetune_epochs > 0
    assert s3.freeze.mode == "none" and "scratch" in s3.baselines
    assert s4.freeze.mode == "none" and s4.train.finetune_lr < s3.train.finetune_lr
    for cfg in (s1, s2, s3, s4):
        assert RunConfig.from_json(cfg.to_json()) == cfg

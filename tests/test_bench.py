"""The benchmark on a tiny setting. Timings are not asserted (machines are noisy); what the engine
does differently is: features are computed once, so its head epochs never run the backbone again.
And it says how close fine-tuning runs to the device's synthetic limit, with and without augmentation."""
import json

from tests.cli import cli


def test_bench_engine_extracts_features_once_and_outruns_the_plain_loop():
    out = cli("bench", "--per-class", "3", "--plain-epochs", "2", "--finetune-epochs", "1", "--target", "1.01", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    extraction, tuning = result["feature_extraction"], result["fine_tuning"]
    assert extraction["engine"]["epochs"] == 30 and extraction["plain"]["epochs"] == 2  # nobody reached 1.01
    assert extraction["engine"]["backbone_passes_over_train"] == 1  # 30 head epochs on one feature pass
    assert extraction["plain"]["backbone_passes_over_train"] == 2
    # one backbone pass against one per epoch: a margin of orders of magnitude, not a noisy timing
    assert extraction["images_per_second_ratio"] > 10
    assert tuning["engine"]["backbone_passes_over_train"] == tuning["plain"]["backbone_passes_over_train"] == 1
    assert tuning["engine_recipe"]["backbone_passes_over_train"] == 2  # features once, then one fine-tune epoch
    assert extraction["seconds_to_target_ratio"] is None  # an unreachable target gives no ratio, not a fake one
    assert result["device"] == "cpu"
    for preset in ("light", "none"):
        speed = tuning[preset]
        assert len(speed["engine_epoch_images_per_s"]) == 2  # a first epoch and a steady one
        assert speed["limit_images_per_s"] > 0 and speed["data_path_images_per_s"] > 0
        assert speed["fraction_of_limit"] == round(speed["engine_images_per_s"] / speed["limit_images_per_s"], 3)
        first, steady = speed["engine_epoch_images_per_s"][0], speed["engine_images_per_s"]
        assert speed["first_epoch_over_steady"] == round(first / steady, 3)
        assert speed["batch_size"] == 10  # 3 images per class, 1 of them training: batch 32 clamps to the 10
    assert tuning["light"]["limit_images_per_s"] == tuning["none"]["limit_images_per_s"]  # one limit: same model

"""The benchmark's plumbing on a tiny setting (figures are not asserted: machines are noisy)."""
import json

from tests.test_cli import cli


def test_bench_json_compares_both_loops_for_both_modes():
    out = cli("bench", "--per-class", "3", "--plain-epochs", "1", "--finetune-epochs", "1", "--target", "0.0", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    for mode in ("feature_extraction", "fine_tuning"):
        part = result[mode]
        for loop in ("engine", "plain"):
            assert part[loop]["seconds_to_target"] is not None and part[loop]["train_images_per_second"] > 0
        assert part["seconds_to_target_ratio"] > 0 and part["images_per_second_ratio"] > 0
    assert result["device"] == "cpu" and result["feature_extraction"]["engine"]["epochs"] >= 1

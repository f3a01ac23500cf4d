""""Unknown" (looks like none of the classes) and the suggested "not sure" threshold: both measured on the
run's validation images when training ends and stored with the run."""
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data as photos

from core.cli.main import main
from core.data import read_bytes
from core.data.images import decode
from core.execute import slot as worker
from core.paths import run_dir
from core.runs import leases, queue as jobs
from core.serving import card, predict
from tests.training import digits, probe

FOREIGN = ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "moon", "page", "horse", "hubble_deep_field")


def foreign_photos() -> list[Image.Image]:
    """Natural photos from scikit-image: nothing like a handwritten digit."""
    out = []
    for name in FOREIGN:
        pixels = getattr(photos, name)()
        out.append(Image.fromarray((pixels * 255).astype(np.uint8) if pixels.dtype == bool else pixels).convert("RGB"))
    return out


def trained_digits() -> str:
    submitted = jobs.submit(probe(digits(per_class=20), epochs=4), "cli")
    worker.process(leases.claim_specific(submitted["job_id"]))
    return submitted["run_id"]


@pytest.mark.slow  # a trained run and ~110 pictures through the network: 36 s at load average 4-6 on 2 cores
def test_foreign_photos_are_unknown_far_more_often_than_own_test_images_with_the_stored_threshold(tmp_path, capsys):
    """One trained run (seconds of setup) for the three facts: the rates, the threshold kept with the run and
    rebuilt from its files alone, and `predict --json`'s fields."""
    run_id = trained_digits()
    own = [decode(read_bytes(r.sha256)) for r in jobs.lists(run_id, "cli").test]
    own_rate = np.mean([row["unknown"] for row in predict.judge(run_id, own)])
    foreign_rate = np.mean([row["unknown"] for row in predict.judge(run_id, foreign_photos())])
    assert foreign_rate >= 0.9 and own_rate <= 0.3, (own_rate, foreign_rate)

    meta = json.loads((run_dir(run_id) / "meta.json").read_text())
    stored = meta["unknown"]["threshold"]
    assert 0 < stored < 1 and meta["unknown"]["measured_on"] == "validation"
    predict._cache.clear()  # as a fresh server process: rebuilt from the run's files alone
    loaded = predict.load_run(run_id)
    assert loaded.bank.shape == (meta["unknown"]["reference_images"], meta["feature_dim"])
    suggested = meta["not_sure"]
    assert suggested is None or (0 < suggested["confidence"] <= 1 and suggested["precision"] == 0.95)
    assert any(title == "Unknown and not sure" for title, _ in card.facts(jobs.run(run_id, "cli")))

    path = tmp_path / "cat.png"
    foreign_photos()[2].save(path)
    assert main(["predict", "--run", run_id, str(path), "--top", "2", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert {"image", "top", "unknown", "ood_score", "ood_threshold"} <= set(row)
    assert row["unknown"] is True and row["ood_score"] > row["ood_threshold"] == stored


def test_not_sure_is_suggested_where_the_kept_answers_reach_the_target_precision():
    import torch

    from core.training import ood

    # two classes, every answer class 0 at confidences 0.95 … 0.52; the two least confident ones are wrong
    conf = torch.tensor([0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.52])
    logits = torch.stack([conf.log(), (1 - conf).log()], dim=-1)
    labels = torch.tensor([0] * 8 + [1] * 2)
    said = ood.suggest_confidence(logits, labels, target=0.95)
    assert said["confidence"] == pytest.approx(0.6, abs=1e-3) and said["kept"] == 0.8
    assert ood.suggest_confidence(logits, torch.ones(10, dtype=torch.long), target=0.95) is None


def test_unknown_comes_before_not_sure_and_not_sure_before_the_class():
    from ui import predictions

    top = [{"label": "7", "prob": 0.6, "index": 7}]
    assert predictions.verdict(top, 0.5, unknown=True) == "unknown"
    assert predictions.verdict(top, 0.7) == "not sure"
    assert predictions.verdict(top, 0.5) == "7"
    assert "doesn't look like any of your classes" in predictions.explained(top, 0.5, unknown=True)

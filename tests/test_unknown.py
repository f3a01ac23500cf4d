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
from tests.training import mnist, probe

FOREIGN = ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "moon", "page", "horse", "hubble_deep_field")


def foreign_photos() -> list[Image.Image]:
    """Natural photos from scikit-image: nothing like a handwritten digit."""
    out = []
    for name in FOREIGN:
        pixels = getattr(photos, name)()
        out.append(Image.fromarray((pixels * 255).astype(np.uint8) if pixels.dtype == bool else pixels).convert("RGB"))
    return out


def trained_digits() -> str:
    submitted = jobs.submit(probe(mnist(per_class=20), epochs=4), "cli")
    worker.process(leases.claim_specific(submitted["job_id"]))
    return submitted["run_id"]


def unseen_digits(per_class: int, after: int) -> list[Image.Image]:
    """MNIST digits that no dataset of these tests holds: each class's images after its first `after`
    (`samples.materialize` keeps the first ones), rendered as the sample renders them. (scikit-learn's digits come
    in blocks of writers: its 21st to 40th of each class were another hand, 13 % unknown at a 5 % rule.)"""
    from core.data import samples

    seen: dict[str, int] = {}
    out = []
    for label, picture in samples.get("mnist").load():
        seen[label] = seen.get(label, 0) + 1
        if after < seen[label] <= after + per_class:
            out.append(picture)
    return out


@pytest.mark.slow  # a trained run and ~240 pictures through the network: about 40 s at load average 4-6 on 2 cores
def test_unseen_digits_are_rarely_unknown_and_foreign_photos_always_with_the_stored_threshold(tmp_path, capsys):
    """Issue 29: at most 5 % of unseen pictures of the run's classes unknown, at least 95 % of foreign photos
    (the 95th percentile of 30-odd validation images called 7 of 100 unseen MNIST digits unknown; measured here
    before the conformal rule: the note of issue 29). One trained
    run for every fact: the rates, the threshold kept with the run and rebuilt from its files alone, and
    `predict --json`'s fields."""
    run_id = trained_digits()
    own = [decode(read_bytes(r.sha256)) for r in jobs.lists(run_id, "cli").test] + unseen_digits(20, after=20)
    own_rate = np.mean([row["unknown"] for row in predict.judge(run_id, own)])
    foreign_rate = np.mean([row["unknown"] for row in predict.judge(run_id, foreign_photos())])
    assert len(own) >= 230 and own_rate <= 0.05 and foreign_rate >= 0.95, (own_rate, foreign_rate)

    meta = json.loads((run_dir(run_id) / "meta.json").read_text())
    stored = meta["unknown"]["threshold"]
    assert 0 < stored < 1 and meta["unknown"]["images"] == meta["unknown"]["reference_images"]
    assert meta["unknown"]["images"] == 200 - len(jobs.lists(run_id, "cli").test)  # every kept image
    assert meta["unknown"]["at_most"] <= 0.02 and "at most 2% of new pictures" in card.unknown_rule(meta["unknown"])
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


def test_the_conformal_rank_and_its_words_on_both_sides_of_49_images():
    import torch

    from core.serving.card import unknown_rule
    from core.training import ood

    scores = torch.arange(1, 101, dtype=torch.float) / 100  # 100 scores 0.01 … 1.00
    found = ood.conformal(scores)
    assert found["rank"] == 99 and found["threshold"] == pytest.approx(0.99) and found["at_most"] <= 0.02
    said = unknown_rule(found)
    assert "all 100 kept images" in said and "than 99 of them" in said and "at most 2% of new pictures" in said
    few = ood.conformal(scores[:48])  # (48 + 1) × 0.98 > 48: no rank gives 2 %, the furthest is used
    assert few["rank"] == 48 and few["threshold"] == pytest.approx(0.48) and few["at_most"] > 0.02
    assert "up to 1 in 49 new pictures" in unknown_rule(few) and "at most 2%" not in unknown_rule(few)
    assert ood.conformal(scores[:49])["at_most"] <= 0.02  # 49 images: the first count that reaches 2 %
    old = {"threshold": 0.3, "quantile": 0.95, "images": 30, "measured_on": "validation"}  # a run from before
    assert "95% of the 30 validation images" in unknown_rule(old)
    assert ood.conformal(torch.empty(0))["images"] == 0 and "never said" in unknown_rule(ood.conformal(torch.empty(0)))


def test_every_kept_image_is_in_the_bank_and_scored_against_the_others():
    import torch

    from core.training import ood

    train, val = torch.eye(4)[:3] * 2, torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    bank, found = ood.reference(train, val)
    assert bank.shape == (4, 4) and found["images"] == found["reference_images"] == 4
    assert found["threshold"] == pytest.approx(1.0, abs=1e-3)  # each axis is orthogonal to the other two


def test_unknown_comes_before_not_sure_and_not_sure_before_the_class():
    from ui import predictions

    top = [{"label": "7", "prob": 0.6, "index": 7}]
    assert predictions.verdict(top, 0.5, unknown=True) == "unknown"
    assert predictions.verdict(top, 0.7) == "not sure"
    assert predictions.verdict(top, 0.5) == "7"
    assert "doesn't look like any of your classes" in predictions.explained(top, 0.5, unknown=True)

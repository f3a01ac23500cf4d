"""Multi-label training and its measures (issue 32): the loss and the metrics against scikit-learn on fixed
arrays, thresholds chosen on the validation images alone, and the CLI from ingest to predict."""
import dataclasses
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
)

from core.config import AugmentSpec, DataSpec, RunConfig, TrainSpec
from core.data import splits
from core.errors import ConfigError
from core.runs import queue
from core.serving import card, export, predict
from core.training import multilabel, tasks
from core.training.trainer import Trainer
from tests import corpus
from tests.cli import cli

RNG = np.random.default_rng(3)
TRUTH = RNG.random((40, 4)) < np.array([0.5, 0.3, 0.25, 0.6])
SCORES = np.round(np.clip(TRUTH * 0.35 + RNG.random((40, 4)) * 0.65, 0, 1), 2)  # rounded: ties included


def test_average_precision_and_its_mean_match_scikit_learn():
    for i in range(4):
        assert multilabel.average_precision(SCORES[:, i], TRUTH[:, i]) == pytest.approx(
            average_precision_score(TRUTH[:, i], SCORES[:, i]))
    assert multilabel.mean_ap(SCORES, TRUTH) == pytest.approx(average_precision_score(TRUTH, SCORES, average="macro"))
    assert multilabel.average_precision(SCORES[:, 0], np.zeros(40, bool)) is None  # nothing to find: not a 0


def test_mistakes_that_come_together_count_a_missed_and_an_added_label_per_image():
    predictions = [{"true": [0], "on": [1]}, {"true": [0, 2], "on": [1, 2]}, {"true": [1], "on": [0, 2]},
                   {"true": [], "on": []}]
    assert multilabel.mistake_pairs(predictions, 3) == [[0, 2, 0], [1, 0, 1], [0, 0, 0]]


def test_the_precision_recall_curve_matches_scikit_learn():
    curve = multilabel.pr_curve(SCORES[:, 1], TRUTH[:, 1])
    precision, recall, thresholds = precision_recall_curve(TRUTH[:, 1], SCORES[:, 1])
    ours = dict(zip(curve["threshold"], zip(curve["precision"], curve["recall"])))
    theirs = dict(zip(thresholds.tolist(), zip(precision[:-1].tolist(), recall[:-1].tolist())))
    assert {t: ours[t] for t in theirs} == pytest.approx(theirs)


def test_precision_recall_f1_and_subset_accuracy_match_scikit_learn():
    thresholds = [{"threshold": t, "chosen": True, "note": ""} for t in (0.5, 0.4, 0.6, 0.3)]
    found = multilabel.report(SCORES, TRUTH, list("abcd"), thresholds, list(range(40)))
    on = SCORES >= np.array([0.5, 0.4, 0.6, 0.3])
    for i, row in enumerate(found["per_label"]):
        assert row["precision"] == pytest.approx(precision_score(TRUTH[:, i], on[:, i], zero_division=0), abs=1e-6)
        assert row["recall"] == pytest.approx(recall_score(TRUTH[:, i], on[:, i]), abs=1e-6)
        assert row["f1"] == pytest.approx(f1_score(TRUTH[:, i], on[:, i]), abs=1e-6)
        assert row["support"] == TRUTH[:, i].sum()
    assert found["subset_accuracy"] == pytest.approx(accuracy_score(TRUTH, on), abs=1e-6)  # sklearn: subset accuracy


def test_the_loss_is_binary_cross_entropy_and_pos_weight_weighs_each_labels_positives():
    logits = torch.tensor(np.log(SCORES.clip(0.01, 0.99) / (1 - SCORES.clip(0.01, 0.99))), dtype=torch.float32)
    y = torch.tensor(TRUTH, dtype=torch.float32)
    task, train = tasks.for_name("multilabel"), TrainSpec()
    expected = np.mean([log_loss(TRUTH[:, i], SCORES[:, i].clip(0.01, 0.99), labels=[0, 1]) for i in range(4)])
    assert float(task.loss(logits, y, {}, train)) == pytest.approx(expected, rel=1e-4)
    weights = task.balance("weighted_loss", y, 4)["pos_weight"]
    assert weights.tolist() == pytest.approx(((40 - TRUTH.sum(0)) / TRUTH.sum(0)).tolist())
    p = SCORES.clip(0.01, 0.99)
    manual = -(weights.numpy() * TRUTH * np.log(p) + (1 - TRUTH) * np.log(1 - p)).mean()
    assert float(task.loss(logits, y, {"pos_weight": weights}, train)) == pytest.approx(manual, rel=1e-4)


def test_a_threshold_is_the_best_f1_on_validation_and_too_few_positives_keep_one_half():
    for i in range(4):
        chosen = multilabel.choose_threshold(SCORES[:, i], TRUTH[:, i])
        best = max(f1_score(TRUTH[:, i], SCORES[:, i] >= t) for t in np.unique(SCORES[:, i]))
        assert chosen["chosen"] and f1_score(TRUTH[:, i], SCORES[:, i] >= chosen["threshold"]) == pytest.approx(best)
    two = np.zeros(40, bool)
    two[:2] = True
    kept = multilabel.choose_threshold(SCORES[:, 0], two)
    assert kept == {"threshold": 0.5, "chosen": False, "note": "2 validation image(s) carry it, fewer than 3: kept 0.5"}
    three = two.copy()
    three[2] = True
    assert multilabel.choose_threshold(SCORES[:, 0], three)["chosen"]


def test_options_for_one_class_per_image_are_refused_by_name_for_a_multilabel_run():
    with pytest.raises(ConfigError, match="train.class_balance"):
        RunConfig(task="multilabel", train=TrainSpec(class_balance="balanced_sampler"))
    with pytest.raises(ConfigError, match="data.per_class_limit"):
        RunConfig(task="multilabel", data=DataSpec(per_class_limit=5))
    assert RunConfig.from_json(RunConfig(task="multilabel").to_json()).task == "multilabel"


def _shapes(root, n: int = 48, seed: int = 0):
    return corpus.red_and_blue_squares(root, n, seed)


def _probe(dataset: str) -> RunConfig:
    return RunConfig(task="multilabel", augment=AugmentSpec(preset="none"), data=DataSpec(dataset=dataset),
                     train=TrainSpec(head_epochs=6, head_lr=3e-3, batch_size=16))


def test_thresholds_come_from_validation_images_alone(tmp_path):
    assert cli("ingest", _shapes(tmp_path / "shapes"), "--name", "shapes", "--labels", "labels.csv").returncode == 0
    config = _probe("shapes")
    lists = splits.for_spec(config.data, task="multilabel")
    first = Trainer(config, splits=lists).fit()
    swapped = Trainer(config, splits=dataclasses.replace(lists, test=lists.test[:2] + lists.train[:9])).fit()
    fewer_val = Trainer(config, splits=dataclasses.replace(lists, val=lists.val[2:])).fit()

    def thresholds(summary):
        return [row["threshold"] for row in summary["evaluation"]["per_label"]]
    assert first["evaluation"]["images"] + 4 == swapped["evaluation"]["images"]  # another test list was judged
    assert thresholds(swapped) == thresholds(first)  # and no threshold moved
    assert thresholds(fewer_val) != thresholds(first)  # validation images do move them


def test_from_ingest_to_predict_on_the_command_line(tmp_path):
    assert cli("ingest", _shapes(tmp_path / "shapes"), "--name", "shapes", "--labels", "labels.csv").returncode == 0
    refused = cli("train", "--dataset", "shapes", "--epochs", "2", "--json")
    assert refused.returncode == 2 and "--task multilabel" in refused.stderr
    trained = cli("train", "--dataset", "shapes", "--task", "multilabel", "--scenario", "S1", "--epochs", "8", "--json")
    assert trained.returncode == 0, trained.stderr
    run = json.loads(trained.stdout)
    assert run["task"] == "multilabel" and "note" not in run and len(run["thresholds"]) == 2
    found = json.loads(cli("evaluate", "--run", run["run_id"], "--json").stdout)
    assert found["task"] == "multilabel" and found["map"] >= 0.8 and 0 <= found["subset_accuracy"] <= 1
    assert [set(row) >= {"label", "ap", "precision", "recall", "f1", "threshold", "support"}
            for row in found["per_label"]] == [True, True]
    assert found["map"] == run["map"]  # the model rebuilt from its files judges as the training did
    picture = tmp_path / "shapes" / "img0.png"  # red and blue
    predicted = json.loads(cli("predict", "--run", run["run_id"], picture, "--json").stdout)[0]
    assert predicted["image"] == str(picture) and "unknown" in predicted
    assert {x["label"] for x in predicted["labels"]} == {"red", "blue"}
    assert all(x["on"] == (x["probability"] >= x["threshold"]) for x in predicted["labels"])
    assert predicted["none"] == (not any(x["on"] for x in predicted["labels"]))
    _exported_and_reported(tmp_path, run, found)
    _one_class_tools_say_so(run["run_id"])


def _exported_and_reported(tmp_path, run: dict, found: dict) -> None:
    """ONNX gives each label's own probability (sigmoid) and carries the names and thresholds; the report and the
    model card carry the per-label table."""
    lists = queue.lists(run["run_id"])  # quick: the TorchScript-based exporter first (dynamo: 40 s more, same checks)
    exported = export.export(queue.run(run["run_id"]), "onnx", tmp_path / "m.onnx", lists, quick=True)
    assert exported["agreement_of"] == "labels on per image" and exported["agreement"] == 1.0
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(meta["labels"]) == ["blue", "red"] and meta["task"] == "multilabel"
    assert json.loads(meta["thresholds"]) == {t["label"]: pytest.approx(t["threshold"]) for t in run["thresholds"]}
    loaded = predict.load_run(run["run_id"])
    images, app = export.app_batch(loaded, lists.test)
    graph = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"image": images.numpy()})[0]
    assert np.allclose(graph, app.numpy(), atol=1e-4) and np.abs(graph.sum(-1) - 1).max() > 0.05  # not a softmax
    html = (tmp_path / "r.html")
    assert cli("report", "--run", run["run_id"], "--out", html).returncode == 0
    text = html.read_text()
    assert f'data-metric="map" data-value="{found["map"]}"' in text and text.count('data-metric="threshold"') == 2
    assert "Mistakes that come together" in text or "No image had one label missed" in text
    written = card.model_card(queue.run(run["run_id"]))
    assert "mean average precision" in written and "**red**: AP" in written and "calibration" not in written


def _one_class_tools_say_so(run_id: str) -> None:
    for args, tool in ((("export", "--run", run_id, "--format", "onnx", "--quantize", "int8", "--out", "q.onnx"),
                        "int8 deployment card"),
                       (("clean", "losses", "--run", run_id), "cleaner"),
                       (("embed", "--dataset", "shapes"), "feature map"),
                       (("remove-class", "shapes", "red"), "removing a class"),
                       (("sweep", "--over", "data-size", "--dataset", "shapes", "--task", "multilabel"), "learning-curve")):
        said = cli(*args)
        assert said.returncode == 2 and tool in said.stderr and "one class per image" in said.stderr.replace(
            "one-class-per-image", "one class per image"), (args, said.stderr)
    health = json.loads(cli("health", "shapes", "--json").stdout)
    assert health["no_label"] == 16 and health["co_occurrence"] == [{"labels": ["blue", "red"], "images": 8}]


def test_multilabel_on_one_class_per_image_data_is_allowed_and_says_so(tmp_path):
    for name, colour in (("red", [230, 20, 20]), ("blue", [20, 20, 230])):
        (tmp_path / "two" / name).mkdir(parents=True)
        for i in range(8):
            pixels = np.full((16, 16, 3), colour, np.uint8)
            pixels[i, i] = 0
            Image.fromarray(pixels).save(tmp_path / "two" / name / f"{i}.png")
    assert cli("ingest", tmp_path / "two", "--name", "two").returncode == 0
    trained = cli("train", "--dataset", "two", "--task", "multilabel", "--backbone", "mobilenet_v3_small",
                  "--no-pretrained", "--epochs", "1", "--json")
    assert trained.returncode == 0, trained.stderr
    assert "exactly one class" in json.loads(trained.stdout)["note"]

"""Exports agree with the app's own predictions; Grad-CAM points at the evidence."""
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from core.config import HeadSpec
from core.data import decode
from core.errors import UserError
from core.execute import slot as worker
from core.models.stages import Stage
from core.models.transfer import TransferModel, build_head
from core.runs import leases, queue as jobs, store
from core.serving import explain, export, predict
from tests import corpus
from tests.cli import cli
from tests.training import digits, probe
from tests.wording import raw_words


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[str, str]:
    """One trained probe and its data home for the module: each test reads it or adds an export to it (it was
    trained once per test: ten trainings)."""
    home = tmp_path_factory.mktemp("export-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRANSFERLAB_HOME", str(home))
        submitted = jobs.submit(probe(digits(per_class=10), epochs=4), "cli")
        worker.process(leases.claim_specific(submitted["job_id"]))
    return str(home), submitted["run_id"]


@pytest.fixture
def run_id(trained, monkeypatch) -> str:
    home, run = trained
    monkeypatch.setenv("TRANSFERLAB_HOME", home)
    return run


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "safetensors"])
def test_export_agrees_with_the_app(run_id, fmt, tmp_path):
    result = export.export(store.run_row(run_id), fmt, tmp_path / f"model.{fmt}", jobs.lists(run_id))
    assert result["agreement"] >= 0.99 and result["max_prob_diff"] < 1e-4
    assert (tmp_path / f"model.{fmt}").stat().st_size > 100_000


def test_cli_export_json(run_id, tmp_path):
    out = cli("export", "--run", run_id, "--format", "onnx", "--out", str(tmp_path / "m.onnx"), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {"path", "format", "agreement", "max_prob_diff"} <= set(result) and result["agreement"] >= 0.99
    assert store.artifacts(run_id)[-1]["kind"] == "onnx"  # the export is recorded with the run


def test_model_card_describes_the_run_in_words(run_id):
    card = export.model_card(store.run_row(run_id))
    for words in ("## Data", "efficientnet_lite0", "the whole backbone frozen", "a single linear layer",
                  "test accuracy", "95% interval", "## Limitations"):
        assert words in card
    assert re.search(r"training time: (\d+ min )?\d+ s on cpu|training time: under 1 s", card), card
    assert raw_words(card) == [], raw_words(card)  # no first_k, [], None or 0.863636


class Detector(nn.Module):
    """Positive filters and a global average pool: a bright patch is the only evidence there is."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        nn.init.constant_(self.conv.weight, 0.1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x)).mean(dim=(2, 3))


def test_grad_cam_lights_up_where_the_evidence_is():
    head = build_head(HeadSpec(), 4, 2)
    nn.init.constant_(head[-1].weight, 1.0)
    model = TransferModel(Detector(), 4, [Stage("stem", ("conv.weight",))], head)
    image = torch.zeros(1, 3, 32, 32)
    image[:, :, 4:12, 20:28] = 1.0  # the patch: top right
    heat, index = explain.grad_cam(model, image, class_index=0)
    assert index == 0 and heat.shape == (32, 32) and heat.max() == pytest.approx(1.0)
    assert heat[4:12, 20:28].mean() > 0.5 and heat[16:, :16].max() < 0.05


def test_grad_cam_without_a_feature_map_says_so():
    model = TransferModel(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)), 4,
                          [Stage("stem", ("1.weight", "1.bias"))], build_head(HeadSpec(), 4, 2))
    with pytest.raises(UserError, match="convolutional feature map"):
        explain.target_layer(model, 8)


def test_the_heat_summary_finds_the_patch():
    heat = np.zeros((32, 32), dtype=np.float32)
    heat[4:12, 20:28] = 1.0  # top right, 64 of 1024 pixels
    told = explain.summary(heat)
    assert 4 / 32 <= told["peak"]["row"] <= 12 / 32 and 20 / 32 <= told["peak"]["col"] <= 28 / 32
    assert told["hot_fraction"] == pytest.approx(64 / 1024)


@pytest.mark.parametrize("method", explain.METHODS)
def test_cli_explain_writes_each_map_and_describes_it(run_id, method, tmp_path):
    pictures = [tmp_path / "a" / "seven.png", tmp_path / "b" / "seven.png"]  # the same stem twice
    for i, picture in enumerate(pictures):
        picture.parent.mkdir()
        picture.write_bytes(corpus.png(7 + i, (64, 64)))
    out = cli("explain", "--run", run_id, *map(str, pictures), "--method", method, "--out", str(tmp_path / "maps"),
              "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["method"] for r in rows] == [method, method]
    for row in rows:
        assert {"image", "label", "class_index", "prob", "peak", "hot_fraction", "overlay"} <= set(row)
        assert 0 < row["prob"] <= 1 and 0 <= row["hot_fraction"] <= 1
        assert Image.open(row["overlay"]).size[0] > 0
    assert len({r["overlay"] for r in rows}) == 2  # two files, not one written twice


def test_cli_explain_a_chosen_class_and_bad_input(run_id, tmp_path):
    picture = tmp_path / "seven.png"
    picture.write_bytes(corpus.png(7, (64, 64)))
    out = cli("explain", "--run", run_id, str(picture), "--class", "nope", "--json")
    assert out.returncode == 2 and "'nope' is not one of this run's classes" in out.stderr
    listed = out.stderr.split("classes: ")[1].strip().split(", ")
    chosen = json.loads(cli("explain", "--run", run_id, str(picture), "--class", listed[-1], "--json").stdout)
    assert chosen[0]["label"] == listed[-1] and chosen[0]["class_index"] == len(listed) - 1
    (tmp_path / "notes.png").write_text("not a picture")
    out = cli("explain", "--run", run_id, str(tmp_path / "notes.png"), "--json")
    assert out.returncode == 2 and "notes.png" in out.stderr


def test_a_heat_map_runs_the_network_once_with_the_probability_of_its_class(run_id):
    """A map used to cost three passes through the trunk (one with a hook on every module to find the
    layer, the map's own, one more for the class's probability): seconds per click on the Predict page."""
    picture = decode(corpus.png(3, (64, 64)))
    trunk = predict.load_run(run_id).model.trunk
    passes = []
    hook = trunk.register_forward_hook(lambda *_: passes.append(1))
    try:
        predict.explain(run_id, picture, method="gradcam")  # the first also finds the target layer
        passes.clear()
        for method in ("gradcam++", "eigencam", "gradcam"):
            cam = predict.explain(run_id, picture, method=method)
    finally:
        hook.remove()
    assert len(passes) == 3  # one each
    assert cam["prob"] == pytest.approx(float(predict.probabilities(run_id, [picture])[0, cam["index"]]), abs=1e-5)

"""Exports agree with the app's own predictions; Grad-CAM points at the evidence."""
import json

import pytest
import torch
from torch import nn

from core import jobs
from core.jobs import leases, store, worker
from core.serving import explain, export
from core.errors import UserError
from core.models.transfer import TransferModel, build_head
from core.config import HeadSpec
from core.models.stages import Stage
from tests.test_cli import cli
from tests.training import digits, probe


@pytest.fixture
def run_id():
    submitted = jobs.submit(probe(digits(per_class=10), epochs=4), "cli")
    worker.process(leases.claim_specific(submitted["job_id"]))
    return submitted["run_id"]


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


def test_model_card_describes_the_run(run_id):
    card = export.model_card(store.run_row(run_id))
    for words in ("## Data", "efficientnet_lite0", "all_but_head", "test accuracy", "## Limitations"):
        assert words in card


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

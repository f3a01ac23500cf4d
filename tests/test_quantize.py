"""int8 ONNX for a CPU: a smaller file that says what the app says, for EfficientNet-Lite0 (its offline
ImageNet weights) and ResNet-18 (from random weights, offline there are no others, on two easy classes), measured
beside the fp32 graph; the figures are kept with the run, and `export --quantize int8 --json` keeps its
contract."""
import json

import numpy as np
import pytest
from PIL import Image

from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec
from core.data import intake
from core.data.uploads import Item
from core.execute import slot as worker
from core.runs import leases, queue as jobs, store
from core.serving import card, deployment, quantize
from tests import corpus
from tests.cli import cli
from tests.training import mnist, probe

CONTRACT = {"path", "format", "quantize", "size_mb", "fp32_size_mb", "latency_ms", "fp32_latency_ms", "agreement",
            "accuracy", "fp32_accuracy", "cpu"}

pytestmark = pytest.mark.slow


def trained(config: RunConfig) -> str:
    submitted = jobs.submit(config, "cli")
    worker.process(leases.claim_specific(submitted["job_id"]))
    return submitted["run_id"]


def test_lite0_int8_through_the_cli_is_smaller_and_agrees(tmp_path):
    run_id = trained(probe(mnist(per_class=12), epochs=12))
    out = cli("export", "--run", run_id, "--format", "onnx", "--quantize", "int8", "--out", str(tmp_path / "m.onnx"),
              "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert CONTRACT <= set(result) and (result["format"], result["quantize"]) == ("onnx", "int8")
    assert result["agreement"] >= 0.95, result  # with the app's own (PyTorch) predictions on the test list
    assert result["size_mb"] < result["fp32_size_mb"] / 2 and (tmp_path / "m.onnx").stat().st_size < 6 * 2 ** 20
    assert 0 < result["latency_ms"] and 0 < result["fp32_latency_ms"] and result["cpu"]
    assert result["images"] == len(jobs.lists(run_id).test) and result["split"] == "test"
    assert deployment.measured(run_id)["agreement"] == result["agreement"]  # kept with the run
    assert store.artifacts(run_id)[-1]["kind"] == "onnx-int8"
    assert "## Deployment" in card.model_card(store.run_row(run_id))


def dark_and_bright(per_class: int = 16) -> str:
    """Two classes a network learns from random weights in two epochs (test accuracy 100%, measured): a model
    with real margins, so agreement measures the int8 graph rather than coin flips of an untrained one."""
    rng = np.random.default_rng(0)
    items = [Item(f"{name}/{i}.png", name, corpus.encode(Image.fromarray(
        rng.integers(low, low + 90, (32, 32, 3), dtype=np.uint8)), "PNG"))
        for name, low in (("dark", 0), ("bright", 160)) for i in range(per_class)]
    intake.ingest("light", items, owner="cli")
    return "light"


def test_resnet18_int8_is_smaller_and_agrees(tmp_path):
    config = RunConfig(backbone="resnet18", weights="none", augment=AugmentSpec(preset="none"),
                       freeze=FreezePlan(mode="none"), data=DataSpec(dataset=dark_and_bright(), test_fraction=0.4),
                       train=TrainSpec(head_epochs=0, finetune_epochs=2, finetune_lr=1e-3, batch_size=8))
    run_id = trained(config)
    result = quantize.quantize(store.run_row(run_id), tmp_path / "r.onnx", jobs.lists(run_id))
    assert result["images"] >= 10 and result["fp32_accuracy"] == 1.0, result  # a model that learned its classes
    assert result["agreement"] >= 0.95, result
    assert result["size_mb"] < result["fp32_size_mb"] / 3  # 42.7 MB of fp32 weights → about 11 MB


def test_quantize_needs_onnx():
    out = cli("export", "--run", "0123456789ab", "--format", "torchscript", "--quantize", "int8", "--out", "/tmp/x.pt")
    assert out.returncode == 2 and "--quantize int8 needs --format onnx" in out.stderr

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
            "accuracy", "fp32_accuracy", "cpu", "images", "recommended"}

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def two_threads():
    """PyTorch's answers (the reference the int8 graph is judged against) on 2 threads on any machine: a
    near-tie can fall either way with another thread count. onnxruntime's judging threads are fixed in
    `quantize.JUDGE_THREADS`; the training images' augmented views come from a seeded generator."""
    import torch

    before = torch.get_num_threads()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def trained(config: RunConfig) -> str:
    submitted = jobs.submit(config, "cli")
    worker.process(leases.claim_specific(submitted["job_id"]))
    return submitted["run_id"]


def test_lite0_int8_through_the_cli_is_smaller_and_judged_on_200_images(tmp_path):
    """Issue 29: judged on 20 test images, the same test agreed 0.80 in one clone and 1.0 in another. Now on at
    least 200 (validation + test + augmented training views); offered only at 98 % agreement or more."""
    run_id = trained(probe(mnist(per_class=12), epochs=12))
    out = cli("export", "--run", run_id, "--format", "onnx", "--quantize", "int8", "--out", str(tmp_path / "m.onnx"),
              "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert CONTRACT <= set(result) and (result["format"], result["quantize"]) == ("onnx", "int8")
    lists = jobs.lists(run_id)
    counts = result["judged_on"]
    assert (counts["validation"], counts["test"]) == (len(lists.val), len(lists.test)), counts
    assert result["images"] == sum(counts.values()) >= 200 and counts["augmented training views"] > 0
    assert result["recommended"] == (result["agreement"] >= 0.98), result  # the card offers only such a graph
    assert result["changed"] == round((1 - result["agreement"]) * result["images"]), result
    assert result["agreement"] > 0.5, result  # a working graph (its quality is the card's to say, not the test's)
    assert result["size_mb"] < result["fp32_size_mb"] / 2 and (tmp_path / "m.onnx").stat().st_size < 6 * 2 ** 20
    assert 0 < result["latency_ms"] and 0 < result["fp32_latency_ms"] and result["cpu"]
    assert result["accuracy_images"] == len(lists.test) and result["split"] == "test"
    assert deployment.measured(run_id)["agreement"] == result["agreement"]  # kept with the run
    assert store.artifacts(run_id)[-1]["kind"] == "onnx-int8"
    said = card.model_card(store.run_row(run_id))
    assert "## Deployment" in said and f"of {result['images']} images" in said
    assert ("keep fp32" in said) != result["recommended"]


def test_the_card_says_keep_fp32_below_98_percent_agreement_and_offers_int8_at_it():
    measured = {"size_mb": 3.8, "fp32_size_mb": 13.1, "latency_ms": 13.0, "fp32_latency_ms": 25.3, "runs": 30,
                "cpu": "a CPU", "threads": 2, "accuracy": 0.83, "fp32_accuracy": 0.83, "split": "test",
                "accuracy_images": 30, "images": 250, "judged_on": {"validation": 30, "test": 30,
                                                                     "augmented training views": 190}}
    below = card.deployment_lines({**measured, "agreement": 0.972, "changed": 7, "recommended": False})
    assert below[0] == "**int8 changes 7 of 250 answers: keep fp32**"
    at = card.deployment_lines({**measured, "agreement": 0.98, "changed": 5, "recommended": True})
    assert not any("keep fp32" in line for line in at)
    assert "98% of 250 images (30 validation, 30 test, 190 augmented views of training images)" in at[2]
    older = {**measured, "agreement": 0.9, "images": 30}  # figures kept before `recommended`: the same rule
    del older["judged_on"]
    assert card.deployment_lines(older)[0] == "**int8 changes 3 of 30 answers: keep fp32**"


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
    heard = []
    result = quantize.quantize(store.run_row(run_id), tmp_path / "r.onnx", jobs.lists(run_id),
                               said=lambda text, fraction: heard.append((text, fraction)))
    assert result["images"] >= 200 and result["fp32_accuracy"] == 1.0, result  # a model that learned its classes
    # each step said as it starts, the bar only forward (the Export page's progress: issue 34)
    steps = [text.split(" ")[0] for text, _ in heard]
    assert steps[:3] == ["Choosing", "Exporting", "Quantizing:"] and steps[-2:] == ["Timing", "Done."], heard
    assert [f for _, f in heard] == sorted(f for _, f in heard) and heard[-1][1] == 1.0, heard
    assert result["agreement"] >= 0.98 and result["recommended"], result
    assert result["size_mb"] < result["fp32_size_mb"] / 3  # 42.7 MB of fp32 weights → about 11 MB


def test_quantize_needs_onnx():
    out = cli("export", "--run", "0123456789ab", "--format", "torchscript", "--quantize", "int8", "--out", "/tmp/x.pt")
    assert out.returncode == 2 and "--quantize int8 needs --format onnx" in out.stderr


def _tries(candidates: list[int], reaching: set[int]) -> list[int]:
    order, tried = quantize.search_order(candidates), []
    kept = next(order)
    while kept is not None:
        tried.append(kept)
        kept = order.send(kept in reaching)
    return tried


def test_the_search_stops_after_two_tries_when_even_the_most_fp32_layers_fall_short():
    """All-int8, then the most layers kept fp32; the ones between only when that one reaches the target, from the
    fewest, stopping at the first that reaches it (so the kept graph is still the one with the fewest fp32 layers)."""
    assert _tries([0, 8, 16, 24], reaching=set()) == [0, 24]
    assert _tries([0, 8, 16, 24], reaching={0, 8, 16, 24}) == [0]
    assert _tries([0, 8, 16, 24], reaching={16, 24}) == [0, 24, 8, 16]
    assert _tries([0, 8, 16, 24], reaching={8, 16, 24}) == [0, 24, 8]
    assert _tries([0, 8, 16, 24], reaching={24}) == [0, 24, 8, 16]
    assert _tries([0], reaching=set()) == [0] and _tries([0, 8], reaching={8}) == [0, 8] and _tries([], set()) == []
